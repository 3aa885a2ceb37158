"""Kept samples and leave-one-out on controlled embeddings: the figures follow from the vectors."""

from __future__ import annotations

import pytest

from custom_components.spark_audio.spark.transcripts.voiceprints import (
    MAX_KEPT_SAMPLES,
    Voiceprint,
    leave_one_out,
    normalise,
)

ANNA = (1.0, 0.0, 0.0, 0.0)
BEN = (0.0, 1.0, 0.0, 0.0)
CARLA = (0.0, 0.0, 1.0, 0.0)


def enrolled(*samples: tuple[float, ...]) -> Voiceprint:
    voiceprint = Voiceprint.first(samples[0], 3.0)
    for sample in samples[1:]:
        voiceprint = voiceprint.add(sample, 3.0)
    return voiceprint


def wobble(vector: tuple[float, ...], axis: int, amount: float) -> tuple[float, ...]:
    tilted = list(vector)
    tilted[axis] += amount
    return tuple(tilted)


def test_keeps_the_newest_samples_up_to_the_bound() -> None:
    samples = [wobble(ANNA, 1 + i % 3, 0.01 * i) for i in range(MAX_KEPT_SAMPLES + 5)]
    voiceprint = enrolled(*samples)
    assert voiceprint.samples == MAX_KEPT_SAMPLES + 5
    assert len(voiceprint.kept) == MAX_KEPT_SAMPLES
    assert voiceprint.kept == tuple(normalise(s) for s in samples[5:])


def test_without_a_sample_is_the_voiceprint_never_given_it() -> None:
    samples = [wobble(ANNA, 1, 0.3), wobble(ANNA, 2, 0.5), wobble(BEN, 0, 0.2)]
    voiceprint = enrolled(*samples)
    rest = voiceprint.without(1)
    assert rest is not None
    expected = enrolled(samples[0], samples[2])
    assert rest.mean == pytest.approx(expected.mean)
    assert (rest.samples, rest.kept) == (2, expected.kept)
    assert Voiceprint.first(ANNA).without(0) is None


def test_stored_form_keeps_samples_and_old_voiceprints_still_load() -> None:
    voiceprint = enrolled(ANNA, wobble(ANNA, 1, 0.2))
    again = Voiceprint.from_dict(voiceprint.as_dict())
    assert len(again.kept) == 2
    for read, kept in zip(again.kept, voiceprint.kept, strict=True):
        assert read == pytest.approx(kept)
    assert again.samples == 2
    # Stored before samples were kept: the mean alone.
    old = Voiceprint.from_dict({"mean": [1.0, 0.0, 0.0, 0.0], "samples": 3, "seconds": 12.0})
    assert (old.samples, old.kept) == (3, ())
    # Damaged kept samples are dropped, the voiceprint stays.
    for bad in ([[1.0, 0.0]], [["x", 0.0, 0.0, 0.0]], [[0.0] * 4], [[1.0] * 4] * 4, 7):
        damaged = {"mean": [1.0, 0.0, 0.0, 0.0], "samples": 3, "kept": bad}
        assert Voiceprint.from_dict(damaged).kept == ()


def test_distinct_voices_are_all_identified_and_no_stranger_is_accepted() -> None:
    prints = {
        "person.anna": enrolled(ANNA, wobble(ANNA, 1, 0.2), wobble(ANNA, 2, 0.2)),
        "person.ben": enrolled(BEN, wobble(BEN, 0, 0.2), wobble(BEN, 3, 0.2)),
        "person.carla": enrolled(CARLA, wobble(CARLA, 3, 0.3)),
    }
    result = leave_one_out(prints)
    total = result.total
    assert (total.samples, total.enrolled_trials, total.identified) == (8, 8, 8)
    assert (total.unknown_trials, total.false_accepts) == (8, 0)
    assert (total.accuracy, total.false_accept_rate) == (1.0, 0.0)
    assert result.persons["person.carla"].samples == 2


def test_a_sample_of_the_wrong_voice_is_counted_as_misidentified_and_falsely_accepted() -> None:
    """Ben's third sample is really Anna's (somebody else spoke during his enrolment).

    Held out, it is closer to Anna than to Ben's other two samples: a wrong name
    in its enrolled-voice trial and a false accept in its stranger trial. Ben's
    own samples, held out, still meet Ben's mean of (Ben, Anna-ish) at cos 0.71.
    """
    prints = {
        "person.anna": enrolled(ANNA, wobble(ANNA, 2, 0.1)),
        "person.ben": enrolled(BEN, wobble(BEN, 2, 0.1), wobble(ANNA, 3, 0.1)),
    }
    result = leave_one_out(prints, threshold=0.6)
    ben = result.persons["person.ben"]
    assert (ben.samples, ben.identified, ben.misidentified, ben.missed) == (3, 2, 1, 0)
    assert (ben.unknown_trials, ben.false_accepts) == (3, 1)
    anna = result.persons["person.anna"]
    assert (anna.identified, anna.misidentified, anna.missed, anna.false_accepts) == (2, 0, 0, 0)
    assert result.total.accuracy == pytest.approx(4 / 5)
    assert result.total.false_accept_rate == pytest.approx(1 / 5)


def test_a_higher_threshold_misses_instead() -> None:
    """The same household at 0.8: Ben's genuine samples (cos 0.71 to his rest) go unknown."""
    prints = {
        "person.anna": enrolled(ANNA, wobble(ANNA, 2, 0.1)),
        "person.ben": enrolled(BEN, wobble(BEN, 2, 0.1), wobble(ANNA, 3, 0.1)),
    }
    ben = leave_one_out(prints, threshold=0.8).persons["person.ben"]
    assert (ben.identified, ben.misidentified, ben.missed) == (0, 1, 2)


def test_single_samples_and_lone_persons_give_no_trial_of_that_kind() -> None:
    """One sample: nothing to match it against of its own; one person: no stranger trial."""
    alone = leave_one_out({"person.anna": enrolled(ANNA, wobble(ANNA, 1, 0.2))}).total
    assert (alone.enrolled_trials, alone.unknown_trials) == (2, 0)
    assert alone.false_accept_rate is None
    single = leave_one_out(
        {"person.anna": Voiceprint.first(ANNA), "person.ben": Voiceprint.first(BEN)}
    ).total
    assert (single.samples, single.enrolled_trials, single.unknown_trials) == (2, 0, 2)
    assert single.accuracy is None
    old = Voiceprint((1.0, 0.0, 0.0, 0.0), 4, 12.0)  # stored before samples were kept
    assert leave_one_out({"person.anna": old}).persons["person.anna"].samples == 0
