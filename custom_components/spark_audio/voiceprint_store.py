"""Enrolled voiceprints, kept in Home Assistant's own storage, and naming a transcript's speakers.

Voiceprints are biometric data: they live only in ``.storage/spark_audio.voiceprints``
(written private, never in a config entry, never in diagnostics), are keyed by
``person`` entity id, and are never logged. Since version 1.2 each also keeps
its newest sample embeddings (for leave-one-out); 1.1 voiceprints load without.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.storage import Store
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .spark import SpeakerTranscript
from .spark.transcripts.voiceprints import Voiceprint, assign_speakers, name_speakers

_LOGGER = logging.getLogger(__name__)
STORAGE_KEY = f"{DOMAIN}.voiceprints"
STORAGE_VERSION = 1
STORAGE_MINOR_VERSION = 2
VOICEPRINTS_KEY: HassKey[VoiceprintStore] = HassKey(f"{DOMAIN}_voiceprints")

type Sample = tuple[Sequence[float], float]
"""One enrolment sample: its embedding and the seconds of speech behind it."""


class _VoiceprintStorage(Store[dict[str, Any]]):
    """The stored voiceprints; 1.1 (means only) reads as 1.2 with no kept samples."""

    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> dict[str, Any]:
        if old_major_version > STORAGE_VERSION:
            raise NotImplementedError  # from a newer version of the integration
        return old_data


class VoiceprintStore:
    """One voiceprint per ``person`` entity, loaded once and saved on every change."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Nothing is read until ``async_load``."""
        self._store = _VoiceprintStorage(
            hass,
            STORAGE_VERSION,
            STORAGE_KEY,
            private=True,
            atomic_writes=True,
            minor_version=STORAGE_MINOR_VERSION,
        )
        self._prints: dict[str, Voiceprint] = {}

    async def async_load(self) -> None:
        """Read the stored voiceprints; a damaged one is dropped (named, never its values)."""
        data = await self._store.async_load() or {}
        for person, raw in (data.get("voiceprints") or {}).items():
            try:
                self._prints[str(person)] = Voiceprint.from_dict(raw)
            except (KeyError, TypeError, ValueError):
                _LOGGER.warning("Ignoring the damaged stored voiceprint of %s", person)

    @property
    def voiceprints(self) -> Mapping[str, Voiceprint]:
        """The enrolled voiceprints by ``person`` entity id (read-only view)."""
        return MappingProxyType(self._prints)

    def enrolled_seconds(self, person: str) -> float:
        """Speech already behind ``person``'s voiceprint (0 when not enrolled)."""
        found = self._prints.get(person)
        return found.seconds if found else 0.0

    async def async_add(self, person: str, samples: Sequence[Sample]) -> Voiceprint:
        """Fold ``samples`` into ``person``'s voiceprint (new or existing) and save.

        ValueError when an embedding's length differs from the stored voiceprint
        (another embedding model): nothing is changed then.
        """
        voiceprint = self._prints.get(person)
        for vector, seconds in samples:
            voiceprint = (
                Voiceprint.first(vector, seconds)
                if voiceprint is None
                else voiceprint.add(vector, seconds)
            )
        if voiceprint is None:
            raise ValueError("no samples")
        self._prints[person] = voiceprint
        await self._save()
        return voiceprint

    async def async_forget(self, person: str) -> bool:
        """Delete ``person``'s voiceprint; False when there was none."""
        if self._prints.pop(person, None) is None:
            return False
        await self._save()
        return True

    async def async_rename(self, old: str, new: str) -> None:
        """Keep a voiceprint with its person when the person's entity id changes."""
        if (found := self._prints.pop(old, None)) is not None:
            self._prints[new] = found
            await self._save()

    @callback
    def async_follow_persons(self, hass: HomeAssistant) -> CALLBACK_TYPE:
        """Forget a deleted person's voice; follow a renamed one. Returns the unsubscribe."""

        @callback
        def changed(event: Event[er.EventEntityRegistryUpdatedData]) -> None:
            data = event.data
            if data["action"] == "remove" and data["entity_id"] in self._prints:
                hass.async_create_task(self.async_forget(data["entity_id"]))
            elif data["action"] == "update" and data.get("old_entity_id") in self._prints:
                old = data["old_entity_id"]
                hass.async_create_task(self.async_rename(old, data["entity_id"]))

        return hass.bus.async_listen(er.EVENT_ENTITY_REGISTRY_UPDATED, changed)

    async def _save(self) -> None:
        await self._store.async_save(
            {"voiceprints": {person: vp.as_dict() for person, vp in self._prints.items()}}
        )


def wants_speaker_embeddings(hass: HomeAssistant) -> bool:
    """Whether naming is possible: somebody is enrolled."""
    store = hass.data.get(VOICEPRINTS_KEY)
    return bool(store and store.voiceprints)


def named_transcript(hass: HomeAssistant, transcript: SpeakerTranscript) -> SpeakerTranscript:
    """The transcript with enrolled persons' names in place of the matched speaker labels.

    Unmatched speakers keep their ``Speaker_N`` label. The speaker embeddings
    are dropped either way, so they go no further than this function.
    """
    store = hass.data.get(VOICEPRINTS_KEY)
    matches = (
        assign_speakers(transcript.speaker_embeddings, store.voiceprints)
        if store and transcript.speaker_embeddings
        else {}
    )
    names = {label: (person_name(hass, m.person), m.person) for label, m in matches.items()}
    return name_speakers(transcript, names)


def person_name(hass: HomeAssistant, person: str) -> str:
    """The person's display name; the entity id's object id when the person is gone."""
    state = hass.states.get(person)
    return state.name if state is not None else person.partition(".")[2]
