"""An upload to ``/audio/transcriptions``, sent on while its fields are still arriving.

When the fields come after the file (curl's usual order), the file is streamed
to the likeliest service while it arrives, the way it would be with the model
first; once the fields are read, a request meant for another service is
replayed from the spool there, a bad one answered as it would have been.
This module is the one owner of that: the request is parsed once, when all of
it is in, and the detour is a value (``Misrouted``), not an error.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant

from ..data import PARAKEET_SLOT, WHISPERX_SLOT, ServiceSlot
from ..spark.clients.transcription import OpenAITranscriptionClient
from ..transcription.plain import RenderedTranscription, transcribe_audio
from ..transcription.request import TranscriptionRequest
from ..transcription.routing import not_offered, offering
from .transcription_form import stt_service, transcription_request
from .upload import Misrouted, Upload
from .upload_form import UploadForm

# The service a file is streamed to while the model field is still to come: Parakeet serves
# the default model and every OpenAI model name.
GUESSES: tuple[ServiceSlot[OpenAITranscriptionClient], ...] = (PARAKEET_SLOT, WHISPERX_SLOT)


async def transcribe_upload(
    hass: HomeAssistant, form: UploadForm, upload: Upload
) -> RenderedTranscription:
    """Transcribe the upload as its form asks, streaming it before the form has ended."""
    name, content_type = form.filename, form.content_type
    model = form.get("model")
    offered = {slot: len(offering(hass, slot)) for slot in GUESSES}
    guess = next((slot for slot in GUESSES if offered[slot]), None)
    if not upload.fields_pending or (model is None and guess is None):
        if upload.fields_pending:  # nothing to stream to: let the fields decide
            await upload.ensure_spooled()
        request = transcription_request(form)
        return await transcribe_audio(hass, upload, name, content_type, request)
    target: ServiceSlot[OpenAITranscriptionClient] | None = guess
    ahead: TranscriptionRequest | None = None
    if model is not None:
        ahead = transcription_request(form)  # a bad field before the file: 400 before any backend
        target = stt_service(model)
    assert target is not None  # streamed somewhere: the model, or the guess
    fields_ahead = form.count
    parsed: list[TranscriptionRequest] = []

    def complete() -> TranscriptionRequest:
        return parsed[0]

    def belongs_here() -> bool:
        # Parsed again only when fields came after the file (the SDK's order sends none).
        if ahead is not None and form.count == fields_ahead:
            parsed.append(ahead)
        else:
            parsed.append(transcription_request(form))
        return complete().model is target

    outcome = await upload.forward_early(
        lambda: transcribe_audio(hass, upload, name, content_type, complete, service=target),
        keep_copy=_may_replay(target, offered),
        belongs_here=belongs_here,
    )
    if not isinstance(outcome, Misrouted):
        return outcome
    request = complete()
    assert request.model is not None
    if not offering(hass, request.model):
        raise not_offered(request.model)
    return await transcribe_audio(hass, upload, name, content_type, request)


def _may_replay(
    chosen: ServiceSlot[OpenAITranscriptionClient],
    offered: dict[ServiceSlot[OpenAITranscriptionClient], int],
) -> bool:
    """Whether the file may have to be sent again: to another Spark, or the other service.

    Only then is it spooled while it streams (disk I/O the usual one-Spark setup skips).
    ``offered``: how many Sparks offer each service, looked up once per request.
    """
    return offered[chosen] > 1 or any(offered[slot] for slot in GUESSES if slot is not chosen)
