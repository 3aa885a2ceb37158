"""Device triggers and system health for the recovery events, in a real Home Assistant."""

from __future__ import annotations

from typing import Any

from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_get_device_automations,
    async_mock_service,
    get_system_health_info,
)

from custom_components.spark_audio.const import DOMAIN, SparkService
from custom_components.spark_audio.data import async_entry_device
from tests.spark_sim.faults import Fault
from tests.spark_sim.server import SparkSim

TRIGGER_TYPES = {"wedge_detected", "service_restarted", "restart_failed", "service_recovered"}


def device_id(hass: HomeAssistant, entry: MockConfigEntry, service: SparkService | None) -> str:
    key = entry.entry_id if service is None else f"{entry.entry_id}_{service}"
    device = async_entry_device(hass, entry.entry_id, (DOMAIN, key))
    assert device is not None
    return device.id


async def test_triggers_offered_on_service_devices(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Each service device offers the four recovery triggers; the hub the transcription ones."""
    for service in SparkService:
        triggers = await async_get_device_automations(
            hass, DeviceAutomationType.TRIGGER, device_id(hass, init_integration, service)
        )
        ours = [t for t in triggers if t["domain"] == DOMAIN]
        # The STT services of a Spark with WhisperX also name who gave a voice command.
        speakers = {"speaker_identified"} if service is not SparkService.MAGPIE else set()
        assert {t["type"] for t in ours} == TRIGGER_TYPES | speakers
        assert all(t["platform"] == "device" for t in ours)
    hub = await async_get_device_automations(
        hass, DeviceAutomationType.TRIGGER, device_id(hass, init_integration, None)
    )
    assert {t["type"] for t in hub if t["domain"] == DOMAIN} == {
        "transcription_done",
        "transcription_failed",
    }


async def test_wedge_and_recovery_fire_the_device_automation(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """An automation on Parakeet's "wedged" and "works again" runs for Parakeet only."""
    await hass.async_block_till_done(wait_background_tasks=True)
    calls: list[ServiceCall] = async_mock_service(hass, "test", "automation")
    parakeet = device_id(hass, init_integration, SparkService.PARAKEET)
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "trigger": {
                        "platform": "device",
                        "domain": DOMAIN,
                        "device_id": parakeet,
                        "type": kind,
                    },
                    "action": {
                        "service": "test.automation",
                        "data_template": {
                            "kind": kind,
                            "reason": "{{ trigger.event.data.reason }}",
                        },
                    },
                }
                for kind in ("wedge_detected", "service_recovered")
            ]
        },
    )
    data = init_integration.runtime_data
    spark_sim.states["magpie"].fault = Fault.WEDGE
    await data.deep[SparkService.MAGPIE].async_probe_now()
    await hass.async_block_till_done()
    assert calls == []  # another device's wedge

    spark_sim.states["parakeet"].fault = Fault.WEDGE
    status = await data.deep[SparkService.PARAKEET].async_probe_now()
    await hass.async_block_till_done()
    assert [c.data for c in calls] == [{"kind": "wedge_detected", "reason": status.error}]

    spark_sim.states["parakeet"].fault = Fault.NONE
    await data.deep[SparkService.PARAKEET].async_probe_now()
    await hass.async_block_till_done()
    assert [c.data["kind"] for c in calls] == ["wedge_detected", "service_recovered"]


async def test_system_health(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """System health lists each Spark: reachable, its services, their last deep check."""
    assert await async_setup_component(hass, "system_health", {})
    await hass.async_block_till_done(wait_background_tasks=True)
    info: dict[str, Any] = await get_system_health_info(hass, DOMAIN)
    assert info["sparks"] == 1
    summary = info["127.0.0.1"]
    assert summary.startswith("reachable (127.0.0.1)")
    for name in ("Parakeet: up, deep check ok at", "Magpie: up", "WhisperX: up"):
        assert name in summary, summary

    spark_sim.states["parakeet"].fault = Fault.WEDGE
    await init_integration.runtime_data.deep[SparkService.PARAKEET].async_probe_now()
    await spark_sim.stop_service("magpie")
    await init_integration.runtime_data.coordinators[SparkService.MAGPIE].async_refresh()
    info = await get_system_health_info(hass, DOMAIN)
    summary = info["127.0.0.1"]
    assert "Parakeet: up, wedged, deep check wedged at" in summary, summary
    assert "Magpie: down" in summary, summary
