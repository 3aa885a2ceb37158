"""Client for the Parakeet container: NeMo STT plus the Sortformer diarizer."""

from __future__ import annotations

from typing import Any

from ..errors import SparkResponseError
from ..models import (
    Diarization,
    DiarizationSegment,
    ServiceHealth,
    ServiceStatus,
    load_fields,
)
from .http import HEALTH_TIMEOUT
from .multipart import AudioSource
from .transcription import OpenAITranscriptionClient

DEFAULT_PORT = 8000
MODEL_ID = "parakeet-tdt-0.6b-v3"

# parakeet-tdt-0.6b-v3 detects these 25 European languages by itself.
LANGUAGES: tuple[str, ...] = (
    "bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "hr", "hu", "it",
    "lt", "lv", "mt", "nl", "pl", "pt", "ro", "ru", "sk", "sl", "sv", "uk",
)  # fmt: skip


class ParakeetClient(OpenAITranscriptionClient):
    """Talks to one Parakeet service; transcription comes from the shared base."""

    accepts_prompt = False
    """NeMo's parakeet-tdt has no prompt input: an options ``prompt`` is accepted
    and ignored (nothing is sent) until the service gains one; then flip this."""

    async def status(self) -> ServiceStatus:
        """The health endpoint's answer; this service has nothing else to report."""
        return ServiceStatus(await self.health())

    async def health(self) -> ServiceHealth:
        """``GET /health``; the model names come back in the details."""
        data = await self._get_json("/health", timeout=HEALTH_TIMEOUT)
        return health_from_json(data)

    async def diarize(
        self,
        audio: AudioSource,
        *,
        filename: str = "audio.wav",
        content_type: str = "audio/wav",
        timeout: float | None = None,
    ) -> Diarization:
        """``POST /v1/audio/diarize``: Sortformer speaker turns for the file."""
        data = await self._post_form(
            "/v1/audio/diarize",
            {},
            audio=audio,
            filename=filename,
            content_type=content_type,
            timeout=timeout,
        )
        return parse_diarization(data)


def health_from_json(data: dict[str, Any]) -> ServiceHealth:
    """A 200 health body is healthy unless it says otherwise (busy/queue read where present)."""
    status = str(data.get("status", "ok")).lower()
    model = data.get("model")
    version = data.get("version")
    return ServiceHealth(
        ready=status in ("ok", "ready", "healthy"),
        model=str(model) if model else None,
        version=str(version) if version else None,
        details=data,
        **load_fields(data),
    )


def parse_diarization(data: dict[str, Any]) -> Diarization:
    """Read Sortformer's ``{segments:[{start_s,end_s,speaker}], ...}`` body."""
    try:
        segments = tuple(
            DiarizationSegment(
                start_s=float(s["start_s"]), end_s=float(s["end_s"]), speaker=str(s["speaker"])
            )
            for s in data["segments"]
        )
        duration = None if data.get("duration") is None else float(data["duration"])
    except (KeyError, TypeError, ValueError) as err:
        raise SparkResponseError(f"malformed diarization: {err}", status=200) from err
    speakers = data.get("speakers_detected")
    if not isinstance(speakers, list):
        speakers = sorted({s.speaker for s in segments})
    model = data.get("model")
    return Diarization(
        segments=segments,
        speakers_detected=tuple(str(s) for s in speakers),
        duration=duration,
        model=model if isinstance(model, str) else None,
    )
