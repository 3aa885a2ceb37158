"""The home's own words (exposed entity, area and floor names) as a Whisper prompt.

Whisper mishears the words that matter most to Assist: "Küchenlicht",
"Bartholomew's room", "the Hue Go". Its prompt (``initial_prompt``, OpenAI's
``prompt``) biases recognition toward the words it contains, so the WhisperX
STT entity sends the names Assist can act on.

Only what Assist itself may use goes in: floors and areas (Assist matches all
of them) and entities exposed to the ``conversation`` assistant, with their
aliases. An unexposed entity's name never leaves Home Assistant.

HA keeps one name per entity, area and floor (typed by the user, or the
integration's name translated into the server language when the entity was
added), so there is no per-language name to choose: the prompt carries the
names as they exist, whatever the pipeline's language. People say their home's
names the way they named them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from homeassistant.components.homeassistant.const import DATA_EXPOSED_ENTITIES
from homeassistant.components.homeassistant.exposed_entities import (
    async_listen_entity_updates,
    async_should_expose,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import CALLBACK_TYPE, Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import floor_registry as fr

from .const import CONF_STT_VOCABULARY, DEFAULT_STT_VOCABULARY

_LOGGER = logging.getLogger(__name__)

ASSISTANT = "conversation"
"""Exposure settings of Assist (``conversation.DOMAIN``, not imported: it pulls in hassil)."""

WHISPER_PROMPT_TOKENS = 223
"""faster-whisper keeps the last ``448 // 2 - 1`` prompt tokens and drops the rest."""

BYTES_PER_TOKEN = 2.1
"""Fewest UTF-8 bytes per token measured with Whisper's multilingual tokenizer on
over-full home vocabularies (benchmarks/bench_vocabulary.py): Dutch 2.2, Japanese 2.5,
German 2.9, English 3.2, French 3.7, Russian 4.1, less a margin. Per *character* the
spread is far wider (Japanese 1.1 to French 3.5), so bytes are the better proxy for a
byte-level BPE. At the cap the six homes fill 50-94 % of the window."""

MAX_PROMPT_BYTES = int(WHISPER_PROMPT_TOKENS * BYTES_PER_TOKEN) // 10 * 10  # 460
SEPARATOR = ", "

COMMANDED_DOMAINS = frozenset(
    {
        "alarm_control_panel", "button", "climate", "cover", "fan", "humidifier",
        "input_boolean", "input_button", "lawn_mower", "light", "lock", "media_player",
        "scene", "script", "siren", "switch", "todo", "vacuum", "valve", "water_heater",
    }
)  # fmt: skip
"""Domains people address by name in commands ("turn on the Hue Go", "add milk to Groceries")."""


class Tier(IntEnum):
    """How useful a name is to recognise; lower is kept first when the prompt is full."""

    PLACE = 0
    """Floors and areas: few, and almost every command can name one."""
    ALIAS = 1
    """Entity aliases: the user typed them precisely so they could be spoken."""
    COMMANDED = 2
    """Names of exposed entities one switches, opens, plays or runs."""
    OTHER = 3
    """Names of other exposed entities (sensors...): asked about less often."""


@dataclass(frozen=True, slots=True)
class VocabularyWord:
    """One name that may go into the prompt."""

    text: str
    tier: Tier
    generated: bool = False
    """True for names the integration made up; a name the user gave ranks first in its tier."""

    @property
    def rank(self) -> tuple[int, bool, str]:
        """Sort key: tier, then user-given names, then alphabetical so the prompt is stable."""
        return (self.tier, self.generated, self.text.casefold())


@dataclass(frozen=True, slots=True)
class VocabularyPrompt:
    """The prompt and what was left out to fit Whisper's prompt window."""

    text: str
    names: int
    left_out: int


def compose_prompt(
    words: Iterable[VocabularyWord], max_bytes: int = MAX_PROMPT_BYTES
) -> VocabularyPrompt:
    """The most useful distinct names that fit ``max_bytes``, the most useful LAST.

    faster-whisper cuts an over-long prompt from the front, and the words
    nearest the audio weigh most, so the least useful names lead. A name too
    long for the space left is skipped and shorter ones may still fit.
    """
    best: dict[str, VocabularyWord] = {}
    for raw in words:
        text = " ".join(raw.text.split())
        if not text:
            continue
        word = VocabularyWord(text, raw.tier, raw.generated)
        key = text.casefold()
        if key not in best or word.rank < best[key].rank:
            best[key] = word
    kept: list[str] = []
    used = 0
    for word in sorted(best.values(), key=lambda w: w.rank):
        size = len(word.text.encode()) + (len(SEPARATOR) if kept else 0)
        if used + size <= max_bytes:
            kept.append(word.text)
            used += size
    return VocabularyPrompt(
        text=SEPARATOR.join(reversed(kept)), names=len(kept), left_out=len(best) - len(kept)
    )


def _place_words(name: str, aliases: Iterable[str]) -> Iterator[VocabularyWord]:
    yield VocabularyWord(name, Tier.PLACE)
    for alias in aliases:
        yield VocabularyWord(alias, Tier.PLACE)


@callback
def async_collect_words(hass: HomeAssistant) -> list[VocabularyWord]:
    """Every floor and area name and alias, and every Assist-exposed entity's."""
    words: list[VocabularyWord] = []
    for floor in fr.async_get(hass).async_list_floors():
        words.extend(_place_words(floor.name, floor.aliases))
    for area in ar.async_get(hass).async_list_areas():
        words.extend(_place_words(area.name, area.aliases))
    if DATA_EXPOSED_ENTITIES not in hass.data:
        # Exposure settings are not loaded (HA's core integration sets them up before
        # any other): expose nothing rather than guess.
        return words
    registry = er.async_get(hass)
    for state in hass.states.async_all():
        if not async_should_expose(hass, ASSISTANT, state.entity_id):
            continue
        entry = registry.async_get(state.entity_id)
        tier = Tier.COMMANDED if state.domain in COMMANDED_DOMAINS else Tier.OTHER
        # A registry entry without a user-set name shows its integration's name; a
        # state without an entry was named in YAML, by the user.
        generated = entry is not None and not entry.name
        words.append(VocabularyWord(state.name, tier, generated=generated))
        if entry is not None:
            # From HA 2026 an alias may be a sentinel standing for the computed name (already
            # added above): only the aliases a user typed are words.
            words.extend(
                VocabularyWord(alias, Tier.ALIAS)
                for alias in entry.aliases
                if isinstance(alias, str)
            )
    return words


_ENTITY_NAME_FIELDS = ("aliases", "name", "original_name")
_DEVICE_NAME_FIELDS = ("name", "name_by_user")


@callback
def _entity_names_changed(data: er.EventEntityRegistryUpdatedData) -> bool:
    # Exposure defaults written by async_should_expose change only "options": no rebuild.
    return data["action"] != "update" or any(f in data["changes"] for f in _ENTITY_NAME_FIELDS)


@callback
def _device_names_changed(data: dr.EventDeviceRegistryUpdatedData) -> bool:
    return data["action"] == "update" and any(f in data["changes"] for f in _DEVICE_NAME_FIELDS)


@callback
def _state_names_changed(data: EventStateChangedData) -> bool:
    old, new = data["old_state"], data["new_state"]
    return old is None or new is None or old.name != new.name


class AssistVocabulary:
    """The prompt for one STT entity, rebuilt lazily after anything it depends on changes.

    Building walks every state, so it is cached; the cache is dropped on
    exposure changes, registry name/alias changes and entities coming, going
    or being renamed, so the next request sees the change without a restart.
    """

    def __init__(self, hass: HomeAssistant, max_bytes: int = MAX_PROMPT_BYTES) -> None:
        """Nothing is computed until the first request."""
        self._hass = hass
        self._max_bytes = max_bytes
        self._prompt: VocabularyPrompt | None = None

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Follow changes; returns the function that stops following them."""
        bus = self._hass.bus
        unsubs = [
            bus.async_listen(fr.EVENT_FLOOR_REGISTRY_UPDATED, self._async_invalidate),
            bus.async_listen(ar.EVENT_AREA_REGISTRY_UPDATED, self._async_invalidate),
            bus.async_listen(
                er.EVENT_ENTITY_REGISTRY_UPDATED,
                self._async_invalidate,
                event_filter=_entity_names_changed,
            ),
            bus.async_listen(
                dr.EVENT_DEVICE_REGISTRY_UPDATED,
                self._async_invalidate,
                event_filter=_device_names_changed,
            ),
            bus.async_listen(
                EVENT_STATE_CHANGED, self._async_invalidate, event_filter=_state_names_changed
            ),
        ]
        if DATA_EXPOSED_ENTITIES in self._hass.data:
            unsubs.append(
                async_listen_entity_updates(self._hass, ASSISTANT, self._async_invalidate)
            )

        @callback
        def stop() -> None:
            for unsub in unsubs:
                unsub()
            self._prompt = None

        return stop

    @callback
    def _async_invalidate(self, event: Event[Any] | None = None) -> None:
        self._prompt = None

    @callback
    def async_prompt(self) -> VocabularyPrompt:
        """The current prompt (cached until something it depends on changes)."""
        if self._prompt is None:
            self._prompt = compose_prompt(async_collect_words(self._hass), self._max_bytes)
            _LOGGER.debug(
                "Assist vocabulary: %d names in %d bytes, %d left out",
                self._prompt.names,
                len(self._prompt.text.encode()),
                self._prompt.left_out,
            )
        return self._prompt


@callback
def async_vocabulary_diagnostics(hass: HomeAssistant, entry: ConfigEntry[Any]) -> dict[str, Any]:
    """What the STT entities of ``entry`` send as the prompt right now, and to whom."""
    enabled = bool(entry.options.get(CONF_STT_VOCABULARY, DEFAULT_STT_VOCABULARY))
    prompt = compose_prompt(async_collect_words(hass)) if enabled else None
    return {
        "enabled": enabled,
        "prompt": None if prompt is None else prompt.text,
        "prompt_bytes": None if prompt is None else len(prompt.text.encode()),
        "max_bytes": MAX_PROMPT_BYTES,
        "names": None if prompt is None else prompt.names,
        "left_out": None if prompt is None else prompt.left_out,
    }
