"""OpenAI-compatible HTTP views, behind Home Assistant's auth: HTTP <-> client mapping only."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import astuple, dataclass
from typing import Any

from aiohttp import web
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import HomeAssistantView

from ..const import SparkService
from ..data import PARAKEET_SLOT, WHISPERX_SLOT, ServiceSlot, loaded_entries
from ..spark import SparkResponseError
from ..spark.clients.transcription import (
    BackendAsk,
    OpenAITranscriptionClient,
    TranscriptionOptions,
    ask_for_rendering,
)
from ..spark.transcripts.formats import (
    TRANSCRIPTION_FORMATS,
    render_transcription,
    speaker_json,
    speaker_srt,
    speaker_vtt,
)
from ..transcription.routing import (
    Attempt,
    GatewayError,
    bad_request,
    call_with_failover,
    not_offered,
    offering,
    upload_timeout,
)
from ..transcription.speakers import SpeakerRequest, transcribe_with_speakers
from ..transcription.spool import remove_stale_spool_files
from .limits import gateway_limits, upload_slot
from .speech import SpeechRequest, open_speech_stream, write_speech
from .upload import Upload, receive_upload
from .upload_form import UploadForm

_LOGGER = logging.getLogger(__name__)
MAX_JSON_BYTES = 1024 * 1024

BASE_URL = "/api/spark_audio/v1"
PARAKEET_MODEL = "parakeet-tdt-0.6b-v3"
WHISPERX_MODEL = "whisperx"
# OpenAI's own STT model names: clients often cannot change them, so they mean "the default".
OPENAI_STT_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe")
STT_MODELS: dict[str, ServiceSlot[OpenAITranscriptionClient]] = {
    PARAKEET_MODEL: PARAKEET_SLOT,
    "parakeet": PARAKEET_SLOT,
    WHISPERX_MODEL: WHISPERX_SLOT,
    **dict.fromkeys(OPENAI_STT_MODELS, PARAKEET_SLOT),
}
GRANULARITIES = ("word", "segment")
# The service a file is streamed to while the model field is still to come: Parakeet serves
# the default model and every OpenAI model name.
GUESSES = (PARAKEET_SLOT, WHISPERX_SLOT)


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
        except GatewayError as err:
            return err.response()
        except Exception:
            # A bug, not the client's fault: logged, but still answered in OpenAI's shape.
            _LOGGER.exception("Unexpected error in %s", request.path)
            return GatewayError(
                500, "Internal error in the gateway", code="internal_error"
            ).response()
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
        with upload_slot(hass, gateway_limits(hass)):
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
            service = await _routed_service(hass, form, upload)

            async def call(attempt: Attempt[OpenAITranscriptionClient]) -> tuple[str, bytes]:
                client = attempt.coordinator.client
                requested = _transcription_options(form)
                known = requested.backend
                pending = upload.fields_pending
                data = await client.transcribe_raw(
                    upload.chunks(),
                    # Fields after the file may still change the format: then it is sent last.
                    ask=(lambda: _transcription_options(form).ask) if pending else requested.ask,
                    filename=form.filename,
                    content_type=form.content_type,
                    timeout=upload_timeout(client),
                    language=known.language,
                    prompt=known.prompt,
                    temperature=known.temperature,
                    late_options=(lambda: _changed(known, _transcription_options(form).backend))
                    if pending
                    else None,
                )
                options = _transcription_options(form)
                try:
                    return render_transcription(
                        data, options.response_format, options.granularities
                    )
                except (ValueError, TypeError, KeyError) as err:
                    raise SparkResponseError(f"not a transcription: {err}", status=200) from err

            try:
                content_type, body = await call_with_failover(
                    hass, service, call, can_retry=upload.replayable
                )
            except GatewayError:
                if not isinstance(rerouted := upload.error, Rerouted):
                    raise
                upload.error = None  # the whole file is spooled now: replay it where it belongs
                content_type, body = await call_with_failover(
                    hass, rerouted.service, call, can_retry=upload.replayable
                )
        return web.Response(body=body, headers={"Content-Type": content_type})


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
            speakers = SpeakerRequest.parse(form)
            transcript = await transcribe_with_speakers(hass, upload, form, speakers)
        if speakers.response_format == "srt":
            return web.Response(text=speaker_srt(transcript.segments), content_type="text/plain")
        if speakers.response_format == "vtt":
            return web.Response(text=speaker_vtt(transcript.segments), content_type="text/vtt")
        return self.json(speaker_json(transcript))


def _stt_service(model: str | None) -> ServiceSlot[OpenAITranscriptionClient]:
    if not model:
        raise bad_request("You must provide a model parameter", param="model")
    if (service := STT_MODELS.get(model)) is None:
        raise GatewayError(
            404,
            f"The model '{model}' does not exist; use one of {', '.join(sorted(STT_MODELS))}",
            param="model",
            code="model_not_found",
        )
    return service


class Rerouted(GatewayError):
    """The fields after the file named another service than the one it was streamed to."""

    def __init__(self, service: ServiceSlot[OpenAITranscriptionClient]) -> None:
        """Remember where the upload belongs."""
        super().__init__(409, "The request was routed again", code="rerouted")
        self.service = service


async def _routed_service(
    hass: HomeAssistant, form: UploadForm, upload: Upload
) -> ServiceSlot[OpenAITranscriptionClient]:
    """Where the upload goes; checked again once the fields after the file are read.

    When the model comes after the file (curl's usual order), the file is
    streamed to the likeliest service while it arrives, the way it would be
    with the model first; a request meant for another is replayed from the
    spool, a bad one answered as it would have been.
    """
    if upload.fields_pending and form.get("model") is None:
        chosen = next((slot for slot in GUESSES if offering(hass, slot)), None)
        if chosen is None:  # nothing to stream to: let the fields decide
            await upload.ensure_spooled()
            if upload.error is not None:
                raise upload.error
        else:
            upload.keep_copy = _may_replay(hass, chosen)
    else:
        _transcription_options(form)  # a bad field is a 400 before any backend is asked
        chosen = None
    service = chosen or _stt_service(form.get("model"))

    def check() -> None:
        actual = _stt_service(form.get("model"))
        _transcription_options(form)
        if actual is not service:
            raise Rerouted(actual) if offering(hass, actual) else not_offered(actual)

    upload.after_fields = check
    return service


def _may_replay(hass: HomeAssistant, chosen: ServiceSlot[OpenAITranscriptionClient]) -> bool:
    """Whether the file may have to be sent again: to another Spark, or the other service.

    Only then is it spooled while it streams (disk I/O the usual one-Spark setup skips).
    """
    return len(offering(hass, chosen)) > 1 or any(
        offering(hass, slot) for slot in GUESSES if slot is not chosen
    )


def _changed(sent: TranscriptionOptions, now: TranscriptionOptions) -> TranscriptionOptions:
    """The options that arrived (or changed) after the file: only they still need sending."""
    return TranscriptionOptions(
        *(new if new != old else None for old, new in zip(astuple(sent), astuple(now), strict=True))
    )


@dataclass(frozen=True, slots=True)
class RequestedTranscription:
    """A transcription request's optional OpenAI fields, validated."""

    backend: TranscriptionOptions
    """What the model is asked (language, prompt, temperature)."""
    response_format: str
    granularities: list[str]

    @property
    def ask(self) -> BackendAsk:
        """What the backend must return for this answer, and no more."""
        return ask_for_rendering(self.response_format, self.granularities)


def _transcription_options(form: UploadForm) -> RequestedTranscription:
    """The optional OpenAI fields, validated."""
    response_format = form.choice("response_format", TRANSCRIPTION_FORMATS, "json")
    temperature: float | None = None
    if (raw := form.get("temperature")) is not None:
        try:
            temperature = float(raw)
        except ValueError as err:
            raise bad_request("temperature must be a number", param="temperature") from err
        if not 0 <= temperature <= 1:
            raise bad_request("temperature must be between 0 and 1", param="temperature")
    granularities = form.fields.get("timestamp_granularities[]", [])
    if bad := [g for g in granularities if g not in GRANULARITIES]:
        raise bad_request(
            f"timestamp_granularities[] values must be word or segment, not {bad[0]!r}",
            param="timestamp_granularities[]",
        )
    return RequestedTranscription(
        TranscriptionOptions(form.language(), form.get("prompt"), temperature),
        response_format,
        granularities,
    )
