"""Word↔speaker merge on a 3-hour transcript: O((W + T) log T) vs the predecessor's O(W x T).

The predecessor scanned every diarization turn for every word (first for a turn
holding the word's midpoint, then for the one overlapping it most), which is
fine for a voice command and slow for a recorded meeting. The merge in
``spark.diarization`` answers the same questions with sorted turns and bisection.
Here both run on the same seeded transcript (40,000 words, 5,000 Sortformer-like
turns over 3 hours, with cross-talk, pauses and words outside every turn) and
must give identical blocks; the new merge is timed best of 5, the baseline once.

Run: .venv/bin/python -m benchmarks.bench_merge [--words 40000] [--turns 5000] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence

from custom_components.spark_audio.spark.diarization import merge_words_with_speakers
from custom_components.spark_audio.spark.models import DiarizationSegment, SpeakerSegment, Word

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


def baseline_merge(
    words: Sequence[Word], turns: Sequence[DiarizationSegment]
) -> list[SpeakerSegment]:
    """The predecessor's rules, straightforwardly: every word scans every turn."""

    def speaker_of(start: float, end: float) -> str:
        mid = (start + end) / 2.0
        for turn in turns:
            if turn.start_s <= mid <= turn.end_s:
                return turn.speaker
        best, best_overlap = "Speaker_unknown", 0.0
        for turn in turns:
            overlap = max(0.0, min(end, turn.end_s) - max(start, turn.start_s))
            if overlap > best_overlap:
                best, best_overlap = turn.speaker, overlap
        return best

    def join(parts: list[str]) -> str:
        out = ""
        for token in (p.strip() for p in parts):
            if token:
                out += token if not out or token[0] in ".,;:!?)]}'\"" else " " + token
        return out

    blocks: list[SpeakerSegment] = []
    speaker: str | None = None
    parts: list[str] = []
    first = last = 0.0
    for word in words:
        spk = speaker_of(word.start, word.end)
        if speaker is None or spk != speaker or word.start - last > 1.5:
            if speaker is not None:
                blocks.append(
                    SpeakerSegment(int(first * 1000), int(last * 1000), speaker, join(parts))
                )
            speaker, parts, first = spk, [], word.start
        parts.append(word.text)
        last = word.end
    if speaker is not None:
        blocks.append(SpeakerSegment(int(first * 1000), int(last * 1000), speaker, join(parts)))
    return blocks


def main(word_count: int, turn_count: int, seed: int, runs: int) -> None:
    words, turns = transcript(word_count, turn_count, seed)
    samples: list[float] = []
    for _ in range(runs):
        begin = time.perf_counter()
        merged = merge_words_with_speakers(words, turns)
        samples.append(time.perf_counter() - begin)
    begin = time.perf_counter()
    expected = baseline_merge(words, turns)
    baseline_ms = (time.perf_counter() - begin) * 1000
    if merged != expected:
        raise SystemExit("FAIL: the new merge differs from the predecessor's rules")
    new_ms = min(samples) * 1000
    unknown = sum(block.speaker == "Speaker_unknown" for block in merged)
    print(
        f"transcript: {HOURS:.0f} h, {len(words)} words, {len(turns)} turns -> "
        f"{len(merged)} blocks ({unknown} Speaker_unknown); outputs identical"
    )
    print(f"baseline O(W x T), predecessor rules (1 run):  {baseline_ms:10.1f} ms")
    print(f"merge_words_with_speakers (best of {runs}):        {new_ms:10.1f} ms")
    print(f"speedup baseline / new:                        {baseline_ms / new_ms:10.1f} x")
    verdict = "met" if new_ms < TARGET_MS else "MISSED"
    print(f"target < {TARGET_MS:.0f} ms:                                {verdict:>10}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=40_000)
    parser.add_argument("--turns", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    main(args.words, args.turns, args.seed, args.runs)
