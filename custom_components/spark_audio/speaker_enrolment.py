"""Actions ``enroll_speaker`` and ``forget_speaker``: a person's voiceprint, in and out.

Enrolment sends each media file, or each of the last voice commands an STT
entity kept in memory (opt-in, see ``recent_commands``), to the user's own
WhisperX, which answers the voice embedding of the clip (its diarizer's model);
the embeddings are folded into the person's voiceprint in HA's storage. Commands
used for an enrolment leave memory at once. Nothing of it is logged. Only commands
heard in the last ``MAX_COMMAND_AGE`` are used, and the answer lists every clip
(with a command's age) so the administrator sees what went into the voiceprint.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import voluptuous as vol
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType

from .const import DOMAIN
from .data import WHISPERX_SLOT
from .recent_commands import (
    MAX_COMMAND_AGE,
    MAX_COMMANDS,
    KeptCommand,
    RecentCommands,
    recent_commands,
)
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
        vol.Optional("media"): vol.All(
            cv.ensure_list, vol.Length(min=1, max=MAX_FILES), [media_id]
        ),
        vol.Optional("stt_entity"): cv.entity_domain("stt"),
        vol.Optional("last"): vol.All(vol.Coerce(int), vol.Range(min=1, max=MAX_COMMANDS)),
    }
)
FORGET_SCHEMA = vol.Schema({vol.Required("person"): cv.entity_domain("person")})


@dataclass(frozen=True, slots=True)
class _Clip:
    """One enrolment sample on its way to WhisperX: a name for errors and its audio."""

    name: str
    filename: str
    content_type: str
    chunks: Callable[[], AsyncIterator[bytes]]
    """A fresh stream of the audio per attempt (failover may send it twice)."""
    heard_s_ago: int | None = None
    """A kept command's age when enrolled; None for a media file."""


async def async_enroll_speaker(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    """Add the recordings' or commands' voice to the person's voiceprint (new or better).

    Answers the clips used: name, seconds of speech, and a command's age.
    """
    person: str = call.data["person"]
    if hass.states.get(person) is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_person",
            translation_placeholders={"person": person},
        )
    ring = _command_ring(hass, call.data)
    if ring is None:
        clips = [await _file_clip(hass, media) for media in call.data["media"]]
        return await _enroll(hass, person, clips, "not_enough_speech", {})
    entity_id: str = call.data["stt_entity"]
    async with ring.enrolling:  # a second call waits, then finds these commands gone
        now = dt_util.utcnow()
        commands = ring.last(call.data.get("last"), heard_since=now - MAX_COMMAND_AGE)
        minutes = {"minutes": f"{MAX_COMMAND_AGE.total_seconds() / 60:g}"}
        if not commands:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="no_commands_kept",
                translation_placeholders={"entity": entity_id, **minutes},
            )
        clips = [_command_clip(entity_id, i, commands, now) for i in range(len(commands))]
        placeholders = {"count": str(len(commands)), **minutes}
        answer = await _enroll(hass, person, clips, "not_enough_command_speech", placeholders)
        ring.discard(commands)  # in a voiceprint now: the audio itself is kept no longer
        return answer


async def _enroll(
    hass: HomeAssistant,
    person: str,
    clips: list[_Clip],
    not_enough_key: str,
    placeholders: dict[str, str],
) -> ServiceResponse:
    """Embed the clips on a Spark and fold them into the person's voiceprint, if enough speech.

    Answers what was used: each clip's name, seconds of speech and (a command's) age.
    """
    samples = [await _clip_embedding(hass, clip) for clip in clips]
    store = hass.data[VOICEPRINTS_KEY]
    heard = sum(sample.duration for sample in samples) + store.enrolled_seconds(person)
    if heard < MIN_SPEECH_S:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=not_enough_key,
            translation_placeholders={
                "seconds": f"{heard:.1f}",
                "needed": f"{MIN_SPEECH_S:g}",
                **placeholders,
            },
        )
    try:
        await store.async_add(person, [(s.vector, s.duration) for s in samples])
    except ValueError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="voiceprint_mismatch",
            translation_placeholders={"person": person},
        ) from err
    used: list[JsonValueType] = [
        {
            "clip": clip.name,
            "seconds": round(sample.duration, 1),
            **({} if clip.heard_s_ago is None else {"heard_s_ago": clip.heard_s_ago}),
        }
        for clip, sample in zip(clips, samples, strict=True)
    ]
    return {"person": person, "clips": used, "enrolled_seconds": round(heard, 1)}


def _command_ring(hass: HomeAssistant, data: dict[str, Any]) -> RecentCommands | None:
    """The STT entity's kept commands; None when enrolling from media files.

    Exactly one source: media files, or an STT entity (with ``last``, default all kept).
    """
    entity_id: str | None = data.get("stt_entity")
    if ("media" in data) == (entity_id is not None) or ("last" in data and entity_id is None):
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="enrolment_source")
    if entity_id is None:
        return None
    ring = recent_commands(hass, entity_id)
    if ring is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="commands_not_kept",
            translation_placeholders={"entity": entity_id},
        )
    return ring


async def _file_clip(hass: HomeAssistant, media: str) -> _Clip:
    """A media file as a clip, read in place (never removed)."""
    path = await resolve_media_path(hass, media)
    size = (await hass.async_add_executor_job(path.stat)).st_size
    audio = SpooledFile(hass, path, size)
    return _Clip(path.name, path.name, "application/octet-stream", audio.chunks)


def _command_clip(entity_id: str, index: int, commands: list[KeptCommand], now: datetime) -> _Clip:
    """One kept command (WAV bytes, as sent to be transcribed) as a clip."""
    audio = commands[index].audio
    age = round((now - commands[index].heard_at).total_seconds())

    async def chunks() -> AsyncIterator[bytes]:
        yield audio

    name = f"{entity_id} command {index + 1}/{len(commands)}"
    return _Clip(name, "command.wav", "audio/wav", chunks, heard_s_ago=age)


async def async_forget_speaker(hass: HomeAssistant, call: ServiceCall) -> None:
    """Delete the person's voiceprint; forgetting somebody not enrolled is no error."""
    await hass.data[VOICEPRINTS_KEY].async_forget(call.data["person"])


async def _clip_embedding(hass: HomeAssistant, clip: _Clip) -> ClipEmbedding:
    """The voice embedding of one clip, from WhisperX on a Spark (with failover)."""

    async def call(attempt: Attempt[WhisperXClient]) -> ClipEmbedding:
        client = attempt.coordinator.client
        return await client.embedding(
            clip.chunks(),
            filename=clip.filename,
            content_type=clip.content_type,
            timeout=upload_timeout(client),
        )

    try:
        return await call_with_failover(hass, WHISPERX_SLOT, call)
    except TranscriptionError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="enrolment_failed",
            translation_placeholders={"media": clip.name, "error": err.message},
        ) from err
