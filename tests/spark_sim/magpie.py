"""Simulated Magpie-Multilingual TTS NIM (HTTP API on port 9000).

Answers with real speech from espeak-ng at the requested sample rate, with
the NIM's voice catalogue shape, its validation and its streaming endpoint.
"""

from __future__ import annotations

import asyncio
import math
import time

from aiohttp import web

from .audio import remember_speech, speak_pcm, wav_bytes
from .control import new_service_app
from .fault_answers import hard_close, malformed_response
from .faults import STATE_KEY, Fault, ServiceState
from .forms import Form, read_form

VERSION = "1.3.0"
MODEL = "magpie-tts-multilingual"
DEFAULT_RTF = 0.05
DEFAULT_SAMPLE_RATE = 22050
MAX_TEXT_CHARS = 2000
CHUNK_SECONDS = 0.1
SYNTHESIZE_PATH = "/v1/audio/synthesize"
SYNTHESIZE_ONLINE_PATH = "/v1/audio/synthesize_online"
DEFAULT_VOICES = (
    "Magpie-Multilingual.EN-US.Mia",
    "Magpie-Multilingual.EN-US.Mia.Happy",
    "Magpie-Multilingual.EN-US.Mia.Calm",
    "Magpie-Multilingual.EN-US.Jason",
    "Magpie-Multilingual.EN-US.Jason.Angry",
    "Magpie-Multilingual.ES-US.Diego",
    "Magpie-Multilingual.ES-US.Isabela",
    "Magpie-Multilingual.FR-FR.Pascal",
    "Magpie-Multilingual.FR-FR.Louise",
    "Magpie-Multilingual.DE-DE.Jason",
    "Magpie-Multilingual.DE-DE.Leo",
)
WEDGE_BODY = {"error": "Inference error: CUDA error: an illegal memory access was encountered"}


def default_state() -> ServiceState:
    """A healthy Magpie NIM with the default voice catalogue."""
    return ServiceState(name="magpie", rtf=DEFAULT_RTF, voices=list(DEFAULT_VOICES))


def voice_locale(voice: str) -> str:
    """`Magpie-Multilingual.EN-US.Mia.Happy` → `en-US`."""
    primary, _, region = voice.split(".")[1].partition("-")
    return f"{primary.lower()}-{region.upper()}"


def locales(voices: list[str]) -> list[str]:
    """Locales in order of first appearance, as the NIM lists them."""
    return list(dict.fromkeys(voice_locale(v) for v in voices))


def _error(message: str) -> web.Response:
    """The NIM's 400 answer."""
    return web.json_response({"error": message}, status=400)


async def _ready(request: web.Request) -> web.Response:
    """GET /v1/health/ready."""
    return web.json_response({"status": "ready"})


async def _live(request: web.Request) -> web.Response:
    """GET /v1/health/live."""
    return web.json_response({"status": "live"})


async def _metadata(request: web.Request) -> web.Response:
    """GET /v1/metadata (NIM-like)."""
    return web.json_response({"version": VERSION, "modelInfo": [{"shortName": MODEL}]})


async def _list_voices(request: web.Request) -> web.Response:
    """GET /v1/audio/list_voices: ONE key, a comma-joined locale string."""
    voices = request.app[STATE_KEY].voices
    if not voices:
        return web.json_response({})
    return web.json_response({",".join(locales(voices)): {"voices": list(voices)}})


async def _validate(state: ServiceState, form: Form) -> tuple[str, str, int] | web.Response:
    """Check a synthesis form like the NIM; returns (text, language, rate)."""
    text = form.get("text")
    if text is None or not text.strip():
        return _error("text is required and must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        return _error(f"Text length {len(text)} exceeds the maximum of {MAX_TEXT_CHARS} characters")
    encoding = form.get("encoding") or "LINEAR_PCM"
    if encoding != "LINEAR_PCM":
        return _error(f"Unsupported encoding '{encoding}'; only LINEAR_PCM is supported over HTTP")
    raw_rate = form.get("sample_rate_hz") or str(DEFAULT_SAMPLE_RATE)
    try:
        rate = int(raw_rate)
    except ValueError:
        return _error(f"sample_rate_hz must be an integer, got '{raw_rate}'")
    if not 8000 <= rate <= 48000:
        return _error(f"Unsupported sample_rate_hz {rate}; use 8000..48000")
    language = form.get("language") or "en-US"
    available = locales(state.voices)
    if language not in available:
        return _error(f"Unsupported language '{language}'. Available: {','.join(available)}")
    voice = form.get("voice")
    if voice is None or voice == "":
        voice = next(v for v in state.voices if voice_locale(v) == language)
    elif voice not in state.voices:
        return _error(f"Voice '{voice}' not found")
    elif voice_locale(voice) != language:
        return _error(f"Voice '{voice}' does not support language '{language}'")
    return text, language, rate


async def _render(state: ServiceState, text: str, language: str, rate: int) -> tuple[bytes, float]:
    """Speech PCM and the GPU time still owed for it."""
    began = time.monotonic()
    pcm = await speak_pcm(text, language, rate)
    remember_speech(pcm, text)
    owed = state.processing_delay(len(pcm) / (2 * rate)) - (time.monotonic() - began)
    return pcm, max(0.0, owed)


async def _synthesize(request: web.Request) -> web.Response:
    """POST /v1/audio/synthesize: the whole utterance as one WAV."""
    state = request.app[STATE_KEY]
    checked = await _validate(state, await read_form(request))
    if isinstance(checked, web.Response):
        return checked
    text, language, rate = checked
    pcm, owed = await _render(state, text, language, rate)
    await asyncio.sleep(owed)
    return web.Response(body=wav_bytes(pcm, rate), content_type="audio/wav")


async def _synthesize_online(request: web.Request) -> web.StreamResponse:
    """POST /v1/audio/synthesize_online: headerless 16-bit LPCM in ~0.1 s chunks."""
    state = request.app[STATE_KEY]
    checked = await _validate(state, await read_form(request))
    if isinstance(checked, web.Response):
        return checked
    if state.fault == Fault.MALFORMED:
        return malformed_response()
    text, language, rate = checked
    pcm, owed = await _render(state, text, language, rate)
    chunk_bytes = max(2, int(rate * CHUNK_SECONDS) * 2)
    count = max(1, math.ceil(len(pcm) / chunk_bytes))
    response = web.StreamResponse(headers={"Content-Type": "audio/wav"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for index in range(count):
        # GPU time is spread across chunks, so the first one comes early.
        await asyncio.sleep(owed / count)
        await response.write(pcm[index * chunk_bytes : (index + 1) * chunk_bytes])
        if state.fault == Fault.RESET:
            await asyncio.sleep(0.05)
            hard_close(request)
            return response
    await response.write_eof()
    return response


def create_magpie_app(state: ServiceState) -> web.Application:
    """The Magpie TTS NIM's HTTP API bound to `state`."""
    if not state.voices:
        state.voices = list(DEFAULT_VOICES)
    app = new_service_app(state, frozenset({SYNTHESIZE_PATH, SYNTHESIZE_ONLINE_PATH}), WEDGE_BODY)
    app.router.add_get("/v1/health/ready", _ready)
    app.router.add_get("/v1/health/live", _live)
    app.router.add_get("/v1/metadata", _metadata)
    app.router.add_get("/v1/audio/list_voices", _list_voices)
    app.router.add_post(SYNTHESIZE_PATH, _synthesize)
    app.router.add_post(SYNTHESIZE_ONLINE_PATH, _synthesize_online)
    return app
