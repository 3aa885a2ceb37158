"""The ``spark_audio.transcribe`` action: transcribe a media file, optionally write captions."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import voluptuous as vol
from homeassistant.components import media_source
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv

from ..const import DOMAIN, EVENT_TRANSCRIPTION_DONE
from ..data import PARAKEET_SLOT, WHISPERX_SLOT, ServiceSlot
from ..spark import Transcription
from ..spark.clients.transcription import OpenAITranscriptionClient
from ..spark.transcripts.formats import SPEAKER_FORMATS, speaker_json, speaker_srt, speaker_vtt
from .audio import FileAudio
from .caption_files import CaptionTargetError, check_targets, write_captions
from .errors import TranscriptionError
from .limits import active_uploads, upload_limits, upload_slot
from .progress import report_progress
from .request import SpeakerCounts, TranscriptionRequest
from .routing import Attempt, call_with_failover
from .speakers import transcribe_with_speakers
from .spool import SpooledFile
from .units import transcribe_in_units

SERVICE_TRANSCRIBE = "transcribe"
MODELS: dict[str, ServiceSlot[OpenAITranscriptionClient]] = {
    "parakeet": PARAKEET_SLOT,
    "whisperx": WHISPERX_SLOT,
}


def media_id(value: Any) -> str:
    """A path or media-source id; the media selector gives ``{"media_content_id": ...}``."""
    if isinstance(value, dict):
        value = value.get("media_content_id")
    return cv.string(value)


SCHEMA = vol.Schema(
    {
        vol.Required("media"): media_id,
        vol.Optional("model", default="parakeet"): vol.In(list(MODELS)),
        vol.Optional("speakers", default=False): cv.boolean,
        vol.Optional("language"): cv.string,
        vol.Optional("num_speakers"): vol.All(vol.Coerce(int), vol.Range(min=1, max=32)),
        vol.Optional("min_speakers"): vol.All(vol.Coerce(int), vol.Range(min=1, max=32)),
        vol.Optional("max_speakers"): vol.All(vol.Coerce(int), vol.Range(min=1, max=32)),
        vol.Optional("write", default=[]): vol.All(cv.ensure_list, [vol.In(SPEAKER_FORMATS)]),
        # Replace caption files that already exist (else the action refuses them).
        vol.Optional("overwrite", default=False): cv.boolean,
        # False: queue a background job and answer {"job_id": ...} at once.
        vol.Optional("wait", default=True): cv.boolean,
    }
)


async def resolve_media_path(hass: HomeAssistant, media: str) -> Path:
    """A local file under one of HA's media folders, from a path or a media-source id."""
    if media_source.is_media_source_id(media):
        item = media_source.MediaSourceItem.from_uri(hass, media, None)
        source_dir, _, location = item.identifier.partition("/")
        base = hass.config.media_dirs.get(source_dir)
        if item.domain != "media_source" or base is None:
            raise _invalid("media_not_local", media)
        candidate = Path(base, location)
    else:
        candidate = Path(media)
    resolved = await hass.async_add_executor_job(candidate.resolve)
    folders = await hass.async_add_executor_job(
        lambda: [Path(folder).resolve() for folder in hass.config.media_dirs.values()]
    )
    inside = any(resolved.is_relative_to(folder) for folder in folders)
    if not inside or not hass.config.is_allowed_path(str(resolved)):
        raise _invalid("media_not_allowed", media)
    if not await hass.async_add_executor_job(resolved.is_file):
        raise _invalid("media_not_found", media)
    return resolved


def _invalid(key: str, media: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders={"media": media}
    )


def caption_targets(data: Mapping[str, Any], path: Path) -> list[Path]:
    """The caption files the call writes: ``<stem>.<format>`` beside the media file."""
    return [path.with_suffix(f".{fmt}") for fmt in data["write"]]


async def check_caption_targets(hass: HomeAssistant, data: Mapping[str, Any], path: Path) -> None:
    """Refuse the call before any GPU work when its caption files cannot be written."""
    targets = caption_targets(data, path)
    if targets:
        overwrite = bool(data.get("overwrite", False))
        await _captions_job(hass, partial(check_targets, targets, overwrite=overwrite))


async def _captions_job(hass: HomeAssistant, step: Callable[[], None]) -> None:
    """Run a blocking caption-file step in the executor; its refusal as a translated error."""
    try:
        await hass.async_add_executor_job(step)
    except CaptionTargetError as err:
        placeholders = {"file": str(err.target)}
        if err.reason:  # the system refused the write: not the caller's input
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=err.key,
                translation_placeholders={**placeholders, "error": err.reason},
            ) from None
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=err.key,
            translation_placeholders=placeholders,
        ) from None


async def async_transcribe(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    """Transcribe the media file; write the asked caption files next to it."""
    path = await resolve_media_path(hass, call.data["media"])
    await check_caption_targets(hass, call.data, path)
    # A caller that waits takes one of the gateway's slots, as an upload does (a background job
    # is bounded by the job queue instead).
    limits = upload_limits(hass)
    if active_uploads(hass) >= limits.max_concurrent_uploads:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="too_busy",
            translation_placeholders={"limit": str(limits.max_concurrent_uploads)},
        )
    with upload_slot(hass, limits):
        result = await run_transcription(hass, call.data, path)
    hass.bus.async_fire(EVENT_TRANSCRIPTION_DONE, done_event_data(call.data["media"], path, result))
    return result


def done_event_data(
    media: str, path: Path, result: dict[str, Any], job_id: str | None = None
) -> dict[str, Any]:
    """What the done event carries: enough for a notification without reading the files."""
    text = result.get("text") or " ".join(
        str(segment.get("text", "")) for segment in result.get("segments", [])
    )
    return {
        "job_id": job_id,
        "media": media,
        "path": str(path),
        "files": result["files"],
        "duration": result.get("duration"),
        "speakers": result.get("speakers_detected", []),
        "text": text[:500],
    }


async def run_transcription(
    hass: HomeAssistant, data: Mapping[str, Any], path: Path
) -> dict[str, Any]:
    """Transcribe ``path`` with the action's options; write the caption files asked for.

    Captions are written as new ``.part`` files first and moved into place
    only when all are written (see ``caption_files``), so a failure, cancel or
    restart never leaves half a caption set, and no link is ever written through.
    """
    size = (await hass.async_add_executor_job(path.stat)).st_size
    audio = SpooledFile(hass, path, size)  # read in place; never removed
    try:
        request = action_request(data)
        if request.speakers is not None:
            source = FileAudio(audio)
            try:
                transcript = await transcribe_with_speakers(
                    hass, source, path.name, "application/octet-stream", request
                )
            finally:
                await source.close()
            result: dict[str, Any] = speaker_json(transcript)
            writers = {
                "json": lambda: json.dumps(result, indent=2, ensure_ascii=False),
                "srt": lambda: speaker_srt(transcript.segments),
                "vtt": lambda: speaker_vtt(transcript.segments),
            }
        else:
            text = await _plain(hass, request, audio)
            result = {"text": text.text, "language": text.language, "duration": text.duration}
            writers = {}
    except TranscriptionError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="transcription_failed",
            translation_placeholders={"error": err.message},
        ) from err
    report_progress(None, "writing")
    contents = {
        target: writers[fmt]()
        for fmt, target in zip(data["write"], caption_targets(data, path), strict=True)
    }
    if contents:
        overwrite = bool(data.get("overwrite", False))
        await _captions_job(hass, partial(write_captions, contents, overwrite=overwrite))
    result["files"] = [str(target) for target in contents]
    return result


def action_request(data: Mapping[str, Any]) -> TranscriptionRequest:
    """The typed request of the action's (schema-validated) data.

    A speaker-labelled transcript when asked for, or when caption files are to
    be written (captions carry speakers); else plain text from ``model``, in
    ``verbose_json`` with segments for the language and duration it reports.
    """
    language = data.get("language")
    if data["speakers"] or data["write"]:
        speakers = SpeakerCounts(
            data.get("num_speakers"), data.get("min_speakers"), data.get("max_speakers")
        )
        return TranscriptionRequest(language=language, speakers=speakers)
    return TranscriptionRequest(
        MODELS[data["model"]],
        language=language,
        response_format="verbose_json",
        granularities=("segment",),
    )


async def _plain(
    hass: HomeAssistant, request: TranscriptionRequest, audio: SpooledFile
) -> Transcription:
    """Long files in units, so a voice command on the same GPU waits for one unit at most."""

    async def call(attempt: Attempt[OpenAITranscriptionClient]) -> Transcription:
        client = attempt.coordinator.client
        return await transcribe_in_units(hass, client, audio, request.backend, filename="audio")

    assert request.model is not None  # a plain request names its model (action_request)
    return await call_with_failover(hass, request.model, call)
