"""The spark_audio integration: speech services on NVIDIA DGX Spark boxes."""

from __future__ import annotations

import asyncio

from homeassistant.const import CONF_HOST, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .const import DOMAIN, SERVICE_DEFAULT_MODELS, SERVICE_MANUFACTURERS, SERVICE_NAMES
from .coordinator import (
    SparkAudioConfigEntry,
    SparkAudioData,
    SparkServiceCoordinator,
    build_client,
    enabled_services,
    request_timeout,
    service_port,
)

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.STT, Platform.TTS]


async def async_setup_entry(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> bool:
    """Connect to the Spark's services; not ready while none of them answers."""
    host: str = entry.data[CONF_HOST]
    session = async_get_clientsession(hass)
    data = SparkAudioData(host=host)
    for service in enabled_services(entry.data):
        client = build_client(
            service, session, host, service_port(entry.data, service), request_timeout(entry)
        )
        data.coordinators[service] = SparkServiceCoordinator(hass, entry, service, client)

    coordinators = list(data.coordinators.values())
    await asyncio.gather(*(c.async_refresh() for c in coordinators))
    if not any(c.last_update_success for c in coordinators):
        errors = "; ".join(str(c.last_exception) for c in coordinators)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="spark_unreachable",
            translation_placeholders={"host": host, "error": errors},
        )

    registry = dr.async_get(hass)
    for service, coordinator in data.coordinators.items():
        health = coordinator.data.health if coordinator.data else None
        registry.async_get_or_create(
            config_entry_id=entry.entry_id,
            identifiers={coordinator.device_identifier},
            name=SERVICE_NAMES[service],
            manufacturer=SERVICE_MANUFACTURERS[service],
            model=(health and health.model) or SERVICE_DEFAULT_MODELS[service],
            sw_version=health.version if health else None,
            entry_type=dr.DeviceEntryType.SERVICE,
            configuration_url=coordinator.client.base_url,
        )

    # A service turned off in reconfigure takes its device (and entities) with it.
    current = {c.device_identifier for c in coordinators}
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        if not device.identifiers & current:
            registry.async_update_device(device.id, remove_config_entry_id=entry.entry_id)

    entry.runtime_data = data
    entry.async_on_unload(entry.add_update_listener(_async_reload_on_update))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> bool:
    """Unload the platforms; the shared HTTP session stays with HA."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def _async_reload_on_update(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> None:
    """Apply changed options or a reconfigured host without restarting HA.

    ``OptionsFlowWithReload`` would do this from HA 2025.8 on; this listener
    does the same on every supported release.
    """
    await hass.config_entries.async_reload(entry.entry_id)
