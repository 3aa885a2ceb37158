"""Simulated WhisperX container (ours: faster-whisper + pyannote + wav2vec2).

One GPU job at a time with a bounded queue (429 when full), like the real
app, so /health can report busy and queue depth while a long diarization
runs. Word alignment (asked words, and always with speakers) adds
``align_rtf`` per audio second to the job, and the first job of a language
since the last restart loads its aligner (``aligner_load_s``), as the real
engine does inside the job. A ``priority=background`` request runs in units of
``unit_audio_s`` of audio (the container's batches of VAD chunks) and lets waiting
voice commands (the default priority) have the GPU between units. Its GPU
self-test (``self_test`` in /health) fails while it is wedged,
as the real container's does when its CUDA context is broken.
"""

from __future__ import annotations

import hmac
import math
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from custom_components.spark_audio.whisperx_container.app import forms as container_forms
from custom_components.spark_audio.whisperx_container.app.engine import CUDA_MISSING
from custom_components.spark_audio.whisperx_container.app.gate import Priority
from custom_components.spark_audio.whisperx_container.app.languages import LANGUAGES

from .audio import recall_speech
from .control import new_service_app
from .faults import STATE_KEY, Fault, ServiceState
from .forms import Form, invalid_field, missing_field, parse_float_field, parse_int_field, read_form
from .gpu import JobSeconds, health_fields, run_job
from .transcript import (
    RESPONSE_FORMATS,
    decode_upload,
    speaker_blocks,
    speaker_turns,
    spread_words,
    transcription_response,
)
from .voices import EMBEDDINGS_PATH, NO_DIARIZER, embeddings, speaker_embeddings

ARCH = "medium"
MODEL = f"whisperx-{ARCH}"
DIARIZER = "pyannote/speaker-diarization-community-1"
# The bundled container's version: the simulated WhisperX is an up-to-date install.
VERSION = (
    (
        Path(__file__).resolve().parents[2]
        / "custom_components/spark_audio/whisperx_container/VERSION"
    )
    .read_text(encoding="utf-8")
    .strip()
)
DEFAULT_RTF = 0.1
SPEAKERS_PATH = "/v1/audio/transcribe-with-speakers"
TRANSCRIBE_PATH = "/v1/audio/transcriptions"
WEDGE_BODY = {"detail": "CUDA error: an illegal memory access was encountered"}
# What whisper "detects" when no language is given.
DETECTED_LANGUAGE = "en"
# The real app's reason: its marker and the engine's detail when torch sees no GPU.
CUDA_MISSING_BODY = {
    "detail": f"{CUDA_MISSING}: torch.cuda.is_available() is false: no GPU is visible in the "
    "container (run it with --gpus all and the NVIDIA container runtime)"
}
JOB_PATHS = frozenset({SPEAKERS_PATH, TRANSCRIBE_PATH, EMBEDDINGS_PATH})


def default_state() -> ServiceState:
    """A healthy WhisperX with the default speed."""
    return ServiceState(name="whisperx", rtf=DEFAULT_RTF)


@web.middleware
async def _require_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Like the real app: with a key set, everything but /health needs the bearer key."""
    key = request.app[STATE_KEY].api_key
    if key is None or request.path == "/health" or request.path.startswith("/_sim/"):
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), key.encode()):
        return web.json_response(
            {"detail": "missing or wrong API key (Authorization: Bearer <key>)"},
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return await handler(request)


def _bad_request(detail: str) -> web.Response:
    """FastAPI-style 400."""
    return web.json_response({"detail": detail}, status=400)


async def _health(request: web.Request) -> web.Response:
    """GET /health: models loaded, device, the GPU self-test (run beside the jobs), the queue.

    The ``device`` knob: ``cpu`` reports a CPU/int8 run (no GPU to self-test),
    ``cuda_missing`` the real app's 503 with its reason and nothing loaded.
    """
    state = request.app[STATE_KEY]
    wedged = state.fault == Fault.WEDGE
    missing = state.device == "cuda_missing"
    on_gpu = state.device == "cuda"
    body = {
        "status": "error" if missing else "ok",
        "whisper_loaded": not missing,
        "diarizer_loaded": not missing,
        "model": ARCH,
        "device": "cpu" if state.device == "cpu" else "cuda",
        "compute_type": None if missing else ("float16" if on_gpu else "int8"),
        "device_error": CUDA_MISSING_BODY["detail"] if missing else None,
        "gpu_ok": on_gpu and not wedged,
        "self_test": ("failed" if wedged else "passed") if on_gpu else "no_gpu",
        "self_test_error": WEDGE_BODY["detail"] if wedged and on_gpu else None,
        "version": VERSION,
        **health_fields(request),
        "auth": state.api_key is not None,
    }
    if missing:
        return web.json_response({**body, **CUDA_MISSING_BODY}, status=503)
    return web.json_response(body)


@web.middleware
async def _refuse_without_cuda(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Like the real app without its GPU: every job 503 with the reason."""
    state = request.app[STATE_KEY]
    if state.device == "cuda_missing" and request.path in JOB_PATHS:
        return web.json_response(CUDA_MISSING_BODY, status=503)
    return await handler(request)


def _job_seconds(state: ServiceState, duration: float, language: str, *, align: bool) -> JobSeconds:
    """The job's GPU time: transcription, then (when it aligns) alignment and a first load.

    Priced when the job reaches the GPU, so only the first job of a language
    pays for its aligner; a restart forgets the loaded ones.
    """

    def priced() -> float:
        seconds = state.processing_delay(duration)
        if align:
            seconds += duration * state.align_rtf
            if language not in state.loaded_aligners:
                state.loaded_aligners.add(language)
                seconds += state.aligner_load_s
        return seconds

    return priced


def _language(form: Form) -> str | web.Response | None:
    """Optional language; whisper auto-detects, but "" is a client bug."""
    language = form.get("language")
    if language is not None and not language.strip():
        return _bad_request("language must not be empty")
    if language is not None and language.strip().lower() not in LANGUAGES:
        return _bad_request(f"Unsupported language {language.strip()[:20]!r}")
    return None if language is None else language.strip().lower()


def _units(form: Form, state: ServiceState, duration: float) -> int | web.Response | None:
    """The container's ``priority``: None for a voice command, else the background job's units."""
    try:
        priority = container_forms.priority(form.get("priority"))
    except container_forms.BadRequest as err:
        return _bad_request(str(err))
    if priority is Priority.INTERACTIVE:
        return None
    return max(1, math.ceil(duration / state.unit_audio_s))


async def _transcribe_with_speakers(request: web.Request) -> web.Response:
    """POST /v1/audio/transcribe-with-speakers: the predecessor's merged shape."""
    state = request.app[STATE_KEY]
    form = await read_form(request)
    if not state.diarizer:
        return web.json_response(NO_DIARIZER, status=503)
    if form.file is None:
        return missing_field("file")
    language = _language(form)
    if isinstance(language, web.Response):
        return language
    with_embeddings = _flag(form, "return_embeddings")
    if isinstance(with_embeddings, web.Response):
        return with_embeddings
    counts: dict[str, int | None] = {}
    for name in ("num_speakers", "min_speakers", "max_speakers"):
        value = parse_int_field(form, name)
        if isinstance(value, web.Response):
            return value
        if value is not None and value < 1:
            return _bad_request(f"{name} must be >= 1")
        counts[name] = value
    low, high = counts["min_speakers"], counts["max_speakers"]
    if low is not None and high is not None and low > high:
        return _bad_request("min_speakers must be <= max_speakers")
    info = decode_upload(form.file.data)
    if isinstance(info, web.Response):
        return info
    speakers = counts["num_speakers"] or max(low or 1, min(high or state.speakers, state.speakers))
    units = _units(form, state, info.duration)
    if isinstance(units, web.Response):
        return units
    text = recall_speech(info.pcm) or state.transcript
    language = language or DETECTED_LANGUAGE
    seconds = _job_seconds(state, info.duration, language, align=bool(text.strip()))
    if (refused := await run_job(request, seconds, units=units)) is not None:
        return refused
    words = spread_words(text, info.duration)
    blocks = speaker_blocks(words, speaker_turns(info.duration, speakers))
    detected = sorted({str(b["speaker"]) for b in blocks})
    body: dict[str, object] = {
        "duration": round(info.duration, 3),
        "language": language,
        "speakers_detected": detected,
        "segments": blocks,
        "models": {"transcription": MODEL, "diarization": DIARIZER},
    }
    if with_embeddings:
        body["speaker_embeddings"] = speaker_embeddings(state, info.pcm, detected)
    return web.json_response(body)


def _flag(form: Form, name: str) -> bool | web.Response:
    """An optional boolean form field (FastAPI's spellings), or its 422."""
    raw = (form.get(name) or "false").strip().lower()
    if raw in ("true", "1", "yes", "on"):
        return True
    if raw in ("false", "0", "no", "off", ""):
        return False
    return invalid_field(name, raw, "bool_parsing", "Input should be a valid boolean")


async def _transcriptions(request: web.Request) -> web.Response:
    """POST /v1/audio/transcriptions (OpenAI-compatible)."""
    state = request.app[STATE_KEY]
    form = await read_form(request)
    if form.file is None:
        return missing_field("file")
    language = _language(form)
    if isinstance(language, web.Response):
        return language
    response_format = form.get("response_format") or "json"
    if response_format not in RESPONSE_FORMATS:
        return _bad_request(f"Unsupported response_format '{response_format}'")
    if not state.caption_formats and response_format in ("text", "srt", "vtt"):
        response_format = "json"  # a server that only renders json/verbose_json
    temperature = parse_float_field(form, "temperature")
    if isinstance(temperature, web.Response):
        return temperature
    if temperature:  # like the real app: the batched decoder only does temperature 0
        return _bad_request(f"temperature {temperature:g} is not supported")
    info = decode_upload(form.file.data)
    if isinstance(info, web.Response):
        return info
    units = _units(form, state, info.duration)
    if isinstance(units, web.Response):
        return units
    text = recall_speech(info.pcm) or state.transcript
    language = language or DETECTED_LANGUAGE
    with_words = ("timestamp_granularities[]", "word") in form.field_list
    # Like the container: it aligns only for words in verbose_json, and only speech.
    align = with_words and response_format == "verbose_json" and bool(text.strip())
    seconds = _job_seconds(state, info.duration, language, align=align)
    if (refused := await run_job(request, seconds, units=units)) is not None:
        return refused
    return transcription_response(
        response_format, text, info.duration, language, MODEL, with_words=with_words
    )


def create_whisperx_app(state: ServiceState) -> web.Application:
    """The WhisperX container's HTTP API bound to `state`."""
    app = new_service_app(
        state, frozenset({SPEAKERS_PATH, TRANSCRIBE_PATH, EMBEDDINGS_PATH}), WEDGE_BODY
    )
    app.middlewares.append(_require_key)
    app.middlewares.append(_refuse_without_cuda)
    app.router.add_get("/health", _health)
    app.router.add_post(SPEAKERS_PATH, _transcribe_with_speakers)
    app.router.add_post(TRANSCRIBE_PATH, _transcriptions)
    app.router.add_post(EMBEDDINGS_PATH, embeddings)
    return app
