"""Who gave the voice command: each Assist command's speaker, found beside its transcription.

While an STT entity uploads a command to be transcribed, a copy of the same
audio goes to WhisperX's embeddings endpoint (on the same Spark); the result
is matched against the enrolled voiceprints. The text never waits for it:
identification finishes on its own, then fires ``spark_audio_speaker_identified``
and updates the STT entity's "last speaker" sensor. Nothing biometric is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import RestoreSensor, SensorEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_connect, async_dispatcher_send

from .const import DOMAIN
from .coordinator import SparkServiceCoordinator
from .data import SparkAudioConfigEntry
from .entity import SparkAudioEntity
from .recent_commands import MAX_COMMAND_BYTES
from .spark import SparkError, WhisperXClient
from .spark.clients.http import SparkServiceClient
from .spark.transcripts.voiceprints import assign_speakers
from .voiceprint_store import VOICEPRINTS_KEY, person_name

_LOGGER = logging.getLogger(__name__)
EVENT_SPEAKER_IDENTIFIED = "spark_audio_speaker_identified"
IDENTIFY_TIMEOUT_S = 30.0
_COMMAND = "command"


@dataclass(frozen=True, slots=True)
class Identification:
    """Who spoke one command: a person (and name) above the threshold, else unknown."""

    person: str | None
    name: str | None
    score: float | None
    """Similarity to the matched person; for an unknown voice, to the closest enrolled one."""


def speaker_signal(stt_unique_id: str) -> str:
    """Dispatcher signal of one STT entity's identifications."""
    return f"{DOMAIN}_speaker_identified_{stt_unique_id}"


class CommandIdentification:
    """The copy of one command's audio on its way to WhisperX, and the task that matches it.

    ``audio`` is the stream to transcribe: it passes every chunk through as is
    and, when identifying, hands a copy to the identification. ``finish()`` after
    the transcription: a command heard to its end is identified in the
    background; an interrupted one is dropped (its identification cancelled).
    The copy holds at most ``MAX_COMMAND_BYTES``: a longer stream (no command is;
    any HA user may post one to the STT entity) is not identified, its copy
    dropped, so memory stays bounded however slowly WhisperX reads it.

    Parakeet's commands are copied to WhisperX as they stream (another
    container). WhisperX's own are sent once the text is back: the container
    runs one GPU job at a time, and the text must not queue behind the embedding.
    """

    def __init__(self, audio: AsyncIterable[bytes]) -> None:
        """Wrap ``audio``; nothing is copied until ``start``."""
        self._source = audio
        self._copy: asyncio.Queue[bytes | None] | None = None
        self._copied = 0
        self.held_bytes = 0
        """Bytes of the copy in memory now, not yet read by the identification."""
        self._complete = False
        self._task: asyncio.Task[None] | None = None
        self._text_done = asyncio.Event()
        self.audio: AsyncIterator[bytes] = self._tee()

    @classmethod
    def begin(
        cls,
        hass: HomeAssistant,
        coordinator: SparkServiceCoordinator[Any],
        stt_entity_id: str,
        stt_unique_id: str,
        audio: AsyncIterable[bytes],
    ) -> CommandIdentification:
        """Start identifying alongside, when somebody is enrolled and WhisperX is reachable."""
        identification = cls(audio)
        store = hass.data.get(VOICEPRINTS_KEY)
        whisperx = coordinator.config_entry.runtime_data.whisperx
        if store and store.voiceprints and whisperx is not None and whisperx.last_update_success:
            identification.start(
                hass,
                whisperx.client,
                stt_entity_id,
                stt_unique_id,
                after_text=coordinator is whisperx,
            )
        return identification

    async def _tee(self) -> AsyncIterator[bytes]:
        async for chunk in self._source:
            if self._copy is not None:
                self._hand_on(chunk, self._copy)
            yield chunk
        self._complete = True
        if self._copy is not None:
            self._copy.put_nowait(None)

    def _hand_on(self, chunk: bytes, queue: asyncio.Queue[bytes | None]) -> None:
        """Queue a copy of ``chunk``; past ``MAX_COMMAND_BYTES`` give identifying up."""
        self._copied += len(chunk)
        if self._copied <= MAX_COMMAND_BYTES:
            queue.put_nowait(chunk)
            self.held_bytes += len(chunk)
            return
        _LOGGER.debug("A command longer than %d bytes is not identified", MAX_COMMAND_BYTES)
        self._copy = None
        while not queue.empty():
            queue.get_nowait()
        self.held_bytes = 0
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def copy(self) -> AsyncIterator[bytes]:
        """From now on, every chunk of ``audio`` also comes out here (once, in order)."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._copy = queue

        async def copied() -> AsyncIterator[bytes]:
            while (chunk := await queue.get()) is not None:
                self.held_bytes -= len(chunk)
                yield chunk

        return copied()

    def start(
        self,
        hass: HomeAssistant,
        client: WhisperXClient,
        stt_entity_id: str,
        stt_unique_id: str,
        *,
        after_text: bool = False,
    ) -> None:
        """Upload the copy in a background task: as it comes, or once ``finish`` says so."""
        audio = self.copy()

        async def identify() -> None:
            if after_text:
                await self._text_done.wait()
            await _identify(hass, client, audio, stt_entity_id, stt_unique_id)

        self._task = hass.async_create_background_task(
            identify(), f"{DOMAIN} speaker identification"
        )

    def finish(self) -> None:
        """Let a complete command's identification run on; cancel an interrupted one."""
        if self._task is None:
            return
        if self._complete:
            self._text_done.set()
        else:
            self._task.cancel()


async def _identify(
    hass: HomeAssistant,
    client: WhisperXClient,
    audio: AsyncIterator[bytes],
    stt_entity_id: str,
    stt_unique_id: str,
) -> None:
    try:
        clip = await client.embedding(
            audio, filename="command.wav", content_type="audio/wav", timeout=IDENTIFY_TIMEOUT_S
        )
    except SparkError as err:
        _LOGGER.debug("Could not identify the speaker of a command on %s: %s", stt_entity_id, err)
        return
    prints = hass.data[VOICEPRINTS_KEY].voiceprints
    match = assign_speakers({_COMMAND: clip.vector}, prints).get(_COMMAND)
    if match is not None:
        found = Identification(match.person, person_name(hass, match.person), match.score)
    else:
        closest = max((vp.similarity(clip.vector) for vp in prints.values()), default=None)
        found = Identification(None, None, closest)
    registered = er.async_get(hass).async_get(stt_entity_id)
    hass.bus.async_fire(
        EVENT_SPEAKER_IDENTIFIED,
        {
            "entity_id": stt_entity_id,
            "device_id": registered.device_id if registered is not None else None,
            "person": found.person,
            "name": found.name,
            "score": None if found.score is None else round(found.score, 3),
        },
    )
    async_dispatcher_send(hass, speaker_signal(stt_unique_id), found)


def last_speaker_sensors(entry: SparkAudioConfigEntry) -> list[SensorEntity]:
    """One per STT entity, where the Spark runs WhisperX (the embeddings come from it)."""
    data = entry.runtime_data
    if data.whisperx is None:
        return []
    return [
        LastSpeakerSensor(coordinator)
        for coordinator in (data.parakeet, data.whisperx)
        if coordinator is not None
    ]


class LastSpeakerSensor(SparkAudioEntity, RestoreSensor):
    """Who gave the last voice command to this service's STT entity (None: an unknown voice).

    Restored after a restart: the last speaker is still the last speaker.
    """

    _attr_translation_key = "last_speaker"
    _attr_should_poll = False

    def __init__(self, coordinator: SparkServiceCoordinator[SparkServiceClient]) -> None:
        """Follow the identifications of the STT entity on the same device."""
        super().__init__(coordinator, "last_speaker")
        self._stt_unique_id = f"{coordinator.config_entry.entry_id}_{coordinator.service}_stt"
        self._attr_extra_state_attributes = {"person": None, "score": None}

    async def async_added_to_hass(self) -> None:
        """Restore the last speaker; listen for the STT entity's identifications."""
        await super().async_added_to_hass()
        if (data := await self.async_get_last_sensor_data()) is not None:
            self._attr_native_value = data.native_value
        if (state := await self.async_get_last_state()) is not None:
            self._attr_extra_state_attributes = {
                "person": state.attributes.get("person"),
                "score": state.attributes.get("score"),
            }
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, speaker_signal(self._stt_unique_id), self._identified
            )
        )

    @callback
    def _identified(self, found: Identification) -> None:
        self._attr_native_value = found.name
        self._attr_extra_state_attributes = {
            "person": found.person,
            "score": None if found.score is None else round(found.score, 3),
        }
        self.async_write_ha_state()

    @property
    def available(self) -> bool:
        """Always: the last speaker stays known while the service is down."""
        return True
