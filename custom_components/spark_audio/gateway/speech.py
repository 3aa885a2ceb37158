"""OpenAI ``/audio/speech`` on Magpie: request validation, voice mapping, streamed encoding."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.core import HomeAssistant

from ..const import CONF_DEFAULT_VOICE, DEFAULT_VOICE
from ..data import MAGPIE_SLOT
from ..spark import MagpieClient, SparkError, VoiceCatalog
from ..spark.clients.magpie import DEFAULT_SAMPLE_RATE, MAX_TEXT_CHARS
from ..spark.clients.magpie_sentences import split_sentences
from ..spark.wav import wav_header
from ..transcription.routing import Attempt, call_with_failover, map_spark_error
from .errors import GatewayError, bad_request

_LOGGER = logging.getLogger(__name__)

OPENAI_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"}
)
OPENAI_TTS_MODELS = frozenset({"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "magpie"})
MAX_INPUT_CHARS = 100_000
PCM_RATE = 24000  # OpenAI's "pcm" is 24 kHz 16-bit mono
# ffmpeg output arguments per OpenAI response_format (None: served without ffmpeg).
ENCODERS: dict[str, list[str] | None] = {
    "mp3": ["-f", "mp3"],
    "opus": ["-c:a", "libopus", "-f", "ogg"],
    "aac": ["-c:a", "aac", "-f", "adts"],
    "flac": ["-f", "flac"],
    "wav": None,
    "pcm": None,
}
CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
_READ = 64 * 1024


@dataclass(frozen=True, slots=True)
class SpeechRequest:
    """A validated OpenAI speech request."""

    input: str
    voice: str | None
    model: str | None
    response_format: str
    speed: float

    @classmethod
    def parse(cls, body: Any) -> SpeechRequest:
        """Validate the JSON body; every problem is a 400 naming the field."""
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object")
        text = body.get("input")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("input must be a non-empty string", param="input")
        if len(text) > MAX_INPUT_CHARS:
            raise bad_request(
                f"input is {len(text)} characters; at most {MAX_INPUT_CHARS}", param="input"
            )
        for name in ("voice", "model", "instructions"):
            if body.get(name) is not None and not isinstance(body[name], str):
                raise bad_request(f"{name} must be a string", param=name)
        response_format = body.get("response_format") or "mp3"
        if response_format not in ENCODERS:
            raise bad_request(
                f"response_format must be one of {', '.join(ENCODERS)}", param="response_format"
            )
        speed = body.get("speed", 1.0)
        if isinstance(speed, bool) or not isinstance(speed, int | float):
            raise bad_request("speed must be a number", param="speed")
        if not 0.25 <= speed <= 4.0:
            raise bad_request("speed must be between 0.25 and 4.0", param="speed")
        return cls(text, body.get("voice"), body.get("model"), response_format, float(speed))

    @property
    def sample_rate(self) -> int:
        """The rate asked from Magpie: OpenAI's for pcm, Magpie's native one otherwise."""
        return PCM_RATE if self.response_format == "pcm" else DEFAULT_SAMPLE_RATE


@dataclass
class SpeechStream:
    """Synthesis already under way: its first PCM chunk and the rest."""

    first: bytes
    rest: AsyncIterator[bytes]
    attempt: Attempt[MagpieClient]


def pick_voice(speech: SpeechRequest, catalog: VoiceCatalog, default: str) -> str:
    """A Magpie voice id; OpenAI's stock names and "no voice" mean the configured default."""
    requested = speech.voice
    if requested is None and speech.model and catalog.get(speech.model):
        requested = speech.model  # a voice id given as the model
    if requested is None or requested in OPENAI_VOICES:
        if catalog.get(default) is not None or not catalog.voices:
            return default
        return catalog.voices[0].name
    if catalog.get(requested) is None:
        names = sorted({v.base_name for v in catalog.voices})
        raise bad_request(
            f"Unknown voice '{requested}'. Available voices: {', '.join(names)} "
            f"(or an OpenAI voice name for the default voice)",
            param="voice",
            code="unknown_voice",
        )
    return requested


async def open_speech_stream(hass: HomeAssistant, speech: SpeechRequest) -> SpeechStream:
    """Start synthesis on a healthy Magpie and wait for its first audio.

    Waiting for the first chunk keeps every early failure (unknown voice,
    backend down, wedge) answerable as a proper error before any audio is sent.
    """
    await check_encoder(hass, speech.response_format)

    async def start(attempt: Attempt[MagpieClient]) -> SpeechStream:
        client = attempt.coordinator.client
        status = attempt.coordinator.data
        catalog = status.voices if status and status.voices else VoiceCatalog((), ())
        if speech.model and speech.model not in OPENAI_TTS_MODELS and not catalog.get(speech.model):
            raise GatewayError(
                404,
                f"The model '{speech.model}' does not exist; use magpie, tts-1 or a voice id",
                param="model",
                code="model_not_found",
            )
        default = attempt.coordinator.config_entry.options.get(CONF_DEFAULT_VOICE, DEFAULT_VOICE)
        voice = pick_voice(speech, catalog, default)
        rest = _pcm(client, speech, voice)
        try:
            first = await anext(rest)
        except StopAsyncIteration as err:
            raise GatewayError(502, "Magpie returned no audio", code="bad_backend_reply") from err
        return SpeechStream(first, rest, attempt)

    return await call_with_failover(hass, MAGPIE_SLOT, start)


async def _pcm(client: MagpieClient, speech: SpeechRequest, voice: str) -> AsyncIterator[bytes]:
    for sentence in split_sentences(speech.input, MAX_TEXT_CHARS):
        async for chunk in client.synthesize_online(
            sentence, voice=voice, sample_rate_hz=speech.sample_rate
        ):
            yield chunk


async def check_encoder(hass: HomeAssistant, response_format: str) -> str | None:
    """The ffmpeg binary for formats that need it; a clear 400 when there is none."""
    if ENCODERS[response_format] is None:
        return None
    binary = get_ffmpeg_manager(hass).binary
    if await hass.async_add_executor_job(shutil.which, binary) is None:
        raise bad_request(
            f"response_format '{response_format}' needs ffmpeg, which this Home Assistant "
            "does not have; use wav or pcm",
            param="response_format",
            code="unsupported_format",
        )
    return binary


async def write_speech(
    hass: HomeAssistant, request: web.Request, speech: SpeechRequest, stream: SpeechStream
) -> web.StreamResponse:
    """Stream the audio to the client, encoding on the fly when the format needs it."""
    response = web.StreamResponse(
        headers={
            "Content-Type": CONTENT_TYPES[speech.response_format],
            "X-Sample-Rate": str(speech.sample_rate),
        }
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        if (args := ENCODERS[speech.response_format]) is None:
            if speech.response_format == "wav":
                await response.write(wav_header(speech.sample_rate))
            await response.write(stream.first)
            async for chunk in stream.rest:
                await response.write(chunk)
        else:
            binary = await check_encoder(hass, speech.response_format)
            assert binary is not None
            await _encode(binary, args, speech.sample_rate, stream, response)
    except SparkError as err:
        # Headers are gone: all that is left is to cut the stream short and say why.
        error = map_spark_error(err, stream.attempt.coordinator)
        _LOGGER.warning("Speech stream ended early: %s", error.message)
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


async def _encode(
    binary: str,
    args: list[str],
    rate: int,
    stream: SpeechStream,
    response: web.StreamResponse,
) -> None:
    """Pipe PCM through ffmpeg and the encoded bytes to the client, both as they come."""
    process = await asyncio.create_subprocess_exec(
        binary,
        *("-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", str(rate), "-ac", "1"),
        # The input is raw PCM of a known format: nothing to probe. Without these ffmpeg
        # holds its first output back while it "analyses" the stream (~0.4 s of audio).
        *("-probesize", "32", "-analyzeduration", "0"),
        *("-i", "pipe:0", *args, "pipe:1"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    stdin = process.stdin

    async def feed() -> None:
        try:
            stdin.write(stream.first)
            async for chunk in stream.rest:
                stdin.write(chunk)
                await stdin.drain()
        finally:
            with contextlib.suppress(ConnectionError):
                stdin.close()

    feeder = asyncio.create_task(feed())
    try:
        while chunk := await process.stdout.read(_READ):
            await response.write(chunk)
        await feeder
    finally:
        if not feeder.done():
            feeder.cancel()
        if process.returncode is None:
            process.kill()
        await process.wait()
