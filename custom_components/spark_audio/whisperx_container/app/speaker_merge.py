"""The word-to-speaker merge: words plus diarization turns -> blocks of one speaker.

This is the only implementation. The image runs it from here (``app/merge.py``),
and the Home Assistant integration imports this very file from the build context
it ships (``spark/transcripts/speaker_merge.py``), so a transcript gets the same
speakers whichever side joins it. Keep it standard library only: the image has
no integration, the integration has no FastAPI.

The rules are the predecessor's, exactly (users compare transcripts across
versions), computed in O((W + T) log T) instead of its O(W x T) scan, which took
seconds on a 3-hour meeting (``benchmarks/bench_merge.py``).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

UNKNOWN_SPEAKER = "Speaker_unknown"
SILENCE_BREAK_S = 1.5
"""A pause longer than this starts a new block even for the same speaker (readability)."""

_ATTACHED = frozenset(".,;:!?)]}'\"")
"""Tokens starting with one of these attach to the previous token without a space."""


class TimedWord(Protocol):
    """A recognised word: times in seconds (both sides' ``Word`` types fit)."""

    @property
    def start(self) -> float:
        """Start in seconds."""

    @property
    def end(self) -> float:
        """End in seconds."""

    @property
    def text(self) -> str:
        """The token as the recogniser wrote it (may carry a leading space)."""


# No ``type`` statements or ``def f[T]``: the engine lane runs this app on CPython 3.11.
TurnSpan = tuple[float, float, str]
"""A diarization turn: ``(start_s, end_s, speaker)``."""

Block = TypeVar("Block")
"""Each side's own block shape, built from ``(start_ms, end_ms, speaker, text)``."""


class _TurnIndex:
    """The predecessor's two per-word questions, answered in O(log T) after sorting.

    1. The first turn, in input order, whose closed span contains the word's midpoint.
       The answer is constant between consecutive turn boundaries, so one sweep over
       the sorted boundaries (a heap keyed by input position, ends expired lazily)
       tabulates it for every boundary point and every open gap between two.
    2. Otherwise, the turn overlapping the word most (earliest input position on a
       tie). No turn contains the midpoint then, so every overlapping turn either
       ends inside the word's left half or starts inside its right half: two
       contiguous ranges of the turns sorted by end and by start. When words do not
       overlap each other (ASR output), each turn boundary lies in at most one word,
       so these ranges hold O(T) turns over the whole transcript.
    """

    __slots__ = (
        "_coords",
        "_end_idx",
        "_end_starts",
        "_ends",
        "_gap_owner",
        "_point_owner",
        "_speakers",
        "_start_ends",
        "_start_idx",
        "_starts",
    )

    def __init__(self, turns: Sequence[TurnSpan]) -> None:
        self._speakers = [speaker for _, _, speaker in turns]
        # Inverted turns can neither contain a midpoint nor overlap a word.
        valid = [(start, end, i) for i, (start, end, _) in enumerate(turns) if start <= end]
        self._coords = sorted({c for start, end, _ in valid for c in (start, end)})
        self._point_owner: list[int] = []
        self._gap_owner: list[int] = []  # gap i is the open interval (coords[i], coords[i+1])
        by_start = sorted(valid)
        active: list[tuple[int, float]] = []  # (input position, end): min-heap on position
        added = 0
        for x in self._coords:
            while added < len(by_start) and by_start[added][0] <= x:
                _, end, i = by_start[added]
                heapq.heappush(active, (i, end))
                added += 1
            while active and active[0][1] < x:  # expired: x only grows
                heapq.heappop(active)
            self._point_owner.append(active[0][0] if active else -1)
            while active and active[0][1] <= x:  # the gap after x needs end > x
                heapq.heappop(active)
            self._gap_owner.append(active[0][0] if active else -1)
        # Zero-length turns never overlap a span, so the fallback only sees positive ones.
        spans = [(start, end, i) for start, end, i in valid if start < end]
        spans_by_end = sorted(spans, key=lambda span: (span[1], span[2]))
        self._ends = [end for _, end, _ in spans_by_end]
        self._end_starts = [start for start, _, _ in spans_by_end]
        self._end_idx = [i for _, _, i in spans_by_end]
        spans_by_start = sorted(spans)
        self._starts = [start for start, _, _ in spans_by_start]
        self._start_ends = [end for _, end, _ in spans_by_start]
        self._start_idx = [i for _, _, i in spans_by_start]

    def speaker_for(self, start: float, end: float) -> str:
        """The speaker the predecessor's rules give a word spanning [start, end]."""
        mid = (start + end) / 2.0
        coords = self._coords
        j = bisect_left(coords, mid)
        if j < len(coords) and coords[j] == mid:
            owner = self._point_owner[j]
        else:
            owner = self._gap_owner[j - 1] if j > 0 else -1
        if owner >= 0:
            return self._speakers[owner]
        if not start < end:  # no positive overlap is possible (also catches NaN)
            return UNKNOWN_SPEAKER
        best_overlap = 0.0
        best = -1
        ends, end_starts, end_idx = self._ends, self._end_starts, self._end_idx
        for k in range(bisect_right(ends, start), bisect_left(ends, mid)):
            overlap = min(end, ends[k]) - max(start, end_starts[k])
            if overlap > best_overlap or (overlap == best_overlap > 0.0 and end_idx[k] < best):
                best_overlap, best = overlap, end_idx[k]
        starts, start_ends, start_idx = self._starts, self._start_ends, self._start_idx
        for k in range(bisect_right(starts, mid), bisect_left(starts, end)):
            overlap = min(end, start_ends[k]) - max(start, starts[k])
            if overlap > best_overlap or (overlap == best_overlap > 0.0 and start_idx[k] < best):
                best_overlap, best = overlap, start_idx[k]
        return self._speakers[best] if best >= 0 else UNKNOWN_SPEAKER


def join_tokens(tokens: Sequence[str]) -> str:
    """Join ASR tokens with single spaces; punctuation attaches to the word before it.

    Some STT outputs carry a leading space in each token (" morning"), some do not,
    so tokens are stripped first and blank ones dropped.
    """
    pieces: list[str] = []
    for raw in tokens:
        token = raw.strip()
        if not token:
            continue
        if pieces and token[0] not in _ATTACHED:
            pieces.append(" ")
        pieces.append(token)
    return "".join(pieces)


def merge_speakers(  # noqa: UP047 (CPython 3.11, see above)
    words: Sequence[TimedWord],
    turns: Sequence[TurnSpan],
    block: Callable[[int, int, str, str], Block],
) -> list[Block]:
    """Group words, in the given order, into blocks of one speaker each.

    A word belongs to the first turn (in ``turns`` order) whose closed span holds
    the word's midpoint, else to the turn overlapping it most (ties: the earlier
    turn), else to ``Speaker_unknown``. A block ends when the speaker changes or
    when more than 1.5 s passes between a word's end and the next word's start.
    ``block`` gets each one's times in milliseconds (truncated), its speaker and
    its text. Times must not be NaN.
    """
    if not words:
        return []
    speaker_for = _TurnIndex(turns).speaker_for
    blocks: list[Block] = []
    speaker: str | None = None
    tokens: list[str] = []
    block_start = block_end = 0.0
    for word in words:
        word_speaker = speaker_for(word.start, word.end)
        if speaker is None or word_speaker != speaker or word.start - block_end > SILENCE_BREAK_S:
            if speaker is not None:
                blocks.append(
                    block(
                        int(block_start * 1000), int(block_end * 1000), speaker, join_tokens(tokens)
                    )
                )
            speaker, tokens, block_start = word_speaker, [word.text], word.start
        else:
            tokens.append(word.text)
        block_end = word.end
    assert speaker is not None  # words is not empty
    blocks.append(
        block(int(block_start * 1000), int(block_end * 1000), speaker, join_tokens(tokens))
    )
    return blocks
