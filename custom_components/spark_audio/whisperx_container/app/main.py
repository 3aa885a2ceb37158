"""FastAPI app: health, diarized transcription and OpenAI-style transcription.

Run with ``uvicorn app.main:app``. One GPU job at a time with a bounded queue;
a CUDA fault answers 500 and then ends the process (non-zero) so Docker's
restart policy brings up a fresh CUDA context.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from .config import ConfigError, Settings, read_version
from .engine import (
    DIARIZATION_MODEL,
    AudioDecodeError,
    DiarizationUnavailable,
    Engine,
    Transcript,
    is_cuda_fault,
)
from .formats import CONTENT_TYPES, RESPONSE_FORMATS, render
from .gate import GpuGate, QueueFull
from .merge import normalise_speakers, speaker_blocks
from .uploads import EmptyUpload, spooled

_LOGGER = logging.getLogger("whisperx_app")
FAULT_EXIT_CODE = 3
GPU_CHECK_TIMEOUT_S = 10.0
SPEAKERS_PATH = "/v1/audio/transcribe-with-speakers"
TRANSCRIBE_PATH = "/v1/audio/transcriptions"
GRANULARITIES = frozenset({"word", "segment"})

T = TypeVar("T")
ExitFn = Callable[[int], Any]


class BadRequest(ValueError):
    """A client mistake, answered with 400 and this message."""


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
    background: set[asyncio.Task[Any]] = field(default_factory=set)


def build_engine(settings: Settings) -> Engine:
    """The engine the settings ask for (imports the ML stack lazily)."""
    if settings.engine == "stub":
        from .stub_engine import StubEngine

        return StubEngine.from_env(settings.model, settings.hf_token)
    from .whisperx_engine import WhisperXEngine

    return WhisperXEngine(settings.model, settings.hf_token)


def _hard_exit(code: int) -> None:
    """Leave now, without cleanup: the CUDA context cannot be trusted."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _error(status: int, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


def _optional_int(name: str, raw: str | None) -> int | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if value < 1:
        raise BadRequest(f"{name} must be >= 1")
    return value


def _language(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not raw.strip():
        raise BadRequest("language must not be empty")
    return raw.strip().lower()


def create_app(  # noqa: PLR0915 - the routes share closures over one app
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    exit_fn: ExitFn = _hard_exit,
) -> FastAPI:
    """The app; tests inject an engine, settings and an exit function."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            config = settings or Settings.from_env()
        except ConfigError as err:
            _LOGGER.critical("Invalid configuration: %s", err)
            raise
        chosen = engine or build_engine(config)
        _LOGGER.info("Loading models (engine=%s, model=%s)", config.engine, config.model)
        await asyncio.to_thread(chosen.load)
        gpu_ok = await asyncio.to_thread(chosen.gpu_check)
        _LOGGER.info("Ready (device=%s, gpu_ok=%s)", chosen.device, gpu_ok)
        app.state.service = Service(
            settings=config,
            engine=chosen,
            gate=GpuGate(config.max_queue),
            version=read_version(),
            exit_fn=exit_fn,
            last_gpu_ok=gpu_ok,
        )
        yield

    app = FastAPI(title="WhisperX speech service", version=read_version(), lifespan=lifespan)

    def service() -> Service:
        svc: Service = app.state.service
        return svc

    def fatal(svc: Service, err: BaseException) -> JSONResponse:
        """Answer 500, then exit so the container restarts with a fresh CUDA context."""
        svc.faulted = True
        _LOGGER.critical("CUDA fault, exiting for a restart: %s", err)
        return JSONResponse(
            {"detail": f"GPU fault, the service restarts: {err}"},
            status_code=500,
            background=BackgroundTask(svc.exit_fn, FAULT_EXIT_CODE),
        )

    async def run_job(svc: Service, job: Callable[[], T]) -> T:
        """Run `job` in a thread holding the GPU, releasing GPU memory after it."""

        def job_then_release() -> T:
            try:
                return job()
            finally:
                svc.engine.release_memory()

        async with svc.gate.slot():
            return await asyncio.to_thread(job_then_release)

    async def guarded(
        upload: UploadFile | None,
        validate: Callable[[], None],
        work: Callable[[Service, Path], Any],
    ) -> Response:
        """Shared request flow: validate, spool, queue, run, map errors."""
        svc = service()
        if svc.faulted:
            return _error(503, "GPU fault: the service is restarting", **{"Retry-After": "30"})
        try:
            if upload is None:
                raise BadRequest("file is required")
            validate()
            if svc.gate.busy and svc.gate.waiting >= svc.settings.max_queue:
                raise QueueFull
            async with spooled(upload) as path:
                result: Response = await work(svc, path)
                return result
        except (BadRequest, EmptyUpload, AudioDecodeError) as err:
            return _error(400, str(err))
        except QueueFull:
            return _error(
                429,
                "GPU busy: too many jobs waiting, retry later",
                **{"Retry-After": str(svc.settings.retry_after_s)},
            )
        except DiarizationUnavailable as err:
            return _error(503, f"Diarization is off: {err}")
        except Exception as err:
            if is_cuda_fault(err):
                return fatal(svc, err)
            _LOGGER.exception("Job failed")
            return _error(500, f"Transcription failed: {err}")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        svc = service()
        eng = svc.engine
        gpu_ok = svc.last_gpu_ok
        if not svc.faulted and not svc.gate.busy:
            try:
                gpu_ok = await asyncio.wait_for(
                    asyncio.to_thread(eng.gpu_check), timeout=GPU_CHECK_TIMEOUT_S
                )
            except Exception as err:
                gpu_ok = False
                if is_cuda_fault(err) and not svc.faulted:
                    svc.faulted = True
                    _LOGGER.critical("CUDA fault in the GPU check, exiting: %s", err)
                    asyncio.get_running_loop().call_later(0.1, svc.exit_fn, FAULT_EXIT_CODE)
            svc.last_gpu_ok = gpu_ok
        return {
            "status": "error" if svc.faulted else "ok",
            "whisper_loaded": eng.whisper_loaded,
            "diarizer_loaded": eng.diarizer_loaded,
            "diarizer_off_reason": eng.diarizer_off_reason,
            "model": eng.model,
            "device": eng.device,
            "gpu_ok": bool(gpu_ok),
            "version": svc.version,
            "busy": svc.gate.busy,
            "queue": svc.gate.waiting,
        }

    @app.post(SPEAKERS_PATH, response_model=None)
    async def transcribe_with_speakers(
        file: Annotated[UploadFile | None, File()] = None,
        language: Annotated[str | None, Form()] = None,
        num_speakers: Annotated[str | None, Form()] = None,
        min_speakers: Annotated[str | None, Form()] = None,
        max_speakers: Annotated[str | None, Form()] = None,
    ) -> Response:
        parsed: dict[str, Any] = {}

        def validate() -> None:
            parsed["language"] = _language(language)
            parsed["num"] = _optional_int("num_speakers", num_speakers)
            low = parsed["min"] = _optional_int("min_speakers", min_speakers)
            high = parsed["max"] = _optional_int("max_speakers", max_speakers)
            if low is not None and high is not None and low > high:
                raise BadRequest("min_speakers must be <= max_speakers")
            if not service().engine.diarizer_loaded:
                reason = service().engine.diarizer_off_reason or "not loaded"
                raise DiarizationUnavailable(reason)

        async def work(svc: Service, path: Path) -> Response:
            def job() -> tuple[Transcript, list[Any]]:
                transcript = svc.engine.transcribe(str(path), parsed["language"], words=True)
                turns = svc.engine.diarize(str(path), parsed["num"], parsed["min"], parsed["max"])
                return transcript, turns

            transcript, turns = await run_job(svc, job)
            blocks = speaker_blocks(transcript.words, normalise_speakers(turns))
            return JSONResponse(
                {
                    "duration": round(transcript.duration, 3),
                    "language": transcript.language,
                    "speakers_detected": sorted({str(b["speaker"]) for b in blocks}),
                    "segments": blocks,
                    "models": {
                        "transcription": f"whisperx-{svc.engine.model}",
                        "diarization": DIARIZATION_MODEL,
                    },
                }
            )

        return await guarded(file, validate, work)

    @app.post(TRANSCRIBE_PATH, response_model=None)
    async def transcriptions(
        file: Annotated[UploadFile | None, File()] = None,
        model: Annotated[str | None, Form()] = None,
        language: Annotated[str | None, Form()] = None,
        prompt: Annotated[str | None, Form()] = None,
        response_format: Annotated[str | None, Form()] = None,
        temperature: Annotated[str | None, Form()] = None,
        timestamp_granularities: Annotated[
            list[str] | None, Form(alias="timestamp_granularities[]")
        ] = None,
    ) -> Response:
        parsed: dict[str, Any] = {}
        del model  # one model per container; the field is accepted for compatibility

        def validate() -> None:
            parsed["language"] = _language(language)
            fmt = (response_format or "json").strip() or "json"
            if fmt not in RESPONSE_FORMATS:
                raise BadRequest(
                    f"Unsupported response_format {fmt!r}; use one of: "
                    + ", ".join(RESPONSE_FORMATS)
                )
            parsed["format"] = fmt
            parsed["temperature"] = None
            if temperature is not None and temperature.strip():
                try:
                    value = float(temperature)
                except ValueError:
                    raise BadRequest(f"temperature must be a number, got {temperature!r}") from None
                if not 0.0 <= value <= 1.0:
                    raise BadRequest("temperature must be between 0 and 1")
                parsed["temperature"] = value
            unknown = set(timestamp_granularities or ()) - GRANULARITIES
            if unknown:
                raise BadRequest(f"Unsupported timestamp_granularities: {sorted(unknown)}")

        async def work(svc: Service, path: Path) -> Response:
            fmt = parsed["format"]
            transcript = await run_job(
                svc,
                lambda: svc.engine.transcribe(
                    str(path),
                    parsed["language"],
                    words=fmt == "verbose_json",
                    prompt=prompt or None,
                    temperature=parsed["temperature"],
                ),
            )
            body = render(fmt, transcript, f"whisperx-{svc.engine.model}")
            if isinstance(body, dict):
                return JSONResponse(body)
            return Response(body, media_type=CONTENT_TYPES[fmt])

        return await guarded(file, validate, work)

    return app


app = create_app()
