"""What the handlers share: the engine, the GPU gate, and the one request flow.

A CUDA fault answers 500 and then ends the process (non-zero) so Docker's
restart policy brings up a fresh CUDA context.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request, UploadFile
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from .admission import queue_full_response
from .config import Settings
from .engine import (
    AudioDecodeError,
    AudioTooLong,
    DiarizationUnavailable,
    Engine,
    is_cuda_fault,
)
from .forms import BadRequest
from .forms import filename as check_filename
from .gate import GpuGate, Priority, QueueFull, RunningJob, running_job
from .progress import JobCancelled, JobRegistry
from .uploads import EmptyUpload, spooled

_LOGGER = logging.getLogger("whisperx_app")
FAULT_EXIT_CODE = 3
T = TypeVar("T")
ExitFn = Callable[[int], Any]


@dataclass(slots=True)
class Service:
    """Everything the handlers share."""

    settings: Settings
    engine: Engine
    gate: GpuGate
    version: str
    exit_fn: ExitFn
    faulted: bool = False
    last_gpu_ok: bool | None = None
    jobs: JobRegistry = field(default_factory=JobRegistry)


def service_of(request: Request) -> Service:
    """The started service of the app handling `request`."""
    svc: Service = request.app.state.service
    return svc


def build_engine(settings: Settings) -> Engine:
    """The engine the settings ask for (imports the ML stack lazily)."""
    if settings.engine == "stub":
        from .stub_engine import StubEngine

        return StubEngine.from_env(
            settings.model,
            settings.hf_token,
            max_audio_s=settings.max_audio_s,
            device=settings.device,
        )
    from .whisperx_engine import WhisperXEngine

    return WhisperXEngine(
        settings.model,
        settings.hf_token,
        max_audio_s=settings.max_audio_s,
        device=settings.device,
    )


def hard_exit(code: int) -> None:
    """Leave now, without cleanup: the CUDA context cannot be trusted."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def error(status: int, detail: str, **headers: str) -> JSONResponse:
    """FastAPI's error shape."""
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


def fatal(svc: Service, err: BaseException) -> JSONResponse:
    """Answer 500, then exit so the container restarts with a fresh CUDA context."""
    svc.faulted = True
    _LOGGER.critical("CUDA fault, exiting for a restart: %s", err)
    return JSONResponse(
        {"detail": f"GPU fault, the service restarts: {err}"},
        status_code=500,
        background=BackgroundTask(svc.exit_fn, FAULT_EXIT_CODE),
    )


async def run_job(  # noqa: UP047 - Python 3.11 lane
    svc: Service, job: Callable[[], T], priority: Priority = Priority.INTERACTIVE
) -> T:
    """Run `job` in a thread holding the GPU, releasing GPU memory after it.

    A background job's thread sees its turn (`running_job`), so the engine can
    hand the GPU to voice commands between its units.
    """

    def job_then_release() -> T:
        try:
            return job()
        finally:
            svc.engine.release_memory()

    async with svc.gate.slot(priority) as turn:
        token = running_job.set(RunningJob(svc.gate, asyncio.get_running_loop(), turn))
        try:
            return await asyncio.to_thread(job_then_release)
        finally:
            running_job.reset(token)


async def guarded(
    svc: Service,
    upload: UploadFile | None,
    validate: Callable[[], None],
    work: Callable[[Service, Path], Awaitable[Response]],
) -> Response:
    """Shared request flow: validate, spool, queue, run, map errors."""
    if svc.faulted:
        return error(503, "GPU fault: the service is restarting", **{"Retry-After": "30"})
    if (problem := svc.engine.device_error) is not None:
        return error(503, problem)  # no Retry-After: only fixing the host's GPU setup helps
    try:
        if upload is None:
            raise BadRequest("file is required")
        check_filename(upload.filename)
        validate()
        if svc.gate.full:
            raise QueueFull
        async with spooled(upload) as path:
            return await work(svc, path)
    except (BadRequest, EmptyUpload, AudioDecodeError) as err:
        return error(400, str(err))
    except AudioTooLong as err:
        return error(413, str(err))
    except QueueFull:
        return queue_full_response(svc.settings.retry_after_s)
    except DiarizationUnavailable as err:
        return error(503, f"Diarization is off: {err}")
    except JobCancelled:
        return error(409, "Cancelled by the client")
    except Exception as err:
        if is_cuda_fault(err):
            return fatal(svc, err)
        _LOGGER.exception("Job failed")
        return error(500, f"Transcription failed: {err}")
