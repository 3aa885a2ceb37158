"""A transcription in OpenAI's formats (json, text, srt, vtt, verbose_json), with failover."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.core import HomeAssistant

from ..data import ServiceSlot
from ..spark import SparkResponseError
from ..spark.clients.transcription import OpenAITranscriptionClient
from ..spark.transcripts.formats import render_transcription
from .audio import AudioInput
from .request import TranscriptionRequest
from .routing import Attempt, call_with_failover, upload_timeout


@dataclass(frozen=True, slots=True)
class RenderedTranscription:
    """The answer in the format asked for."""

    content_type: str
    body: bytes


async def transcribe_audio(
    hass: HomeAssistant,
    audio: AudioInput,
    filename: str,
    content_type: str,
    request: TranscriptionRequest | Callable[[], TranscriptionRequest],
    *,
    service: ServiceSlot[OpenAITranscriptionClient] | None = None,
) -> RenderedTranscription:
    """Transcribe ``audio`` on the healthy Spark with the shortest queue, rendered as asked.

    ``request`` given as a callable is read once the audio has gone out (the
    gateway's fields that follow the file); ``service`` then says where the
    audio is sent meanwhile. Failures are ``TranscriptionError``s.
    """

    def asked() -> TranscriptionRequest:
        return request() if callable(request) else request

    options = (lambda: asked().backend) if callable(request) else request.backend
    target = service or asked().model
    if target is None:
        raise ValueError("a plain transcription names its service")

    async def call(attempt: Attempt[OpenAITranscriptionClient]) -> RenderedTranscription:
        client = attempt.coordinator.client
        data = await client.transcribe_raw(
            audio.chunks(),
            options,
            filename=filename,
            content_type=content_type,
            timeout=upload_timeout(client),
        )
        final = asked()
        try:
            rendered = render_transcription(data, final.response_format, final.granularities)
        except (ValueError, TypeError, KeyError) as err:
            raise SparkResponseError(f"not a transcription: {err}", status=200) from err
        return RenderedTranscription(*rendered)

    return await call_with_failover(hass, target, call, can_retry=audio.replayable)
