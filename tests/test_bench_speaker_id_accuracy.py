"""The quality benchmark's protocol is honest: held-out clips only, unknowns never enrolled.

Controlled embeddings stand in for Resemblyzer's (which runs only in the
benchmark's own venv), so what is checked is the bookkeeping, not a model.
"""

from __future__ import annotations

import random

from benchmarks.bench_speaker_id_accuracy import UNKNOWN_GROUP, Tally, folds, score, sweep
from custom_components.spark_audio.spark.transcripts.voiceprints import Voiceprint

DIM = 16


def axis(index: int) -> list[float]:
    return [1.0 if i == index else 0.0 for i in range(DIM)]


def voices(count: int, clips: int, noise: float) -> dict[str, list[list[float]]]:
    """`count` voices on their own axes, each clip that axis plus seeded noise."""
    rng = random.Random(7)
    return {
        f"v{v:02d}": [[x + rng.gauss(0.0, noise) for x in axis(v)] for _ in range(clips)]
        for v in range(count)
    }


def test_unknown_voices_are_never_enrolled_and_enrolment_clips_never_tested() -> None:
    data = voices(6, 5, 0.05)
    rotations = folds(data, enrol=2)
    assert len(rotations) == 6 // UNKNOWN_GROUP
    unknown_per_rotation = [set(data) - set(r.prints) for r in rotations]
    assert all(len(group) == UNKNOWN_GROUP for group in unknown_per_rotation)
    assert set().union(*unknown_per_rotation) == set(data)  # every voice unknown once
    for rotation, unknown in zip(rotations, unknown_per_rotation, strict=True):
        for voice, vp in rotation.prints.items():
            expected = Voiceprint.first(data[voice][0]).add(data[voice][1])
            assert vp == expected
        tested = {(voice, tuple(e)) for trial in rotation.singles for voice, e in trial.values()}
        for voice, clips in data.items():
            held = clips if voice in unknown else clips[2:]
            assert {tuple(e) for v, e in tested if v == voice} == {tuple(c) for c in held}
        assert all(len(trial) == 2 for trial in rotation.pairs)


def test_outcomes_are_counted_per_speaker() -> None:
    prints = {"anna": Voiceprint.first(axis(0)), "ben": Voiceprint.first(axis(1))}
    tally = Tally()
    score({"A": ("anna", axis(0)), "B": ("carl", axis(1))}, prints, 0.6, tally)
    score({"A": ("ben", axis(2))}, prints, 0.6, tally)
    score({"A": ("carl", axis(3))}, prints, 0.6, tally)
    assert (tally.correct, tally.wrong, tally.missed) == (1, 0, 1)
    assert (tally.accepted_unknown, tally.rejected_unknown) == (1, 1)
    assert tally.false_accept == 0.5
    assert tally.false_reject == 0.5


def test_separable_voices_reach_full_accuracy_without_false_accepts() -> None:
    rotations = folds(voices(6, 5, 0.05), enrol=2)
    tallies = sweep(rotations, pairs=False)
    assert tallies[0.8].accuracy == 1.0
    assert tallies[0.8].false_accept == 0.0
    assert tallies[0.3].accuracy == 1.0
    assert tallies[0.3].false_accept == 0.0  # orthogonal unknowns never pass
