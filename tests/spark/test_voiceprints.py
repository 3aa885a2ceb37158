"""Voiceprint matching with controlled embeddings: threshold, one-to-one, unknown voices."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from custom_components.spark_audio.spark.models import SpeakerSegment, SpeakerTranscript
from custom_components.spark_audio.spark.transcripts.formats import (
    speaker_json,
    speaker_srt,
    speaker_vtt,
)
from custom_components.spark_audio.spark.transcripts.voiceprints import (
    DEFAULT_THRESHOLD,
    Voiceprint,
    assign_speakers,
    cosine,
    name_speakers,
    normalise,
)

ANNA = (1.0, 0.0, 0.0, 0.0)
BEN = (0.0, 1.0, 0.0, 0.0)
CARLA = (0.0, 0.0, 1.0, 0.0)
STRANGER = (0.0, 0.0, 0.0, 1.0)


def near(vector: tuple[float, ...], wobble: float, axis: int) -> tuple[float, ...]:
    """``vector`` tilted a little towards ``axis`` (cosine stays high)."""
    tilted = list(vector)
    tilted[axis] += wobble
    return tuple(tilted)


def test_normalise_and_cosine() -> None:
    assert normalise((3.0, 4.0)) == pytest.approx((0.6, 0.8))
    assert cosine((2.0, 0.0), (5.0, 0.0)) == pytest.approx(1.0)
    assert cosine(ANNA, BEN) == pytest.approx(0.0)
    assert cosine((1.0, 1.0), (1.0, 0.0)) == pytest.approx(math.sqrt(0.5))
    for bad in ((), (0.0, 0.0), (math.nan, 1.0), (math.inf, 0.0)):
        with pytest.raises(ValueError):
            normalise(bad)
    with pytest.raises(ValueError, match="length"):
        cosine((1.0, 0.0), (1.0, 0.0, 0.0))


def test_voiceprint_is_the_running_mean_of_normalised_samples() -> None:
    """Each sample counts once, whatever its scale; the count and speech seconds add up."""
    print_ = Voiceprint.first((10.0, 0.0), seconds=4.0).add((0.0, 0.5), seconds=3.5)
    assert print_.samples == 2
    assert print_.seconds == pytest.approx(7.5)
    assert print_.mean == pytest.approx((0.5, 0.5))
    third = print_.add((1.0, 0.0))
    assert third.mean == pytest.approx((2 / 3, 1 / 3))
    with pytest.raises(ValueError, match="dimensions"):
        third.add((1.0, 0.0, 0.0))


def test_voiceprint_improves_as_samples_are_added() -> None:
    """Noisy samples around a true voice: more samples, closer to it."""
    rng = random.Random(7)
    truth = normalise([rng.gauss(0, 1) for _ in range(64)])

    def sample() -> list[float]:
        return [t + rng.gauss(0, 0.05) for t in truth]

    print_ = Voiceprint.first(sample())
    one = print_.similarity(truth)
    for _ in range(19):
        print_ = print_.add(sample())
    assert print_.samples == 20
    assert print_.similarity(truth) > one
    assert print_.similarity(truth) > 0.98


def test_voiceprint_round_trips_its_stored_form() -> None:
    print_ = Voiceprint.first(ANNA, 12.5).add(near(ANNA, 0.2, 1), 3.0)
    assert Voiceprint.from_dict(print_.as_dict()) == print_
    for damaged in ({"mean": [], "samples": 1}, {"mean": [1.0], "samples": 0}, {"samples": 1}):
        with pytest.raises((ValueError, KeyError)):
            Voiceprint.from_dict(damaged)


def test_matches_each_speaker_to_its_person() -> None:
    prints = {"person.anna": Voiceprint.first(ANNA), "person.ben": Voiceprint.first(BEN)}
    found = assign_speakers(
        {"SPEAKER_00": near(BEN, 0.3, 2), "SPEAKER_01": near(ANNA, 0.2, 3)}, prints
    )
    assert {label: m.person for label, m in found.items()} == {
        "SPEAKER_00": "person.ben",
        "SPEAKER_01": "person.anna",
    }
    assert found["SPEAKER_01"].score == pytest.approx(cosine(ANNA, near(ANNA, 0.2, 3)))


def test_two_clusters_cannot_both_be_anna() -> None:
    """Both clusters resemble Anna; the closer one is Anna, the other stays unknown."""
    prints = {"person.anna": Voiceprint.first(ANNA)}
    found = assign_speakers(
        {"SPEAKER_00": near(ANNA, 0.3, 1), "SPEAKER_01": near(ANNA, 0.1, 2)}, prints
    )
    assert list(found) == ["SPEAKER_01"]
    assert found["SPEAKER_01"].person == "person.anna"


def test_assignment_maximises_the_total_not_the_first_best_pair() -> None:
    """Greedy would give S0 to Anna (0.70) and leave S1 unknown; the best total names both."""
    prints = {"person.anna": Voiceprint.first(ANNA), "person.ben": Voiceprint.first(BEN)}
    s0 = (0.7, 0.65, math.sqrt(1 - 0.7**2 - 0.65**2), 0.0)  # Anna .70, Ben .65
    s1 = (0.69, 0.0, 0.0, math.sqrt(1 - 0.69**2))  # Anna .69, Ben 0
    found = assign_speakers({"S0": s0, "S1": s1}, prints, threshold=0.5)
    assert {label: m.person for label, m in found.items()} == {
        "S0": "person.ben",
        "S1": "person.anna",
    }


def test_unknown_voices_stay_unnamed() -> None:
    prints = {"person.anna": Voiceprint.first(ANNA), "person.ben": Voiceprint.first(BEN)}
    assert assign_speakers({"SPEAKER_00": STRANGER}, prints) == {}
    # Just under the threshold is still unknown; at it, named.
    below = normalise((DEFAULT_THRESHOLD - 0.01, math.sqrt(1 - (DEFAULT_THRESHOLD - 0.01) ** 2)))
    at = normalise((DEFAULT_THRESHOLD + 1e-9, math.sqrt(1 - (DEFAULT_THRESHOLD + 1e-9) ** 2)))
    two = {"person.anna": Voiceprint.first((1.0, 0.0))}
    assert assign_speakers({"S": below}, two) == {}
    assert assign_speakers({"S": at}, two)["S"].person == "person.anna"
    assert assign_speakers({"S": ANNA}, {}) == {}
    assert assign_speakers({}, prints) == {}


def test_wrong_dimension_never_matches() -> None:
    """A voiceprint from another embedding model (other length) is ignored, not an error."""
    prints = {"person.anna": Voiceprint.first((1.0, 0.0, 0.0))}
    assert assign_speakers({"S": ANNA}, prints) == {}


def test_exact_search_agrees_with_brute_force() -> None:
    """Random cases against every injective assignment (the definition of 'best total')."""
    rng = random.Random(3)
    for _ in range(60):
        dim = 6
        labels = [f"S{i}" for i in range(rng.randint(1, 5))]
        persons = [f"person.p{i}" for i in range(rng.randint(1, 5))]
        speakers = {label: [rng.gauss(0, 1) for _ in range(dim)] for label in labels}
        prints = {p: Voiceprint.first([rng.gauss(0, 1) for _ in range(dim)]) for p in persons}
        found = assign_speakers(speakers, prints, threshold=0.1)
        assert len({m.person for m in found.values()}) == len(found)
        assert all(m.score >= 0.1 for m in found.values())
        best = 0.0
        for k in range(min(len(labels), len(persons)) + 1):
            for chosen in itertools.combinations(labels, k):
                for people in itertools.permutations(persons, k):
                    scores = [
                        prints[p].similarity(speakers[s])
                        for s, p in zip(chosen, people, strict=True)
                    ]
                    if all(score >= 0.1 for score in scores):
                        best = max(best, sum(scores))
        assert sum(m.score for m in found.values()) == pytest.approx(best)


def test_many_speakers_and_persons_fall_back_to_greedy_one_to_one() -> None:
    """Past the exact search's size every person is still used at most once."""
    labels = {f"S{i:02d}": [1.0 if j == i % 4 else 0.01 for j in range(4)] for i in range(14)}
    prints = {f"person.p{i:02d}": Voiceprint.first(ANNA if i < 7 else BEN) for i in range(14)}
    found = assign_speakers(labels, prints)
    assert len({m.person for m in found.values()}) == len(found)
    assert len(found) == 8  # S00, S04, S08, S12 resemble Anna; S01, S05, S09, S13 Ben
    assert {m.person for m in found.values()} <= set(prints)


def test_name_speakers_relabels_matched_ones_and_drops_embeddings() -> None:
    transcript = SpeakerTranscript(
        duration=3.0,
        language="en",
        speakers_detected=("SPEAKER_00", "SPEAKER_01"),
        segments=(
            SpeakerSegment(0, 1000, "SPEAKER_00", "hello"),
            SpeakerSegment(1000, 2000, "SPEAKER_01", "hi"),
            SpeakerSegment(2000, 3000, "SPEAKER_00", "bye"),
        ),
        speaker_embeddings={"SPEAKER_00": ANNA, "SPEAKER_01": STRANGER},
    )
    named = name_speakers(transcript, {"SPEAKER_00": ("Anna", "person.anna")})
    assert named.speakers_detected == ("Anna", "SPEAKER_01")
    assert [(s.speaker, s.person) for s in named.segments] == [
        ("Anna", "person.anna"),
        ("SPEAKER_01", None),
        ("Anna", "person.anna"),
    ]
    assert named.speaker_embeddings == {}
    assert speaker_json(named)["segments"][0]["person"] == "person.anna"
    assert "person" not in speaker_json(named)["segments"][1]
    assert speaker_srt(named.segments).startswith("1\n00:00:00,000 --> 00:00:01,000\n[Anna] hello")
    assert "<v Anna>hello" in speaker_vtt(named.segments)
