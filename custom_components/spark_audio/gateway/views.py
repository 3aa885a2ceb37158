"""OpenAI-compatible HTTP views, behind Home Assistant's auth: HTTP <-> client mapping only."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import HomeAssistantView

from ..const import SparkService
from ..data import loaded_entries
from ..spark.transcripts.formats import speaker_json, speaker_srt, speaker_vtt
from ..transcription.errors import TranscriptionError
from ..transcription.limits import upload_limits, upload_slot
from ..transcription.speakers import transcribe_with_speakers
from ..transcription.spool import remove_stale_spool_files
from .errors import GatewayError, bad_request, error_response
from .routed_upload import transcribe_upload
from .speech import SpeechRequest, open_speech_stream, write_speech
from .transcription_form import PARAKEET_MODEL, WHISPERX_MODEL, speaker_request
from .upload import receive_upload

_LOGGER = logging.getLogger(__name__)
MAX_JSON_BYTES = 1024 * 1024

BASE_URL = "/api/spark_audio/v1"


def async_register_views(hass: HomeAssistant) -> None:
    """Register the gateway (once per HA start); drop spool files a crash left behind."""
    for view in (ModelsView, SpeechView, TranscriptionsView, SpeakersView):
        hass.http.register_view(view())
    hass.async_add_executor_job(remove_stale_spool_files)


class GatewayView(HomeAssistantView):
    """Common error handling: every failure becomes an OpenAI-shaped error."""

    requires_auth = True

    async def _guarded(
        self, handler: Callable[[web.Request], Any], request: web.Request
    ) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except TranscriptionError as err:
            return error_response(err)
        except Exception:
            # A bug, not the client's fault: logged, but still answered in OpenAI's shape.
            _LOGGER.exception("Unexpected error in %s", request.path)
            return error_response(
                GatewayError(500, "Internal error in the gateway", code="internal_error")
            )
        return response


class ModelsView(GatewayView):
    """``GET /models``: STT models and Magpie voices of every configured Spark."""

    url = f"{BASE_URL}/models"
    name = "api:spark_audio:models"

    async def get(self, request: web.Request) -> web.Response:
        """List models, OpenAI style, with a ``kind`` of ``stt`` or ``tts``."""
        hass: HomeAssistant = request.app["hass"]
        models: dict[str, dict[str, Any]] = {}

        def add(model_id: str, kind: str, owner: str) -> None:
            models.setdefault(
                model_id,
                {"id": model_id, "object": "model", "created": 0, "owned_by": owner, "kind": kind},
            )

        for entry in loaded_entries(hass):
            for service, coordinator in entry.runtime_data.coordinators.items():
                if service is SparkService.PARAKEET:
                    add(PARAKEET_MODEL, "stt", "nvidia")
                elif service is SparkService.WHISPERX:
                    add(WHISPERX_MODEL, "stt", "spark_audio")
                else:
                    add("magpie", "tts", "nvidia")
                    voices = coordinator.data.voices if coordinator.data else None
                    for voice in voices.voices if voices else ():
                        add(voice.base_name, "tts", "nvidia")
        return self.json({"object": "list", "data": list(models.values())})


class SpeechView(GatewayView):
    """``POST /audio/speech``: OpenAI TTS on Magpie, streamed as it is synthesized."""

    url = f"{BASE_URL}/audio/speech"
    name = "api:spark_audio:speech"

    async def post(self, request: web.Request) -> web.StreamResponse:
        """Validate, start the synthesis (errors still answerable), then stream."""
        return await self._guarded(self._speak, request)

    async def _speak(self, request: web.Request) -> web.StreamResponse:
        hass: HomeAssistant = request.app["hass"]
        if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
            raise GatewayError(413, "The request body is too large", code="body_too_large")
        raw = bytearray()
        try:
            while chunk := await request.content.read(64 * 1024):
                raw += chunk
                if len(raw) > MAX_JSON_BYTES:
                    raise GatewayError(413, "The request body is too large", code="body_too_large")
        except (ConnectionError, ValueError) as err:
            raise bad_request("The request body was cut off", code="truncated_body") from err
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            raise bad_request("The request body must be a JSON object") from err
        speech = SpeechRequest.parse(body)
        # Synthesis (and its ffmpeg) holds one of the slots uploads take: 429 past the cap.
        with upload_slot(hass, upload_limits(hass)):
            stream = await open_speech_stream(hass, speech)
            return await write_speech(hass, request, speech, stream)


class TranscriptionsView(GatewayView):
    """``POST /audio/transcriptions``: OpenAI multipart, streamed to Parakeet or WhisperX."""

    url = f"{BASE_URL}/audio/transcriptions"
    name = "api:spark_audio:transcriptions"

    async def post(self, request: web.Request) -> web.StreamResponse:
        """Transcribe the uploaded file; the body is never held in memory."""
        return await self._guarded(self._transcribe, request)

    async def _transcribe(self, request: web.Request) -> web.Response:
        hass: HomeAssistant = request.app["hass"]
        async with receive_upload(hass, request, needs=("model",), forward_early=True) as (
            form,
            upload,
        ):
            rendered = await transcribe_upload(hass, form, upload)
        return web.Response(body=rendered.body, headers={"Content-Type": rendered.content_type})


class SpeakersView(GatewayView):
    """``POST /audio/transcribe-with-speakers``: WhisperX, or Parakeet + Sortformer merged."""

    url = f"{BASE_URL}/audio/transcribe-with-speakers"
    name = "api:spark_audio:transcribe_with_speakers"

    async def post(self, request: web.Request) -> web.StreamResponse:
        """Diarized transcript in the predecessor's shape, or speaker-tagged captions."""
        return await self._guarded(self._transcribe, request)

    async def _transcribe(self, request: web.Request) -> web.Response:
        hass: HomeAssistant = request.app["hass"]
        async with receive_upload(hass, request, needs=("response_format",)) as (form, upload):
            asked = speaker_request(form)
            transcript = await transcribe_with_speakers(
                hass, upload, form.filename, form.content_type, asked
            )
        if asked.response_format == "srt":
            return web.Response(text=speaker_srt(transcript.segments), content_type="text/plain")
        if asked.response_format == "vtt":
            return web.Response(text=speaker_vtt(transcript.segments), content_type="text/vtt")
        return self.json(speaker_json(transcript))
