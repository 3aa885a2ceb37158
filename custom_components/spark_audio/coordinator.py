"""Runtime data and the per-service health coordinators."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import (
    CONF_REQUEST_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT,
    DOMAIN,
    HEALTH_CHECK_INTERVAL,
    SERVICE_DEFAULT_MODELS,
    SERVICE_NAMES,
    SparkService,
    conf_enabled,
    conf_port,
)
from .data import SparkAudioConfigEntry, async_entry_device
from .spark import (
    MagpieClient,
    ParakeetClient,
    ServiceHealth,
    SparkError,
    VoiceCatalog,
    WhisperXClient,
)

_LOGGER = logging.getLogger(__name__)

type SparkClient = ParakeetClient | MagpieClient | WhisperXClient

_CLIENT_TYPES: dict[SparkService, type[SparkClient]] = {
    SparkService.PARAKEET: ParakeetClient,
    SparkService.MAGPIE: MagpieClient,
    SparkService.WHISPERX: WhisperXClient,
}


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One poll of a service: its health, and Magpie's voices."""

    health: ServiceHealth
    voices: VoiceCatalog | None = None


class ServiceNotReadyError(SparkError):
    """The service answered but says it cannot serve yet (models loading)."""


def build_client(
    service: SparkService,
    session: aiohttp.ClientSession,
    host: str,
    port: int,
    timeout: float = DEFAULT_REQUEST_TIMEOUT,
    *,
    whisperx_api_key: str | None = None,
) -> SparkClient:
    """The client for ``service`` at ``host:port`` (WhisperX with its key, if any)."""
    if service is SparkService.WHISPERX:
        return WhisperXClient(session, host, port, timeout=timeout, api_key=whisperx_api_key)
    return _CLIENT_TYPES[service](session, host, port, timeout=timeout)


async def fetch_status(client: SparkClient) -> ServiceStatus:
    """Poll one service; raises SparkError when it is down or not a valid API."""
    if isinstance(client, MagpieClient):
        health = await client.ready()
        status = ServiceStatus(health, await client.list_voices())
    else:
        status = ServiceStatus(await client.health())
    if not status.health.ready:
        raise ServiceNotReadyError("the service reports it is not ready")
    return status


class SparkServiceCoordinator(DataUpdateCoordinator[ServiceStatus]):
    """Polls one service's health; its entities follow its availability.

    The base class logs once when a poll starts failing and once when it
    recovers, which is exactly the log behaviour users want from a LAN service.
    """

    config_entry: SparkAudioConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SparkAudioConfigEntry,
        service: SparkService,
        client: SparkClient,
    ) -> None:
        """Poll ``client`` every HEALTH_CHECK_INTERVAL (a fixed LAN poll, not an option)."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{SERVICE_NAMES[service]} on {entry.data[CONF_HOST]}",
            update_interval=timedelta(seconds=HEALTH_CHECK_INTERVAL),
        )
        self.service = service
        self.client = client
        self.device_identifier = (DOMAIN, f"{entry.entry_id}_{service}")

    async def _async_update_data(self) -> ServiceStatus:
        try:
            status = await fetch_status(self.client)
        except SparkError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="update_failed",
                translation_placeholders={
                    "service": SERVICE_NAMES[self.service],
                    "error": str(err) or type(err).__name__,
                },
            ) from err
        self._update_device(status.health)
        return status

    def _update_device(self, health: ServiceHealth) -> None:
        """Keep the device's model and version in step with what the backend reports."""
        registry = dr.async_get(self.hass)
        device = async_entry_device(self.hass, self.config_entry.entry_id, self.device_identifier)
        model = health.model or SERVICE_DEFAULT_MODELS[self.service]
        if device is not None and (device.model, device.sw_version) != (model, health.version):
            registry.async_update_device(device.id, model=model, sw_version=health.version)


def enabled_services(config: Mapping[str, Any]) -> list[SparkService]:
    """The services a config entry (or flow input) says to use."""
    return [s for s in SparkService if config.get(conf_enabled(s))]


def service_port(config: Mapping[str, Any], service: SparkService) -> int:
    """The port configured for ``service``."""
    return int(config[conf_port(service)])


def request_timeout(entry: ConfigEntry) -> float:
    """The per-request timeout from the options, in seconds."""
    return float(entry.options.get(CONF_REQUEST_TIMEOUT, DEFAULT_REQUEST_TIMEOUT))
