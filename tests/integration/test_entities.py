"""Entity and device snapshots: what a user sees in Settings after adding a Spark.

The snapshot is a projection onto the fields users and automations depend on,
so it reads the same on the minimum and the newest HA (whose registry entries
and syrupy serialisers differ).
"""

from __future__ import annotations

from typing import Any

import pytest_socket
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.spark_audio.const import DOMAIN
from custom_components.spark_audio.data import async_entry_device
from tests.integration.conftest import entry_data
from tests.spark_sim.server import SparkSim

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
        entities: dict[str, dict[str, Any]] = {}
        for entity in sorted(
            er.async_entries_for_device(entity_registry, device.id, include_disabled_entities=True),
            key=lambda e: e.entity_id,
        ):
            state = hass.states.get(entity.entity_id)
            if entity.disabled_by is not None:  # off by default: no state to show
                assert state is None
                entities[entity.entity_id] = {
                    "unique_id": entity.unique_id,
                    "translation_key": entity.translation_key,
                    "entity_category": entity.entity_category,
                    "disabled_by": entity.disabled_by,
                }
                continue
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


async def test_two_sparks_side_by_side(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Two Sparks: every device and entity id names its Spark, no ``_2``; renames follow."""
    pytest_socket.socket_allow_hosts(["127.0.0.1", "127.0.0.2"])
    second_sim = SparkSim(host="127.0.0.2", with_whisperx=False)
    await second_sim.start()
    office = MockConfigEntry(
        domain=DOMAIN,
        title="Office Spark",
        unique_id=ssh_entry.unique_id,
        data=dict(ssh_entry.data),
        entry_id="01OFFICE",
    )
    lab = MockConfigEntry(
        domain=DOMAIN,
        title="Lab",
        unique_id="127.0.0.2",
        data={**entry_data(second_sim), "host": "127.0.0.2"},
        entry_id="01LAB",
    )
    try:
        for entry in (office, lab):
            entry.add_to_hass(hass)
            assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)

        for entry, slug in ((office, "office_spark"), (lab, "lab")):
            devices = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
            hub = async_entry_device(hass, entry.entry_id, (DOMAIN, entry.entry_id))
            assert hub is not None
            assert hub.name == entry.title
            services = [d for d in devices if d.id != hub.id]
            assert services
            for device in services:
                assert device.via_device_id == hub.id
                assert device.name is not None
                assert device.name.startswith(f"{entry.title} "), device.name
            entities = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
            assert entities
            for entity in entities:
                assert entity.entity_id.split(".", 1)[1].startswith(f"{slug}_"), entity.entity_id
                assert not entity.entity_id.endswith("_2"), entity.entity_id
                if (state := hass.states.get(entity.entity_id)) is not None:
                    assert state.name.startswith(entry.title), state.name
        assert hass.states.get("stt.office_spark_parakeet_speech_to_text") is not None
        assert hass.states.get("stt.lab_parakeet_speech_to_text") is not None
        assert hass.states.get("sensor.office_spark_whisperx_install") is not None
        assert hass.states.get("binary_sensor.lab_magpie_connectivity") is not None
        names = [
            d.name
            for e in (office, lab)
            for d in dr.async_entries_for_config_entry(device_registry, e.entry_id)
        ]
        assert len(names) == len(set(names))

        # Renaming the entry (HA's UI) renames its devices; entity ids stay put.
        hass.config_entries.async_update_entry(lab, title="Garage")
        await hass.async_block_till_done(wait_background_tasks=True)
        hub = async_entry_device(hass, lab.entry_id, (DOMAIN, lab.entry_id))
        assert hub is not None
        assert hub.name == "Garage"
        parakeet = async_entry_device(hass, lab.entry_id, (DOMAIN, "01LAB_parakeet"))
        assert parakeet is not None
        assert parakeet.name == "Garage Parakeet"
        assert hass.states.get("stt.lab_parakeet_speech_to_text") is not None
    finally:
        for entry in (office, lab):
            if entry.state.recoverable:
                await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        await second_sim.stop()
