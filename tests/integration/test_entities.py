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
# Domains whose state does not depend on timing (latencies and timestamps do).
STABLE_STATES = {"binary_sensor", "switch"}


def stable(entity: er.RegistryEntry) -> bool:
    """Whether the entity's state is the same on every run (no latency or time)."""
    return entity.domain in STABLE_STATES or entity.original_device_class == "enum"


async def test_entities_and_devices(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Devices per service and their entities, with names, classes and states."""
    await hass.async_block_till_done(wait_background_tasks=True)
    assert project(hass, init_integration, entity_registry, device_registry) == snapshot


async def test_entities_with_ssh(
    hass: HomeAssistant,
    ssh_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """With SSH the devices gain container, restart and switch entities."""
    ssh_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert project(hass, ssh_entry, entity_registry, device_registry) == snapshot
    await hass.config_entries.async_unload(ssh_entry.entry_id)


def project(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> dict[str, Any]:
    """The fields users and automations depend on, stable across HA versions."""
    devices: dict[str, Any] = {}
    for device in sorted(
        dr.async_entries_for_config_entry(device_registry, entry.entry_id),
        key=lambda d: d.name or "",
    ):
        entities = {}
        for entity in sorted(
            er.async_entries_for_device(entity_registry, device.id), key=lambda e: e.entity_id
        ):
            state = hass.states.get(entity.entity_id)
            assert state is not None
            entities[entity.entity_id] = {
                "unique_id": entity.unique_id,
                "translation_key": entity.translation_key,
                "original_device_class": entity.original_device_class,
                "entity_category": entity.entity_category,
                "has_entity_name": entity.has_entity_name,
                "friendly_name": state.attributes.get("friendly_name"),
                "state": state.state if stable(entity) else "<varies>",
                # Newer HA hands attribute keys as StrEnum members (EntityStateAttribute),
                # which syrupy prints differently; users and templates see the plain string.
                "attributes": {
                    str(k): v
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
    return devices
