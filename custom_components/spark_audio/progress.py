"""Progress of the background transcription running in the current task.

A context variable rather than a parameter: the job runner sets it once, and
the deep call sites that know real progress (Sortformer's windows) report to it
without every function in between growing a callback argument. Outside a job
it is unset and reporting does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

type ProgressCallback = Callable[[float | None, str | None], None]

current_progress: ContextVar[ProgressCallback | None] = ContextVar(
    "spark_audio_progress", default=None
)


def report_progress(fraction: float | None = None, phase: str | None = None) -> None:
    """Tell the running job how far it is (0..1) and/or which phase it is in."""
    if (callback := current_progress.get()) is not None:
        callback(fraction, phase)
