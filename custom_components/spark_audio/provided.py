"""What a setup provides, so that what it no longer provides leaves the entity registry.

Turning a service or SSH off, or Magpie (which the round trip needs), leaves entities in the
registry that no platform adds any more: HA shows them as "no longer provided" forever. Each
platform reports every entity it adds through ``async_add_provided`` (also when it adds none),
and after the platforms are set up the entry's other registry entities of those platforms are
removed. A platform that never reported (its setup failed) keeps its entities.
"""

from __future__ import annotations

from collections.abc import Iterable

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .data import SparkAudioConfigEntry


@callback
def async_add_provided(
    entry: SparkAudioConfigEntry,
    platform: Platform,
    async_add_entities: AddEntitiesCallback,
    entities: Iterable[Entity] = (),
) -> None:
    """Add ``entities`` and remember them as everything ``platform`` provides for ``entry``."""
    added = list(entities)
    entry.runtime_data.provided[platform] = {e.unique_id for e in added if e.unique_id}
    if added:
        async_add_entities(added)


@callback
def async_remove_stale_entities(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> None:
    """Remove the entry's registry entities that a reporting platform no longer provides."""
    registry = er.async_get(hass)
    provided = entry.runtime_data.provided
    for registered in er.async_entries_for_config_entry(registry, entry.entry_id):
        ids = provided.get(Platform(registered.domain)) if registered.domain in Platform else None
        if ids is not None and registered.unique_id not in ids:
            registry.async_remove(registered.entity_id)
