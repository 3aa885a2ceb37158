"""Entity and device snapshots: what a user sees in Settings after adding a Spark.

The snapshot is a projection onto the fields users and automations depend on,
so it reads the same on the minimum and the newest HA (whose registry entries
and syrupy serialisers differ).
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

VOLATILE_ATTRIBUTES = {"access_token", "entity_picture"}


async def test_entities_and_devices(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Devices per service and their entities, with names, classes and states."""
    devices: dict[str, Any] = {}
    for device in sorted(
        dr.async_entries_for_config_entry(device_registry, init_integration.entry_id),
        key=lambda d: d.name or "",
    ):
        entities = {}
        for entry in sorted(
            er.async_entries_for_device(entity_registry, device.id), key=lambda e: e.entity_id
        ):
            state = hass.states.get(entry.entity_id)
            assert state is not None
            entities[entry.entity_id] = {
                "unique_id": entry.unique_id,
                "translation_key": entry.translation_key,
                "original_device_class": entry.original_device_class,
                "entity_category": entry.entity_category,
                "has_entity_name": entry.has_entity_name,
                "friendly_name": state.attributes.get("friendly_name"),
                "state": state.state
                if entry.domain == "binary_sensor"
                else "<timestamp or unknown>",
                "attributes": {
                    k: v
                    for k, v in sorted(state.attributes.items())
                    if k not in VOLATILE_ATTRIBUTES
                },
            }
        devices[device.name or ""] = {
            "identifiers": sorted(device.identifiers),
            "manufacturer": device.manufacturer,
            "model": device.model,
            "sw_version": device.sw_version,
            "entry_type": device.entry_type,
            "configuration_url": (device.configuration_url or "").rsplit(":", 1)[0],
            "entities": entities,
        }
    assert devices == snapshot
