"""Transcription percent by audio time, from whisperX's per-chunk progress callback.

whisperX (3.8) transcribes merged VAD chunks (up to 30 s of speech each, the
silence between them skipped) and calls ``progress_callback`` with the share
of chunks done, ``(i + 1) / n * 100``. Chunks differ in length and in the
silence around them, so that count is not how far into the recording it is.
The engine lets an `AudioProgress` see the chunks the pipeline merges
(`AudioProgress.capture`); each callback then reports the end of the chunk
just done over the recording's duration. Without the chunks (a whisperX that
merges them where the engine cannot see) it reports no percent and only checks
for cancellation, so the job shows the phase's start and end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .progress import raise_if_cancelled, report


def chunk_ends(chunks: object) -> tuple[float, ...] | None:
    """The merged chunks' end times (s); None when not whisperX's list of ``{"end": s}``."""
    if not isinstance(chunks, list):
        return None
    try:
        return tuple(float(chunk["end"]) for chunk in chunks)
    except (TypeError, KeyError, ValueError, IndexError):
        return None


def audio_percent(ends: Sequence[float], count_percent: float, duration: float) -> float | None:
    """The share of the recording's time done when whisperX says `count_percent` of chunks are.

    None when that count names no chunk of `ends` (they are not the chunks being run).
    """
    if not ends or duration <= 0:
        return None
    done = round(count_percent * len(ends) / 100)
    if not 1 <= done <= len(ends):
        return None
    return max(0.0, min(100.0, 100 * ends[done - 1] / duration))


class AudioProgress:
    """whisperX's ``progress_callback`` for one transcription: reports by audio time."""

    def __init__(self, duration: float) -> None:
        self._duration = duration
        self._ends: tuple[float, ...] | None = None
        self._last = 0.0

    def capture(self, merge: Callable[..., Any]) -> Callable[..., Any]:
        """`merge` (the VAD's ``merge_chunks``), keeping the chunks it returns."""

        def merged(*args: Any, **kwargs: Any) -> Any:
            chunks = merge(*args, **kwargs)
            self._ends = chunk_ends(chunks)
            return chunks

        return merged

    def __call__(self, count_percent: float) -> None:
        """A chunk is done: report the audio time covered so far (never less than before).

        Raises JobCancelled when the job was cancelled, which stops whisperX there.
        """
        percent = None
        if self._ends is not None:
            percent = audio_percent(self._ends, float(count_percent), self._duration)
        if percent is None:
            raise_if_cancelled()
            return
        self._last = max(self._last, percent)
        report("transcribing", self._last)
