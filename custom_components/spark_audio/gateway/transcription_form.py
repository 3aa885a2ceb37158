"""A transcription form's fields as the typed request: parsed once, every problem a 400."""

from __future__ import annotations

from dataclasses import replace

from ..data import PARAKEET_SLOT, WHISPERX_SLOT, ServiceSlot
from ..spark.clients.transcription import OpenAITranscriptionClient
from ..spark.transcripts.formats import SPEAKER_FORMATS, TRANSCRIPTION_FORMATS
from ..transcription.request import SpeakerCounts, TranscriptionRequest
from .errors import GatewayError, bad_request
from .upload_form import UploadForm

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


def stt_service(model: str | None) -> ServiceSlot[OpenAITranscriptionClient]:
    """The service an OpenAI ``model`` names: 400 when missing, 404 when unknown."""
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


def transcription_request(form: UploadForm) -> TranscriptionRequest:
    """The fields of ``/audio/transcriptions``."""
    response_format = form.choice("response_format", TRANSCRIPTION_FORMATS, "json")
    temperature: float | None = None
    if (raw := form.get("temperature")) is not None:
        try:
            temperature = float(raw)
        except ValueError as err:
            raise bad_request("temperature must be a number", param="temperature") from err
        if not 0 <= temperature <= 1:
            raise bad_request("temperature must be between 0 and 1", param="temperature")
    request = TranscriptionRequest(
        language=form.get("language"),
        prompt=form.get("prompt"),
        temperature=temperature,
        response_format=response_format,
        granularities=tuple(form.fields.get("timestamp_granularities[]", [])),
    )
    # The model last: a bad option is answered before an unknown model (as it always was).
    return replace(request, model=stt_service(form.get("model")))


def speaker_request(form: UploadForm) -> TranscriptionRequest:
    """The fields of ``/audio/transcribe-with-speakers``."""
    counts: dict[str, int | None] = {}
    for name in ("num_speakers", "min_speakers", "max_speakers"):
        raw = form.get(name)
        if raw is None or raw == "":
            counts[name] = None
            continue
        try:
            count = int(raw)
        except ValueError as err:
            raise bad_request(f"{name} must be a whole number", param=name) from err
        if not 1 <= count <= 32:
            raise bad_request(f"{name} must be between 1 and 32", param=name)
        counts[name] = count
    speakers = SpeakerCounts(**counts)
    return TranscriptionRequest(
        language=form.get("language"),
        response_format=form.choice("response_format", SPEAKER_FORMATS, "json"),
        speakers=speakers,
    )
