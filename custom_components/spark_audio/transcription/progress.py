"""Progress of the background transcription running in the current task.

A context variable rather than a parameter: the job runner sets it once, and
the deep call sites that know real progress (Sortformer's windows) report to it
without every function in between growing a callback argument. Outside a job
it is unset and reporting does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING
from uuid import uuid4

from ..spark.errors import SparkError

if TYPE_CHECKING:
    from ..spark.clients.whisperx import WhisperXClient

type ProgressCallback = Callable[[float | None, str | None], None]

current_progress: ContextVar[ProgressCallback | None] = ContextVar(
    "spark_audio_progress", default=None
)


def report_progress(fraction: float | None = None, phase: str | None = None) -> None:
    """Tell the running job how far it is (0..1) and/or which phase it is in."""
    if (callback := current_progress.get()) is not None:
        callback(fraction, phase)


POLL_INTERVAL_S = 2.0
"""How often a job asks the WhisperX container how far it is."""


async def with_whisperx_progress[T](
    client: WhisperXClient, call: Callable[[str | None], Awaitable[T]]
) -> T:
    """Run ``call`` (given a job id to send); inside a job, poll the container's progress.

    Outside a job there is no one to tell: ``call`` gets no id and nothing polls.
    A failed poll only skips that report; the poller ends with the call. A
    cancelled job is cancelled in the container too.
    """
    if current_progress.get() is None:
        return await call(None)
    job_id = uuid4().hex

    async def poll() -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL_S)
            try:
                progress = await client.job_progress(job_id)
            except SparkError:
                continue
            if progress is not None and progress.phase not in ("done", "failed"):
                report_progress(progress.percent / 100, progress.phase)

    poller = asyncio.create_task(poll())
    try:
        return await call(job_id)
    except asyncio.CancelledError:
        # Closing the request does not stop a GPU job: ask the container to.
        with contextlib.suppress(SparkError):
            await asyncio.shield(client.cancel_job(job_id))
        raise
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
