"""Word↔speaker merge and long-audio chunk plans for diarization (pure functions).

Parakeet gives words with times, Sortformer gives speaker turns; a transcript
with speakers needs both joined. The join follows the predecessor's rules
exactly (users compare transcripts across versions), but runs in
O((W + T) log T) instead of O(W x T), which mattered for hours-long recordings.

Sortformer handles about 12 minutes of audio per call and at most 4 speakers,
so longer recordings are cut into overlapping windows (``plan_windows``) and
the windows' local speaker labels are joined into global ones
(``reconcile_windows``).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from .models import DiarizationSegment, SpeakerSegment, Word

UNKNOWN_SPEAKER = "Speaker_unknown"
SILENCE_BREAK_S = 1.5
"""A pause longer than this starts a new block even for the same speaker (readability)."""

_ATTACHED = frozenset(".,;:!?)]}'\"")
"""Tokens starting with one of these attach to the previous token without a space."""


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

    def __init__(self, turns: Sequence[DiarizationSegment]) -> None:
        self._speakers = [turn.speaker for turn in turns]
        # Inverted turns can neither contain a midpoint nor overlap a word.
        valid = [(t.start_s, t.end_s, i) for i, t in enumerate(turns) if t.start_s <= t.end_s]
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


def _join_tokens(tokens: Sequence[str]) -> str:
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


def merge_words_with_speakers(
    words: Sequence[Word], turns: Sequence[DiarizationSegment]
) -> list[SpeakerSegment]:
    """Group words, in the given order, into blocks of one speaker each.

    A word belongs to the first turn (in ``turns`` order) whose closed span holds
    the word's midpoint, else to the turn overlapping it most (ties: the earlier
    turn), else to ``Speaker_unknown``. A block ends when the speaker changes or
    when more than 1.5 s passes between a word's end and the next word's start.
    Times in the result are milliseconds, truncated. Times must not be NaN.
    """
    if not words:
        return []
    index = _TurnIndex(turns)
    speaker_for = index.speaker_for
    blocks: list[SpeakerSegment] = []
    speaker: str | None = None
    tokens: list[str] = []
    block_start = block_end = 0.0
    for word in words:
        word_speaker = speaker_for(word.start, word.end)
        if speaker is None or word_speaker != speaker or word.start - block_end > SILENCE_BREAK_S:
            if speaker is not None:
                blocks.append(
                    SpeakerSegment(
                        int(block_start * 1000),
                        int(block_end * 1000),
                        speaker,
                        _join_tokens(tokens),
                    )
                )
            speaker, tokens, block_start = word_speaker, [word.text], word.start
        else:
            tokens.append(word.text)
        block_end = word.end
    assert speaker is not None  # words is not empty
    blocks.append(
        SpeakerSegment(
            int(block_start * 1000), int(block_end * 1000), speaker, _join_tokens(tokens)
        )
    )
    return blocks


@dataclass(frozen=True, slots=True)
class Window:
    """One slice of a long recording, diarized on its own; seconds from the start."""

    index: int
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        """How much audio the window holds."""
        return self.end_s - self.start_s


def plan_windows(
    duration_s: float, window_s: float = 600.0, overlap_s: float = 60.0
) -> list[Window]:
    """Cut [0, duration_s] into windows of ``window_s`` that overlap by ``overlap_s``.

    Sortformer's memory grows with the audio length (about 12 minutes per call in
    practice), and speakers can only be matched between windows where both heard
    them, hence the overlap. The last window ends at ``duration_s`` and may be
    shorter than the others (but always longer than the overlap).
    """
    for name, value in (
        ("duration_s", duration_s),
        ("window_s", window_s),
        ("overlap_s", overlap_s),
    ):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    if duration_s < 0:
        raise ValueError(f"duration_s must be >= 0, got {duration_s!r}")
    if window_s <= 0:
        raise ValueError(f"window_s must be > 0, got {window_s!r}")
    if not 0 <= overlap_s < window_s:
        raise ValueError(f"overlap_s must be in [0, window_s), got {overlap_s!r}")
    step = window_s - overlap_s
    windows: list[Window] = []
    while True:
        index = len(windows)
        start = index * step  # not accumulated: no drift over many windows
        if start + window_s >= duration_s:
            windows.append(Window(index, start, duration_s))
            return windows
        windows.append(Window(index, start, start + window_s))


@dataclass(frozen=True, slots=True)
class ReconciledDiarization:
    """Diarization of a whole recording assembled from windows.

    ``speakers`` are global labels ``Speaker_0``, ``Speaker_1``, ... in the order
    the windows first heard them. ``uncertain`` lists (window index, window-local label) pairs whose
    global label is a guess: see ``reconcile_windows``.
    """

    segments: tuple[DiarizationSegment, ...]
    speakers: tuple[str, ...]
    uncertain: tuple[tuple[int, str], ...] = ()


type _Span = tuple[float, float, int]  # absolute start, end, global speaker id


def reconcile_windows(
    windows: Sequence[Window],
    per_window: Sequence[Sequence[DiarizationSegment]],
    *,
    min_overlap_speech_s: float = 2.0,
) -> ReconciledDiarization:
    """Join per-window diarizations (window-relative times, local labels) into one.

    Sortformer numbers speakers afresh in every window, so window k's labels are
    matched to window k-1's where both windows heard speech: the assignment that
    maximises the time both attribute to a pair inside their overlap (exact, over
    all assignments). Duplicates in an overlap are cut at its midpoint: the earlier
    window's segments before it, the later window's after; a turn split by the cut
    is joined again.

    Limit: a speaker matched with less than ``min_overlap_speech_s`` of shared
    speech in the overlap (typically one silent there) cannot be identified
    without voice embeddings, which Sortformer does not expose. Such a speaker is
    guessed to be a known speaker not matched in this window (preferring one heard
    in the previous window, then the most recently heard), else a new speaker, and
    is listed in ``uncertain``. A speaker absent for a whole window and a newcomer
    look the same here.
    """
    if len(windows) != len(per_window):
        raise ValueError(f"{len(windows)} windows but {len(per_window)} diarizations")
    if min_overlap_speech_s < 0:
        raise ValueError(f"min_overlap_speech_s must be >= 0, got {min_overlap_speech_s!r}")
    _check_windows(windows)
    next_id = 0
    last_heard: dict[int, float] = {}  # global id -> latest end of its speech so far
    labelled: list[list[_Span]] = []
    uncertain: list[tuple[int, str]] = []
    for k, (window, segments) in enumerate(zip(windows, per_window, strict=True)):
        shifted = [
            (s.start_s + window.start_s, s.end_s + window.start_s, s.speaker) for s in segments
        ]
        local_labels = _labels_by_first_speech(shifted)
        mapping: dict[str, int] = {}
        if k > 0:
            previous = labelled[k - 1]
            shared = _shared_speech(previous, shifted, window.start_s, windows[k - 1].end_s)
            heard_before = sorted({g for (_, g) in shared})
            mapping = _best_assignment(local_labels, heard_before, shared)
            in_previous = {g for _, _, g in previous}
            for label in local_labels:
                if label not in mapping:
                    candidates = [g for g in last_heard if g not in mapping.values()]
                    if candidates:
                        mapping[label] = max(
                            candidates, key=lambda g: (g in in_previous, last_heard[g], -g)
                        )
                if shared.get((label, mapping.get(label, -1)), 0.0) < min_overlap_speech_s:
                    uncertain.append((window.index, label))
        for label in local_labels:
            if label not in mapping:
                mapping[label] = next_id
                next_id += 1
        spans = [(start, end, mapping[label]) for start, end, label in shifted]
        for start, end, g in spans:
            last_heard[g] = max(last_heard.get(g, -math.inf), end, start)
        labelled.append(spans)
    return _assemble(windows, labelled, uncertain)


def _check_windows(windows: Sequence[Window]) -> None:
    """Windows must be in time order and each must overlap (or touch) the one before."""
    for k, window in enumerate(windows):
        if not window.start_s <= window.end_s:
            raise ValueError(f"window {window.index} ends before it starts")
        if k == 0:
            continue
        before = windows[k - 1]
        if not before.start_s < window.start_s <= before.end_s <= window.end_s:
            raise ValueError(f"window {window.index} does not continue window {before.index}")


def _labels_by_first_speech(spans: Sequence[tuple[float, float, str]]) -> list[str]:
    """Local labels ordered by when they first speak (label text breaks ties)."""
    first: dict[str, float] = {}
    for start, _, label in spans:
        first[label] = min(first.get(label, math.inf), start)
    return sorted(first, key=lambda label: (first[label], label))


def _shared_speech(
    previous: Sequence[_Span], current: Sequence[tuple[float, float, str]], lo: float, hi: float
) -> dict[tuple[str, int], float]:
    """Seconds inside [lo, hi] that the current window's label and a global speaker share.

    Pairwise over the segments inside the overlap only, which is a minute of audio.
    """
    before = [(max(s, lo), min(e, hi), g) for s, e, g in previous if min(e, hi) > max(s, lo)]
    after = [(max(s, lo), min(e, hi), lab) for s, e, lab in current if min(e, hi) > max(s, lo)]
    shared: dict[tuple[str, int], float] = {}
    for start, end, label in after:
        for other_start, other_end, g in before:
            overlap = min(end, other_end) - max(start, other_start)
            if overlap > 0:
                shared[label, g] = shared.get((label, g), 0.0) + overlap
    return shared


def _best_assignment(
    labels: Sequence[str], speakers: Sequence[int], shared: dict[tuple[str, int], float]
) -> dict[str, int]:
    """The one-to-one label→speaker matching with the most shared speech.

    Exhaustive (dynamic programming over subsets of ``speakers``): diarizers give at
    most a handful of speakers per window, Sortformer at most 4.
    """

    @cache
    def best(row: int, used: int) -> tuple[float, tuple[int, ...]]:
        if row == len(labels):
            return 0.0, ()
        score, rest = best(row + 1, used)
        top = (score, (-1, *rest))
        for col, speaker in enumerate(speakers):
            gain = shared.get((labels[row], speaker), 0.0)
            if used >> col & 1 or gain <= 0:
                continue
            score, rest = best(row + 1, used | 1 << col)
            if gain + score > top[0]:
                top = (gain + score, (col, *rest))
        return top

    _, choice = best(0, 0)
    return {labels[row]: speakers[col] for row, col in enumerate(choice) if col >= 0}


@dataclass(slots=True)
class _Piece:
    """A kept segment while the overlaps are cut; mutable so a split turn can be rejoined."""

    start: float
    end: float
    speaker: int


def _assemble(
    windows: Sequence[Window], labelled: Sequence[Sequence[_Span]], uncertain: list[tuple[int, str]]
) -> ReconciledDiarization:
    """Cut each overlap at its midpoint, rejoin split turns, name speakers in id order."""
    cuts = [(windows[k].start_s + windows[k - 1].end_s) / 2.0 for k in range(1, len(windows))]
    bounds = [-math.inf, *cuts, math.inf]
    kept: list[_Piece] = []
    for k, spans in enumerate(labelled):
        lo, hi = bounds[k], bounds[k + 1]
        # The earlier windows' pieces that the cut ended, by speaker: rejoin across it.
        open_at_cut = {piece.speaker: piece for piece in kept if piece.end == lo}
        for span_start, span_end, g in sorted(spans):
            start, end = max(span_start, lo), min(span_end, hi)
            if end <= start:
                continue
            if start == lo and (piece := open_at_cut.pop(g, None)) is not None:
                piece.end = end
            else:
                kept.append(_Piece(start, end, g))
    kept.sort(key=lambda piece: (piece.start, piece.end, piece.speaker))
    order = sorted({piece.speaker for piece in kept})
    names = {g: f"Speaker_{n}" for n, g in enumerate(order)}
    return ReconciledDiarization(
        segments=tuple(DiarizationSegment(p.start, p.end, names[p.speaker]) for p in kept),
        speakers=tuple(names[g] for g in order),
        uncertain=tuple(uncertain),
    )
