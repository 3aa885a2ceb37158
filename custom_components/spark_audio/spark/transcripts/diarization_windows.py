"""Long-audio chunk plans for diarization and the joining of their speaker labels.

Sortformer handles about 12 minutes of audio per call and at most 4 speakers,
so longer recordings are cut into overlapping windows (``plan_windows``) and
the windows' local speaker labels are joined into global ones
(``reconcile_windows``). Pure functions, like the word/speaker merge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from ..models import DiarizationSegment


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
