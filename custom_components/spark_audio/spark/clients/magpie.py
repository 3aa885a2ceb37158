"""Client for the Magpie-Multilingual TTS NIM."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..errors import SparkError, SparkResponseError
from ..models import ServiceHealth, ServiceStatus, Voice, VoiceCatalog
from .http import HEALTH_TIMEOUT, SparkServiceClient, read_bounded
from .multipart import multipart_form

DEFAULT_PORT = 9000
DEFAULT_SAMPLE_RATE = 22050
MAX_TEXT_CHARS = 2000
"""The NIM's HTTP API refuses longer texts; callers split at sentence ends."""
SLOWEST_CHARS_PER_S = 2
"""Speech runs at 12 to 15 characters a second; 2 leaves room for slow voices and for
digits and symbols read out as whole words ("%": "percent")."""
MAX_SPEECH_S = MAX_TEXT_CHARS // SLOWEST_CHARS_PER_S
"""The longest one request's speech can be (1,000 s); its WAV is read whole up to that."""
_WAV_HEADER_ALLOWANCE = 4096

SYNTHESIZE_PATH = "/v1/audio/synthesize"
SYNTHESIZE_ONLINE_PATH = "/v1/audio/synthesize_online"
_STREAM_CHUNK = 8192


class MagpieClient(SparkServiceClient):
    """Talks to one Magpie NIM."""

    async def status(self) -> ServiceStatus:
        """Readiness and the voice list together: TTS entities need both on every poll."""
        return ServiceStatus(await self.ready(), await self.list_voices())

    async def ready(self) -> ServiceHealth:
        """``GET /v1/health/ready``, plus the NIM's version when it publishes one."""
        data = await self._get_json("/v1/health/ready", timeout=HEALTH_TIMEOUT)
        ready = str(data.get("status", "")).lower() == "ready"
        if "status" not in data:
            raise SparkResponseError("ready endpoint has no status", status=200)
        version: str | None = None
        model: str | None = None
        try:
            meta = await self._get_json("/v1/metadata", timeout=HEALTH_TIMEOUT)
        except SparkError:
            meta = {}
        if isinstance(meta.get("version"), str):
            version = meta["version"]
        infos = meta.get("modelInfo")
        if isinstance(infos, list) and infos and isinstance(infos[0], dict):
            model = infos[0].get("shortName") or None
        return ServiceHealth(ready=ready, model=model, version=version, details=data)

    async def list_voices(self) -> VoiceCatalog:
        """``GET /v1/audio/list_voices``, whose keys are comma-joined locale lists."""
        data = await self._get_json("/v1/audio/list_voices", timeout=HEALTH_TIMEOUT)
        return parse_voice_catalog(data)

    async def synthesize(
        self,
        text: str,
        *,
        voice: str,
        language: str | None = None,
        sample_rate_hz: int = DEFAULT_SAMPLE_RATE,
        timeout: float | None = None,
    ) -> bytes:
        """``POST /v1/audio/synthesize``: the whole utterance as WAV bytes."""
        form = _synth_form(text, voice, language, sample_rate_hz)
        async with self._request("POST", SYNTHESIZE_PATH, data=form, timeout=timeout) as resp:
            return await read_bounded(resp, max_wav_bytes(sample_rate_hz))

    async def synthesize_online(
        self,
        text: str,
        *,
        voice: str,
        language: str | None = None,
        sample_rate_hz: int = DEFAULT_SAMPLE_RATE,
        timeout: float | None = None,
    ) -> AsyncIterator[bytes]:
        """``POST /v1/audio/synthesize_online``: raw 16-bit mono PCM as it is made.

        ``timeout`` bounds each wait for the next chunk, not the whole stream.
        """
        form = _synth_form(text, voice, language, sample_rate_hz)
        async with self._request(
            "POST", SYNTHESIZE_ONLINE_PATH, data=form, timeout=timeout, stream=True
        ) as resp:
            async for chunk in resp.content.iter_chunked(_STREAM_CHUNK):
                yield chunk


def max_wav_bytes(sample_rate_hz: int) -> int:
    """The largest WAV one request may answer: `MAX_SPEECH_S` of 16-bit mono, plus headers.

    At the default 22,050 Hz that is 44 MB; anything larger is not speech of
    `MAX_TEXT_CHARS` characters, so it is refused rather than read into memory.
    """
    return _WAV_HEADER_ALLOWANCE + 2 * sample_rate_hz * MAX_SPEECH_S


def _synth_form(text: str, voice: str, language: str | None, sample_rate_hz: int) -> Any:
    """Validate a synthesis request before it costs a round trip."""
    if not text.strip():
        raise ValueError("text to synthesize is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"text is {len(text)} characters; Magpie takes at most {MAX_TEXT_CHARS}")
    if language is None:
        parsed = Voice.parse(voice)
        if parsed is None:
            raise ValueError(f"cannot tell the language of voice {voice!r}")
        language = parsed.language
    return multipart_form(
        {
            "text": text,
            "language": language,
            "voice": voice,
            "sample_rate_hz": str(sample_rate_hz),
            "encoding": "LINEAR_PCM",
        }
    )


def parse_voice_catalog(data: dict[str, Any]) -> VoiceCatalog:
    """Flatten ``{"en-US,es-US": {"voices": [...]}}`` into a catalog.

    Languages are the declared locales plus any a voice name implies, in the
    order first seen; names that do not follow Magpie's scheme are skipped.
    """
    languages: dict[str, None] = {}
    voices: dict[str, Voice] = {}
    for locales, payload in data.items():
        for locale in str(locales).split(","):
            if locale.strip():
                languages.setdefault(_normalise_locale(locale.strip()), None)
        names = payload.get("voices") if isinstance(payload, dict) else None
        if not isinstance(names, list):
            raise SparkResponseError(f"voice list entry {locales!r} has no voices", status=200)
        for name in names:
            voice = Voice.parse(str(name))
            if voice is not None:
                voices.setdefault(voice.name, voice)
                languages.setdefault(voice.language, None)
    return VoiceCatalog(languages=tuple(languages), voices=tuple(voices.values()))


def _normalise_locale(locale: str) -> str:
    """``EN-us`` -> ``en-US``."""
    primary, sep, region = locale.partition("-")
    return f"{primary.lower()}{sep}{region.upper()}"
