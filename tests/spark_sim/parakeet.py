"""Simulated Parakeet container: NeMo parakeet-tdt-0.6b-v3 STT + Sortformer.

Speaks the OpenAI-compatible transcription API and the /v1/audio/diarize
API with the validation, shapes and timing of the real FastAPI service.
One GPU: transcriptions and diarizations queue for it one at a time, and
a full queue is refused with 429 (gpu.py). Its /health says nothing about
the queue, like the real service's: clients must tell busy from wedged
by other means (their own requests in flight, a 429).
"""

from __future__ import annotations

from aiohttp import web

from .audio import recall_speech
from .control import new_service_app
from .faults import STATE_KEY, ServiceState
from .forms import missing_field, parse_float_field, read_form
from .gpu import run_job
from .transcript import (
    MAX_SORTFORMER_SPEAKERS,
    RESPONSE_FORMATS,
    decode_upload,
    speaker_turns,
    transcription_response,
)

MODEL = "nvidia/parakeet-tdt-0.6b-v3"
DIARIZER = "nvidia/diar_sortformer_4spk-v1"
VERSION = "1.0.0"
DEFAULT_RTF = 0.02
# Parakeet v3 auto-detects these 25 European languages and no others.
# fmt: off
LANGUAGES = frozenset(
    {
        "bg", "hr", "cs", "da", "nl", "en", "et", "fi", "fr", "de", "el", "hu", "it",
        "lv", "lt", "mt", "pl", "pt", "ro", "sk", "sl", "es", "sv", "ru", "uk",
    }
)
# fmt: on
TRANSCRIBE_PATH = "/v1/audio/transcriptions"
DIARIZE_PATH = "/v1/audio/diarize"
WEDGE_BODY = {
    "detail": "CUDA error: CUBLAS_STATUS_EXECUTION_FAILED when calling "
    "`cublasSgemm( handle, opa, opb, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc)`"
}
OOM_BODY = {
    "detail": "CUDA out of memory. Tried to allocate 9.54 GiB. GPU 0 has a total capacity of "
    "119.70 GiB of which 2.31 GiB is free."
}


def default_state() -> ServiceState:
    """A healthy Parakeet with the default speed."""
    return ServiceState(name="parakeet", rtf=DEFAULT_RTF)


def _bad_request(detail: str) -> web.Response:
    """FastAPI-style 400."""
    return web.json_response({"detail": detail}, status=400)


async def _health(request: web.Request) -> web.Response:
    """GET /health: stays OK in a wedge, which is why wedges are nasty."""
    return web.json_response(
        {"status": "ok", "model": MODEL, "diarizer": DIARIZER, "version": VERSION}
    )


async def _transcriptions(request: web.Request) -> web.Response:
    """POST /v1/audio/transcriptions (OpenAI-compatible)."""
    state = request.app[STATE_KEY]
    form = await read_form(request)
    if form.file is None:
        return missing_field("file")
    language = form.get("language")
    if language is not None:
        if not language.strip():
            return _bad_request("language must not be empty")
        if language not in LANGUAGES:
            supported = ", ".join(sorted(LANGUAGES))
            return _bad_request(
                f"Unsupported language '{language}'. Parakeet v3 supports: {supported}"
            )
    response_format = form.get("response_format") or "json"
    if response_format not in RESPONSE_FORMATS:
        return _bad_request(f"Unsupported response_format '{response_format}'")
    if not state.caption_formats and response_format in ("text", "srt", "vtt"):
        response_format = "json"  # a server that only renders json/verbose_json
    temperature = parse_float_field(form, "temperature")
    if isinstance(temperature, web.Response):
        return temperature
    info = decode_upload(form.file.data)
    if isinstance(info, web.Response):
        return info
    seconds = state.processing_delay(info.duration)
    if (refused := await run_job(request, seconds)) is not None:
        return refused
    return transcription_response(
        response_format,
        recall_speech(info.pcm) or state.transcript,
        info.duration,
        language or "en",
        MODEL,
    )


async def _diarize(request: web.Request) -> web.Response:
    """POST /v1/audio/diarize: Sortformer speaker turns, at most 4 speakers."""
    state = request.app[STATE_KEY]
    form = await read_form(request)
    if form.file is None:
        return missing_field("file")
    info = decode_upload(form.file.data)
    if isinstance(info, web.Response):
        return info
    if info.duration > state.max_diarize_s:
        # Sortformer memory grows with length; long files run the GPU dry.
        seconds = state.processing_delay(state.max_diarize_s)
        if (refused := await run_job(request, seconds)) is not None:
            return refused
        return web.json_response(OOM_BODY, status=500)
    seconds = state.processing_delay(info.duration)
    if (refused := await run_job(request, seconds)) is not None:
        return refused
    turns = speaker_turns(info.duration, min(state.speakers, MAX_SORTFORMER_SPEAKERS))
    speakers = sorted({t.speaker for t in turns})
    return web.json_response(
        {
            "segments": [{"start_s": t.start, "end_s": t.end, "speaker": t.speaker} for t in turns],
            "speakers_detected": speakers,
            "duration": round(info.duration, 3),
            "model": DIARIZER,
        }
    )


def create_parakeet_app(state: ServiceState) -> web.Application:
    """The Parakeet container's HTTP API bound to `state`."""
    app = new_service_app(state, frozenset({TRANSCRIBE_PATH, DIARIZE_PATH}), WEDGE_BODY)
    app.router.add_get("/health", _health)
    app.router.add_post(TRANSCRIBE_PATH, _transcriptions)
    app.router.add_post(DIARIZE_PATH, _diarize)
    return app
