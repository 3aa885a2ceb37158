"""Setup, unload, not-ready retry, devices and availability."""

from __future__ import annotations

import logging

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN, SparkService
from tests.spark_sim.server import SparkSim

PARAKEET_CONNECTIVITY = "binary_sensor.127_0_0_1_parakeet_connectivity"


async def test_setup_and_unload(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """A reachable Spark loads, creates its entities and unloads cleanly."""
    entry = init_integration
    assert entry.state is ConfigEntryState.LOADED
    for entity_id in (
        PARAKEET_CONNECTIVITY,
        "binary_sensor.127_0_0_1_magpie_connectivity",
        "binary_sensor.127_0_0_1_whisperx_connectivity",
        "stt.127_0_0_1_parakeet_speech_to_text",
        "stt.127_0_0_1_whisperx_speech_to_text",
        "tts.127_0_0_1_magpie_text_to_speech",
    ):
        state = hass.states.get(entity_id)
        assert state is not None, entity_id
        assert state.state != STATE_UNAVAILABLE, entity_id
    assert hass.states.get(PARAKEET_CONNECTIVITY).state == STATE_ON  # type: ignore[union-attr]

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED


async def test_devices_per_service(
    hass: HomeAssistant, init_integration: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    """A hub device for the Spark and one service device under it per service."""
    devices = dr.async_entries_for_config_entry(device_registry, init_integration.entry_id)
    by_name = {d.name: d for d in devices}
    assert set(by_name) == {
        "127.0.0.1",
        "127.0.0.1 Parakeet",
        "127.0.0.1 Magpie",
        "127.0.0.1 WhisperX",
    }
    hub = by_name.pop("127.0.0.1")
    assert hub.model == "DGX Spark"
    assert all(d.entry_type is dr.DeviceEntryType.SERVICE for d in by_name.values())
    assert all(d.via_device_id == hub.id for d in by_name.values())
    assert by_name["127.0.0.1 Parakeet"].model == "nvidia/parakeet-tdt-0.6b-v3"
    assert by_name["127.0.0.1 Parakeet"].sw_version == "1.0.0"
    assert by_name["127.0.0.1 Magpie"].sw_version == "1.3.0"
    assert by_name["127.0.0.1 WhisperX"].model == "whisperx-medium"


async def test_not_ready_when_spark_unreachable(
    hass: HomeAssistant, spark_sim: SparkSim, mock_config_entry: MockConfigEntry
) -> None:
    """No service answering at start: setup retries later, then succeeds."""
    await spark_sim.stop()
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert "127.0.0.1" in (mock_config_entry.reason or "")

    await spark_sim.start()
    await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_one_service_down_at_start(
    hass: HomeAssistant, spark_sim: SparkSim, mock_config_entry: MockConfigEntry
) -> None:
    """A single dead service does not block the others; its entities are unavailable."""
    await spark_sim.stop_service("whisperx")
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert hass.states.get("stt.127_0_0_1_whisperx_speech_to_text").state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    assert hass.states.get("binary_sensor.127_0_0_1_whisperx_connectivity").state == STATE_OFF  # type: ignore[union-attr]
    assert hass.states.get("stt.127_0_0_1_parakeet_speech_to_text").state != STATE_UNAVAILABLE  # type: ignore[union-attr]
    await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_goes_down_and_recovers_with_one_log_line_each(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Entities follow their backend; going down and coming back log once each.

    Polls are triggered directly: moving a frozen clock would also expire the
    HTTP client's own timeouts.
    """
    caplog.set_level(logging.INFO)
    coordinator = init_integration.runtime_data.coordinators[SparkService.PARAKEET]
    await spark_sim.stop_service("parakeet")
    for _ in range(3):
        await coordinator.async_refresh()
        await hass.async_block_till_done()
    assert hass.states.get("stt.127_0_0_1_parakeet_speech_to_text").state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    assert hass.states.get(PARAKEET_CONNECTIVITY).state == STATE_OFF  # type: ignore[union-attr]
    assert hass.states.get("tts.127_0_0_1_magpie_text_to_speech").state != STATE_UNAVAILABLE  # type: ignore[union-attr]
    down_lines = [r for r in caplog.records if "Error fetching Parakeet" in r.getMessage()]
    assert len(down_lines) == 1

    await spark_sim.start_service("parakeet")
    for _ in range(2):
        await coordinator.async_refresh()
        await hass.async_block_till_done()
    assert hass.states.get("stt.127_0_0_1_parakeet_speech_to_text").state != STATE_UNAVAILABLE  # type: ignore[union-attr]
    assert hass.states.get(PARAKEET_CONNECTIVITY).state == STATE_ON  # type: ignore[union-attr]
    up_lines = [r for r in caplog.records if "Fetching Parakeet" in r.getMessage()]
    assert len(up_lines) == 1
    assert "recovered" in up_lines[0].getMessage()


async def test_unique_ids_stable(
    hass: HomeAssistant, init_integration: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """Unique ids hang off the entry id, so a host change keeps every entity."""
    entities = er.async_entries_for_config_entry(entity_registry, init_integration.entry_id)
    per_service = ("connectivity", "wedged", "probe_latency", "deep_check")
    expected = [
        f"{service}_{key}" for service in ("parakeet", "magpie", "whisperx") for key in per_service
    ]
    expected += [
        "parakeet_stt",
        "whisperx_stt",
        "magpie_tts",
        "round_trip_latency",
        "round_trip_rtf",
        "transcription",
        "parakeet_last_speaker",  # who gave the last voice command (WhisperX on the Spark)
        "whisperx_last_speaker",
    ]
    assert sorted(e.unique_id for e in entities) == sorted(
        f"{init_integration.entry_id}_{key}" for key in expected
    )
    assert all(e.platform == DOMAIN for e in entities)


async def test_poll_interval_is_fixed(
    hass: HomeAssistant, spark_sim: SparkSim, mock_config_entry: MockConfigEntry
) -> None:
    """The health poll runs every 30 s; a "scan_interval" left in old options is ignored."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(mock_config_entry, options={"scan_interval": 90})
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    coordinators = mock_config_entry.runtime_data.coordinators.values()
    assert {c.update_interval.total_seconds() for c in coordinators} == {30}
    await hass.config_entries.async_unload(mock_config_entry.entry_id)
