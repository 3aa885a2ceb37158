"""Actions ``enroll_speaker`` and ``forget_speaker``: a person's voiceprint, in and out.

Enrolment sends each media file to the user's own WhisperX, which answers the
voice embedding of the clip (its diarizer's model); the embeddings are folded
into the person's voiceprint in HA's storage. Nothing of it is logged.
"""

from __future__ import annotations

from pathlib import Path

import voluptuous as vol
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .const import DOMAIN
from .data import WHISPERX_SLOT
from .spark import WhisperXClient
from .spark.clients.whisperx import ClipEmbedding
from .transcription.action import media_id, resolve_media_path
from .transcription.errors import TranscriptionError
from .transcription.routing import Attempt, call_with_failover, upload_timeout
from .transcription.spool import SpooledFile
from .voiceprint_store import VOICEPRINTS_KEY

SERVICE_ENROLL_SPEAKER = "enroll_speaker"
SERVICE_FORGET_SPEAKER = "forget_speaker"
MIN_SPEECH_S = 10.0
"""Speech a first enrolment needs in total: shorter samples give unreliable voiceprints."""
MAX_FILES = 20

ENROLL_SCHEMA = vol.Schema(
    {
        vol.Required("person"): cv.entity_domain("person"),
        vol.Required("media"): vol.All(
            cv.ensure_list, vol.Length(min=1, max=MAX_FILES), [media_id]
        ),
    }
)
FORGET_SCHEMA = vol.Schema({vol.Required("person"): cv.entity_domain("person")})


async def async_enroll_speaker(hass: HomeAssistant, call: ServiceCall) -> None:
    """Add the media files' voice to the person's voiceprint (a new one or a better one)."""
    person: str = call.data["person"]
    if hass.states.get(person) is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_person",
            translation_placeholders={"person": person},
        )
    paths = [await resolve_media_path(hass, media) for media in call.data["media"]]
    samples = [await _clip_embedding(hass, path) for path in paths]
    store = hass.data[VOICEPRINTS_KEY]
    heard = sum(sample.duration for sample in samples) + store.enrolled_seconds(person)
    if heard < MIN_SPEECH_S:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_enough_speech",
            translation_placeholders={"seconds": f"{heard:.1f}", "needed": f"{MIN_SPEECH_S:g}"},
        )
    try:
        await store.async_add(person, [(s.vector, s.duration) for s in samples])
    except ValueError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="voiceprint_mismatch",
            translation_placeholders={"person": person},
        ) from err


async def async_forget_speaker(hass: HomeAssistant, call: ServiceCall) -> None:
    """Delete the person's voiceprint; forgetting somebody not enrolled is no error."""
    await hass.data[VOICEPRINTS_KEY].async_forget(call.data["person"])


async def _clip_embedding(hass: HomeAssistant, path: Path) -> ClipEmbedding:
    """The voice embedding of one media file, from WhisperX on a Spark (with failover)."""
    size = (await hass.async_add_executor_job(path.stat)).st_size
    audio = SpooledFile(hass, path, size)  # read in place; never removed

    async def call(attempt: Attempt[WhisperXClient]) -> ClipEmbedding:
        client = attempt.coordinator.client
        return await client.embedding(
            audio.chunks(),
            filename=path.name,
            content_type="application/octet-stream",
            timeout=upload_timeout(client),
        )

    try:
        return await call_with_failover(hass, WHISPERX_SLOT, call)
    except TranscriptionError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="enrolment_failed",
            translation_placeholders={"media": path.name, "error": err.message},
        ) from err
