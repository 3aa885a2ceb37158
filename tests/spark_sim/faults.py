"""Per-service state and the fault middleware shared by all simulated apps.

Tests flip a service into a failure mode (down, slow, CUDA wedge, reset
mid-response, malformed body) and read back what the service received, so
that client code is exercised against the failures real Sparks produce.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .fault_answers import corrupt, fail, hard_close, reset_midway
from .knob_checks import integer, number, typed, voice_list
from .voice_knobs import parse_voice_knob

_LOGGER = logging.getLogger("spark_sim")

DEFAULT_TRANSCRIPT = "turn on the kitchen light"
SIM_PREFIX = "/_sim/"
RECORD_KEY = "spark_sim_record"
_WEDGE_SETTLE_S = 0.02
# What `fail_next` answers: a job that failed for its own reasons, the GPU is fine.
JOB_FAILED_BODY = {"detail": "Transcription failed: ffmpeg exited with status 1"}
# The real WhisperX container's default waiting room (app/config.py).
DEFAULT_MAX_QUEUE = 4
# nginx's code for "client closed the request", recorded when a client aborts.
CLIENT_CLOSED = 499


class Fault(StrEnum):
    """Failure modes a simulated service can be switched into."""

    NONE = "none"
    DOWN = "down"
    SLOW = "slow"
    WEDGE = "wedge"
    RESET = "reset"
    MALFORMED = "malformed"


@dataclass(slots=True)
class RecordedRequest:
    """What one request delivered, so tests can assert on client behaviour."""

    method: str
    path: str
    started_at: float
    content_type: str | None = None
    content_length: int | None = None
    transfer_encoding: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    field_list: list[tuple[str, str]] = field(default_factory=list)
    file_name: str | None = None
    file_content_type: str | None = None
    file_bytes: int = 0
    bytes_received: int = 0
    first_audio_byte_at: float | None = None
    upload_done_at: float | None = None
    finished_at: float | None = None
    status: int | None = None
    # The GPU job it ran (gpu.py): its planned GPU time and when it held the GPU.
    gpu_s: float | None = None
    gpu_started_at: float | None = None
    gpu_finished_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON view for the /_sim/requests endpoint."""
        return {
            "method": self.method,
            "path": self.path,
            "content_type": self.content_type,
            "content_length": self.content_length,
            "transfer_encoding": self.transfer_encoding,
            "fields": dict(self.fields),
            "file_name": self.file_name,
            "file_content_type": self.file_content_type,
            "file_bytes": self.file_bytes,
            "bytes_received": self.bytes_received,
            "started_at": self.started_at,
            "first_audio_byte_at": self.first_audio_byte_at,
            "upload_done_at": self.upload_done_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "gpu_s": self.gpu_s,
            "gpu_started_at": self.gpu_started_at,
            "gpu_finished_at": self.gpu_finished_at,
        }


@dataclass(slots=True)
class ServiceState:
    """Mutable knobs and records of one simulated service."""

    name: str = "service"
    fault: Fault = Fault.NONE
    slow_seconds: float = 5.0
    rtf: float = 0.02
    transcript: str = DEFAULT_TRANSCRIPT
    voices: list[str] = field(default_factory=list)
    speakers: int = 2
    max_diarize_s: float = 720.0
    # False: like an OpenAI-compatible server that renders only json/verbose_json
    # (a text, srt or vtt request is answered with json).
    caption_formats: bool = True
    restarts: int = 0
    down_until: float | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    first_audio_byte_at: float | None = None
    upload_done_at: float | None = None
    audio_started: asyncio.Event = field(default_factory=asyncio.Event)
    api_key: str | None = None  # WhisperX: the bearer key it requires (None: open)
    # Jobs that may wait for the GPU before new ones are refused with 429 (gpu.py).
    max_queue: int = DEFAULT_MAX_QUEUE
    # The next N inference requests fail with a plain 500 (no CUDA fault: a bad job).
    fail_next: int = 0
    # WhisperX voices (see voices.py): diarizer loaded, the embedding of the next clips,
    # the embedding per detected speaker label.
    diarizer: bool = True
    clip_embedding: list[float] | None = None
    speaker_embeddings: dict[str, list[float]] = field(default_factory=dict)
    # What long work meets (0: instant, the tests' default; `--realistic` sets them):
    # WhisperX word alignment's GPU time per audio second, an aligner's first load per
    # language (the languages loaded since the last restart), a restart's model load.
    align_rtf: float = 0.0
    aligner_load_s: float = 0.0
    loaded_aligners: set[str] = field(default_factory=set)
    load_s: float = 0.0
    # WhisperX: the audio seconds of one unit of a ``priority=background`` job (one GPU batch
    # of 16 merged VAD chunks of up to 30 s); voice commands get the GPU between units.
    unit_audio_s: float = 480.0
    # WhisperX's device (whisperx.py): cuda, cpu (runs on the CPU), or cuda_missing (503).
    device: str = "cuda"

    @property
    def is_down(self) -> bool:
        """True while the service drops connections (DOWN or restarting)."""
        if self.fault == Fault.DOWN:
            return True
        return self.down_until is not None and time.monotonic() < self.down_until

    def extra_delay(self) -> float:
        """Seconds added to every answer while SLOW."""
        return self.slow_seconds if self.fault == Fault.SLOW else 0.0

    def processing_delay(self, audio_seconds: float) -> float:
        """GPU time for `audio_seconds` of audio at this service's speed."""
        return audio_seconds * self.rtf + self.extra_delay()

    def restart(self, delay_s: float = 0.0) -> None:
        """Simulate `docker restart`: a wedge is cured, aligners forgotten.

        Down for `delay_s` and then `load_s`: the real containers load their
        models before they listen (uvicorn binds after the app's start-up).
        """
        if self.fault == Fault.WEDGE:
            self.fault = Fault.NONE
        self.restarts += 1
        self.loaded_aligners.clear()
        down_s = delay_s + self.load_s
        self.down_until = time.monotonic() + down_s if down_s > 0 else None

    def reset_records(self) -> None:
        """Forget recorded traffic so a test starts from a clean slate."""
        self.requests.clear()
        self.first_audio_byte_at = None
        self.upload_done_at = None
        self.audio_started.clear()

    def mark_audio_bytes(self, record: RecordedRequest | None) -> None:
        """Note that the first bytes of an uploaded file have arrived."""
        now = time.monotonic()
        self.first_audio_byte_at = now
        self.upload_done_at = None
        if record is not None:
            record.first_audio_byte_at = now
        self.audio_started.set()

    def mark_upload_done(self, record: RecordedRequest | None) -> None:
        """Note that the uploaded file has been read to its end."""
        now = time.monotonic()
        self.upload_done_at = now
        if record is not None:
            record.upload_done_at = now

    def apply(self, changes: Mapping[str, object]) -> None:
        """Validate then apply a /_sim/control body; all-or-nothing.

        Raises ValueError or TypeError (both mean a bad request).
        """
        updates: dict[str, Any] = {}
        for key, value in changes.items():
            match key:
                case "fault":
                    try:
                        updates[key] = Fault(str(value))
                    except ValueError:
                        raise ValueError(
                            f"fault must be one of {[f.value for f in Fault]}"
                        ) from None
                case "slow_seconds" | "rtf" | "align_rtf" | "aligner_load_s" | "load_s":
                    updates[key] = number(key, value)
                case "max_diarize_s" | "unit_audio_s":
                    updates[key] = number(key, value, 0.001)
                case "transcript" | "caption_formats":
                    updates[key] = typed(key, value, str if key == "transcript" else bool)
                case "voices":
                    updates[key] = voice_list(value)
                case "speakers":
                    updates[key] = integer(key, value, 1, 4)
                case "max_queue" | "fail_next":
                    updates[key] = integer(key, value, 0, 1000)
                case "diarizer" | "clip_embedding" | "speaker_embeddings" | "device":
                    updates[key] = parse_voice_knob(key, value)
                case _:
                    raise ValueError(f"unknown control key {key!r}")
        for key, value in updates.items():
            setattr(self, key, value)

    def snapshot(self) -> dict[str, Any]:
        """JSON view for GET /_sim/state."""
        return {
            "service": self.name,
            "fault": str(self.fault),
            "down": self.is_down,
            "slow_seconds": self.slow_seconds,
            "rtf": self.rtf,
            "transcript": self.transcript,
            "voices": list(self.voices),
            "speakers": self.speakers,
            "max_diarize_s": self.max_diarize_s,
            "caption_formats": self.caption_formats,
            "max_queue": self.max_queue,
            "fail_next": self.fail_next,
            "diarizer": self.diarizer,
            "clip_embedding": self.clip_embedding,
            "speaker_embeddings": dict(self.speaker_embeddings),
            "align_rtf": self.align_rtf,
            "aligner_load_s": self.aligner_load_s,
            "loaded_aligners": sorted(self.loaded_aligners),
            "load_s": self.load_s,
            "unit_audio_s": self.unit_audio_s,
            "device": self.device,
            "requests": len(self.requests),
            "restarts": self.restarts,
            "first_audio_byte_at": self.first_audio_byte_at,
            "upload_done_at": self.upload_done_at,
        }


STATE_KEY = web.AppKey("spark_sim_state", ServiceState)
# Handlers still running; a stopped service cancels them (aiohttp lets a
# handler run on after its client hung up, which would leak past a test).
HANDLER_TASKS_KEY = web.AppKey("spark_sim_handler_tasks", set[asyncio.Task[Any]])
# The service's own requests (not /_sim) still being answered, with their handlers:
# a restart drops them, as `docker restart` kills the process serving them.
IN_FLIGHT_KEY = web.AppKey("spark_sim_in_flight", dict[asyncio.Task[Any], web.Request])


def drop_in_flight(app: web.Application) -> int:
    """Reset every connection the service is answering and stop its handler; how many."""
    in_flight = app[IN_FLIGHT_KEY]
    dropped = list(in_flight.items())
    for task, request in dropped:
        hard_close(request)
        task.cancel()
    in_flight.clear()
    return len(dropped)


def record_of(request: web.Request) -> RecordedRequest | None:
    """The record the middleware opened for this request, if any."""
    record = request.get(RECORD_KEY)
    return record if isinstance(record, RecordedRequest) else None


def create_fault_middleware(
    state: ServiceState, inference_paths: frozenset[str], wedge_body: Mapping[str, str]
) -> Middleware:
    """Middleware that records every request and applies `state.fault`."""

    @web.middleware
    async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        task = asyncio.current_task()
        tasks = request.app.get(HANDLER_TASKS_KEY)
        if task is None or tasks is None:
            return await _record(request, handler)
        tasks.add(task)
        try:
            return await _record(request, handler)
        finally:
            tasks.discard(task)

    async def _record(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(SIM_PREFIX):
            return await handler(request)
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            started_at=time.monotonic(),
            content_type=request.headers.get("Content-Type"),
            content_length=request.content_length,
            transfer_encoding=request.headers.get("Transfer-Encoding"),
        )
        state.requests.append(record)
        request[RECORD_KEY] = record
        in_flight = request.app.get(IN_FLIGHT_KEY)
        task = asyncio.current_task()
        if in_flight is not None and task is not None:
            in_flight[task] = request
        try:
            response = await _apply_fault(request, handler, record)
        except web.HTTPException as exc:
            record.status = exc.status
            raise
        except ConnectionError:
            # The client went away mid-request; nothing to answer, nothing to log.
            record.status = CLIENT_CLOSED
            return web.Response(status=CLIENT_CLOSED)
        finally:
            if in_flight is not None and task is not None:
                in_flight.pop(task, None)
            record.finished_at = time.monotonic()
            _LOGGER.info(
                "%s %s %s -> %s in %.3fs (%d bytes in, fault=%s)",
                state.name,
                record.method,
                record.path,
                record.status,
                record.finished_at - record.started_at,
                record.bytes_received,
                str(state.fault),
            )
        return response

    async def _apply_fault(
        request: web.Request, handler: Handler, record: RecordedRequest
    ) -> web.StreamResponse:
        if state.is_down:
            hard_close(request)
            record.status = 0
            # Never reaches the client: the connection is already gone.
            return web.Response(status=503)
        inference = request.path in inference_paths
        if inference and state.fault == Fault.WEDGE:
            return await fail(request, record, wedge_body, settle_s=_WEDGE_SETTLE_S)
        if inference and state.fail_next:
            state.fail_next -= 1
            return await fail(request, record, JOB_FAILED_BODY)
        if not inference and (delay := state.extra_delay()):
            await asyncio.sleep(delay)
        response = await handler(request)
        record.status = response.status
        if isinstance(response, web.Response) and not response.prepared and response.status == 200:
            if state.fault == Fault.MALFORMED:
                response = corrupt(response)
            elif state.fault == Fault.RESET:
                return await reset_midway(request, response)
        return response

    return fault_middleware
