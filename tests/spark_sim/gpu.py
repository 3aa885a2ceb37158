"""One GPU per service: one job at a time, a bounded waiting room, 429 when it is full.

Both STT services share it: the real WhisperX container queues its jobs the
same way (``app/gate.py``), and a NeMo Parakeet server on one GPU serialises
its inference too. A restart drops every waiting and running job
(`faults.drop_in_flight` cancels their handlers; the slot is released).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from .faults import STATE_KEY, record_of

# A job's GPU time, or how to price it once it holds the GPU (see `GpuQueue.run`).
type JobSeconds = float | Callable[[], float]

# The real container's words (app/admission.py).
BUSY_DETAIL = "GPU busy: too many jobs waiting, retry later"
RETRY_AFTER_S = 30


@dataclass(slots=True)
class GpuQueue:
    """The single GPU slot and how many jobs wait for it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0
    # Set by `finish_running`: the job on the GPU ends now, successfully.
    _finish: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def busy(self) -> bool:
        """Whether a job holds the GPU."""
        return self.lock.locked()

    def full(self, max_queue: int) -> bool:
        """Whether a new job would be refused: GPU busy and ``max_queue`` already waiting."""
        return self.busy and self.waiting >= max_queue

    async def run(self, seconds: JobSeconds) -> None:
        """Hold the GPU for ``seconds`` of work, queueing behind the jobs before it.

        A callable is priced once the job holds the GPU: what it costs can
        depend on the jobs before it (the first job of a language loads its
        aligner, the ones queued behind it find it loaded).
        """
        self.waiting += 1
        try:
            await self.lock.acquire()
        finally:
            self.waiting -= 1
        self._finish.clear()
        try:
            gpu_s = seconds() if callable(seconds) else seconds
            async with asyncio.timeout(gpu_s):
                await self._finish.wait()
        except TimeoutError:
            pass  # the job's GPU time is up
        finally:
            self.lock.release()

    def finish_running(self) -> None:
        """End the running job now, as if its GPU time were up (tests skip long work)."""
        self._finish.set()


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


async def run_job(request: web.Request, seconds: JobSeconds) -> web.Response | None:
    """Hold the service's GPU for ``seconds``; the 429 to answer instead when its queue is full.

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

    await gpu.run(priced)
    if record is not None:
        record.gpu_finished_at = time.monotonic()
    return None
