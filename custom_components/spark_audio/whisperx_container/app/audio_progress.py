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

import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
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

    def __init__(self, duration: float, offset: float = 0.0) -> None:
        """For a recording of `duration` s, or a unit of it that starts at `offset` s."""
        self._duration = duration
        self._offset = offset
        self._ends: tuple[float, ...] | None = None
        self._last = 0.0

    def capture(self, merge: Callable[..., Any]) -> Callable[..., Any]:
        """`merge` (the VAD's ``merge_chunks``), keeping the chunks it returns."""

        def merged(*args: Any, **kwargs: Any) -> Any:
            chunks = merge(*args, **kwargs)
            ends = chunk_ends(chunks)
            self._ends = None if ends is None else tuple(self._offset + end for end in ends)
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


def progress_kwargs(transcribe: Any, progress: AudioProgress) -> dict[str, Any]:
    """``progress_callback`` where this whisperX's pipeline takes one.

    Releases without it report only the phase boundaries.
    """
    try:
        parameters = inspect.signature(transcribe).parameters
    except (TypeError, ValueError):
        return {}
    if "progress_callback" not in parameters:
        return {}
    return {"progress_callback": progress}


@contextmanager
def chunks_seen(pipeline: Any, progress: AudioProgress) -> Iterator[None]:
    """Let `progress` see the merged VAD chunks: shadow the VAD's ``merge_chunks`` for a call.

    whisperX 3.8 looks it up on the VAD instance (``self.vad_model.merge_chunks``);
    a release that does not simply leaves the percent out.
    """
    vad: Any = getattr(pipeline, "vad_model", None)
    merge = getattr(vad, "merge_chunks", None)
    own = "merge_chunks" in getattr(vad, "__dict__", {})
    shadowed = False
    if callable(merge):
        with suppress(AttributeError, TypeError):
            vad.merge_chunks = progress.capture(merge)
            shadowed = True
    try:
        yield
    finally:
        if shadowed and own:
            vad.merge_chunks = merge
        elif shadowed:
            del vad.merge_chunks
