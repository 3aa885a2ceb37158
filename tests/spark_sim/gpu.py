"""One GPU per service: one job at a time, a bounded waiting room, 429 when it is full.

Both STT services share it: the real WhisperX container queues its jobs the
same way, through the same gate (``app/gate.py``: voice commands before
waiting background jobs), and a NeMo Parakeet server on one GPU serialises
its inference too (every request interactive). A background job in units
(`GpuQueue.run` with ``units``) hands the GPU to waiting interactive jobs
between units, as the container's engine does between its batches of VAD
chunks. A restart drops every waiting and running job
(`faults.drop_in_flight` cancels their handlers; the slot is released).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from custom_components.spark_audio.whisperx_container.app.gate import GpuGate, Priority

from .faults import STATE_KEY, record_of

# A job's GPU time, or how to price it once it holds the GPU (see `GpuQueue.run`).
type JobSeconds = float | Callable[[], float]

# The real container's words (app/admission.py).
BUSY_DETAIL = "GPU busy: too many jobs waiting, retry later"
RETRY_AFTER_S = 30


@dataclass(slots=True)
class GpuQueue:
    """The single GPU slot and the jobs waiting for it."""

    # The waiting-room limit is the service's ``max_queue`` knob, checked by `run_job`.
    gate: GpuGate = field(default_factory=lambda: GpuGate(sys.maxsize))
    # Set by `finish_running` (the job on the GPU ends now, successfully) and by
    # `finish_unit` (its current unit does); `_whole` tells which.
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _whole: bool = False

    @property
    def busy(self) -> bool:
        """Whether a job holds the GPU."""
        return self.gate.busy

    @property
    def waiting(self) -> int:
        """How many new jobs wait for the GPU (a paused background job is not one)."""
        return self.gate.waiting

    def full(self, max_queue: int) -> bool:
        """Whether a new job would be refused: GPU busy and ``max_queue`` already waiting."""
        return self.busy and self.waiting >= max_queue

    async def run(self, seconds: JobSeconds, *, units: int | None = None) -> None:
        """Hold the GPU for ``seconds`` of work, queueing behind the jobs before it.

        A callable is priced once the job holds the GPU: what it costs can
        depend on the jobs before it (the first job of a language loads its
        aligner, the ones queued behind it find it loaded). With ``units`` it is
        a background job: it queues behind waiting interactive jobs and runs its
        work in that many equal units, the GPU handed to them between units.
        """
        priority = Priority.INTERACTIVE if units is None else Priority.BACKGROUND
        count = max(1, units or 1)
        async with self.gate.slot(priority) as turn:
            self._wake.clear()
            self._whole = False
            gpu_s = seconds() if callable(seconds) else seconds
            for unit in range(count):
                if unit and await self.gate.hand_over(turn):
                    self._wake.clear()  # what woke the jobs in between was theirs
                    self._whole = False
                with contextlib.suppress(TimeoutError):  # the unit's GPU time is up
                    async with asyncio.timeout(gpu_s / count):
                        await self._wake.wait()
                self._wake.clear()
                if self._whole:
                    return  # ended now by the test

    def finish_running(self) -> None:
        """End the running job now, as if its GPU time were up (tests skip long work)."""
        self._whole = True
        self._wake.set()

    def finish_unit(self) -> None:
        """End the running job's current unit now (a background job then offers the GPU)."""
        self._wake.set()


GPU_KEY = web.AppKey("spark_sim_gpu", GpuQueue)


def queue_full_response() -> web.Response:
    """The 429 a full queue answers (FastAPI shape, with ``Retry-After``)."""
    return web.json_response(
        {"detail": BUSY_DETAIL}, status=429, headers={"Retry-After": str(RETRY_AFTER_S)}
    )


def gpu_of(request: web.Request) -> GpuQueue:
    """The GPU queue of the service handling ``request``."""
    return request.app[GPU_KEY]


def health_fields(request: web.Request) -> dict[str, object]:
    """``busy`` and ``queue`` as the WhisperX container's /health reports them."""
    gpu = gpu_of(request)
    return {"busy": gpu.busy, "queue": gpu.waiting}


async def run_job(
    request: web.Request, seconds: JobSeconds, *, units: int | None = None
) -> web.Response | None:
    """Hold the service's GPU for ``seconds`` (in ``units``, see `GpuQueue.run`).

    The 429 to answer instead when its queue is full.
    The request's record gets the job's GPU time and when it held the GPU,
    so tests read what the simulator decided rather than time it.
    """
    gpu = gpu_of(request)
    if gpu.full(request.app[STATE_KEY].max_queue):
        return queue_full_response()
    record = record_of(request)

    def priced() -> float:
        gpu_s = seconds() if callable(seconds) else seconds
        if record is not None:
            record.gpu_s = gpu_s
            record.gpu_started_at = time.monotonic()
        return gpu_s

    await gpu.run(priced, units=units)
    if record is not None:
        record.gpu_finished_at = time.monotonic()
    return None
