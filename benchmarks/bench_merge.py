"""Word<->speaker merge on a 3-hour transcript: the WhisperX container's and the integration's.

There is one merge (``whisperx_container/app/speaker_merge.py``, O((W + T) log T)):
the container's speakers endpoint runs it through ``app/merge.py`` (after
relabelling the turns) and the integration through
``spark.transcripts.speaker_merge``. The baseline in the same run is the
predecessor's rules transcribed plainly (the tests' reference, the O(W x T)
scan the container ran before: every turn tried for every word, first for one
holding the word's midpoint, then for the one overlapping it most). All three
run on the same seeded transcript (by default one word per 0.3 s and one turn
per 3 s over 3 hours, 4 speakers, with cross-talk, pauses and words outside
every turn) and must give identical blocks; the merges are timed best of 5,
the scan once. Target: < 100 ms for a 3-hour transcript.

Run: .venv/bin/python -m benchmarks.bench_merge [--words 36000] [--turns 3600] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence

from custom_components.spark_audio.spark.models import DiarizationSegment, SpeakerSegment, Word
from custom_components.spark_audio.spark.transcripts.speaker_merge import merge_words_with_speakers
from custom_components.spark_audio.whisperx_container.app.engine import Turn
from custom_components.spark_audio.whisperx_container.app.engine import Word as ContainerWord
from custom_components.spark_audio.whisperx_container.app.merge import (
    normalise_speakers,
    speaker_blocks,
)
from tests.spark.test_diarization import reference_merge

HOURS = 3.0
TARGET_MS = 100.0


def transcript(words: int, turns: int, seed: int) -> tuple[list[Word], list[DiarizationSegment]]:
    """Seeded words and turns spread evenly over three hours, like a long meeting."""
    rng = random.Random(seed)
    total = HOURS * 3600
    turn_slot = total / turns
    segments: list[DiarizationSegment] = []
    for i in range(turns):
        start = i * turn_slot + rng.uniform(0.0, 0.1 * turn_slot)
        # Mostly a pause before the next turn; sometimes cross-talk into it.
        end = (i + 1) * turn_slot + rng.choice([-0.15, -0.05, 0.0, 0.2]) * turn_slot
        segments.append(
            DiarizationSegment(round(start, 2), round(end, 2), f"Speaker_{rng.randrange(4)}")
        )
    word_slot = total / words
    result: list[Word] = []
    for i in range(words):
        start = i * word_slot + rng.uniform(0.0, 0.2 * word_slot)
        end = start + rng.uniform(0.3, 0.8) * word_slot
        text = rng.choice(["the", " meeting", "we", "agreed", ",", "next", " week", ".", "ok"])
        result.append(Word(round(start, 3), round(end, 3), text))
    return result, segments


def as_container(
    words: Sequence[Word], turns: Sequence[DiarizationSegment]
) -> tuple[list[ContainerWord], list[Turn]]:
    """The same transcript in the container app's types."""
    return (
        [ContainerWord(w.start, w.end, w.text) for w in words],
        [Turn(t.start_s, t.end_s, t.speaker) for t in turns],
    )


def container_merge(words: Sequence[ContainerWord], turns: Sequence[Turn]) -> list[SpeakerSegment]:
    """What the WhisperX container's speakers endpoint runs (app/routes.py), as blocks."""
    blocks = speaker_blocks(words, normalise_speakers(turns))
    return [SpeakerSegment(b["start_ms"], b["end_ms"], b["speaker"], b["text"]) for b in blocks]


def timed(run: Callable[[], list[SpeakerSegment]], runs: int) -> tuple[float, list[SpeakerSegment]]:
    """Best of ``runs`` in ms, and the result."""
    best = float("inf")
    result: list[SpeakerSegment] = []
    for _ in range(runs):
        begin = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - begin)
    return best * 1000, result


def main(word_count: int, turn_count: int, seed: int, runs: int, scan_runs: int) -> None:
    words, turns = transcript(word_count, turn_count, seed)
    c_words, c_turns = as_container(words, turns)
    # The container relabels speakers by first appearance; the others get the same labels,
    # so the outputs can be compared block for block.
    labelled = [DiarizationSegment(t.start, t.end, t.speaker) for t in normalise_speakers(c_turns)]
    container_ms, container = timed(lambda: container_merge(c_words, c_turns), runs)
    spark_ms, spark = timed(lambda: merge_words_with_speakers(words, labelled), runs)
    scan_ms, scan = timed(lambda: reference_merge(words, labelled), scan_runs)
    if not scan == container == spark:
        raise SystemExit(
            "FAIL: the container's, the integration's and the reference's blocks differ"
        )
    unknown = sum(block.speaker == "Speaker_unknown" for block in spark)
    seconds = HOURS * 3600
    print(
        f"transcript: {HOURS:.0f} h, {len(words)} words (one per {seconds / len(words):.2f} s), "
        f"{len(turns)} turns (one per {seconds / len(turns):.1f} s), "
        f"{len({t.speaker for t in turns})} speakers -> {len(spark)} blocks "
        f"({unknown} Speaker_unknown); outputs identical"
    )
    rows = [
        (f"baseline: the predecessor's O(W x T) scan (best of {scan_runs})", f"{scan_ms:.1f} ms"),
        (
            f"WhisperX container, app/merge.py speaker_blocks (best of {runs})",
            f"{container_ms:.1f} ms",
        ),
        (f"integration, merge_words_with_speakers (best of {runs})", f"{spark_ms:.1f} ms"),
        ("scan / container", f"{scan_ms / container_ms:.1f} x"),
    ]
    for name, ms in (("container", container_ms), ("integration", spark_ms)):
        rows.append((f"target < {TARGET_MS:.0f} ms, {name}", "met" if ms < TARGET_MS else "MISSED"))
    for label, value in rows:
        print(f"{label:<62} {value:>10}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=36_000, help="36,000: one per 0.3 s")
    parser.add_argument("--turns", type=int, default=3_600, help="3,600: one per 3 s")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scan-runs", type=int, default=1, help="it takes seconds")
    args = parser.parse_args()
    main(args.words, args.turns, args.seed, args.runs, args.scan_runs)
