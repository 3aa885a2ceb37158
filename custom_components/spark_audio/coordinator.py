"""Runtime data and the per-service health coordinators."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal, overload

import aiohttp
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import (
    CONF_REQUEST_TIMEOUT,
    CONF_WHISPERX_API_KEY,
    DEFAULT_REQUEST_TIMEOUT,
    DOMAIN,
    HEALTH_CHECK_INTERVAL,
    SERVICE_DEFAULT_MODELS,
    SERVICE_NAMES,
    SparkService,
    conf_enabled,
    conf_port,
)
from .data import (
    SparkAudioConfigEntry,
    SparkAudioData,
    async_entry_device,
    signal_health_report,
)
from .spark import (
    MagpieClient,
    ParakeetClient,
    ServiceHealth,
    ServiceNotReadyError,
    ServiceStatus,
    SparkError,
    SparkServiceClient,
    WhisperXClient,
)

_LOGGER = logging.getLogger(__name__)


@overload
def build_client(
    service: Literal[SparkService.PARAKEET],
    session: aiohttp.ClientSession,
    host: str,
    port: int,
    timeout: float = ...,
    *,
    whisperx_api_key: str | None = ...,
) -> ParakeetClient: ...
@overload
def build_client(
    service: Literal[SparkService.MAGPIE],
    session: aiohttp.ClientSession,
    host: str,
    port: int,
    timeout: float = ...,
    *,
    whisperx_api_key: str | None = ...,
) -> MagpieClient: ...
@overload
def build_client(
    service: Literal[SparkService.WHISPERX],
    session: aiohttp.ClientSession,
    host: str,
    port: int,
    timeout: float = ...,
    *,
    whisperx_api_key: str | None = ...,
) -> WhisperXClient: ...
@overload
def build_client(
    service: SparkService,
    session: aiohttp.ClientSession,
    host: str,
    port: int,
    timeout: float = ...,
    *,
    whisperx_api_key: str | None = ...,
) -> SparkServiceClient: ...
def build_client(
    service: SparkService,
    session: aiohttp.ClientSession,
    host: str,
    port: int,
    timeout: float = DEFAULT_REQUEST_TIMEOUT,
    *,
    whisperx_api_key: str | None = None,
) -> SparkServiceClient:
    """The client for ``service`` at ``host:port`` (WhisperX with its key, if any).

    The one place a client is made: the config flow's check and the
    coordinators; typed by the service it is asked for.
    """
    if service is SparkService.WHISPERX:
        return WhisperXClient(session, host, port, timeout=timeout, api_key=whisperx_api_key)
    if service is SparkService.MAGPIE:
        return MagpieClient(session, host, port, timeout=timeout)
    return ParakeetClient(session, host, port, timeout=timeout)


class SparkServiceCoordinator[ClientT: SparkServiceClient = SparkServiceClient](
    DataUpdateCoordinator[ServiceStatus]
):
    """Polls one service's health; its entities follow its availability.

    Generic in its client, like homewizard's coordinator: it calls the one
    ``status()`` every client has, and code that needs Magpie's or Parakeet's
    own calls holds a ``SparkServiceCoordinator[MagpieClient]`` (etc.), so no
    module ever asks which client it holds.

    The base class logs once when a poll starts failing and once when it
    recovers, which is exactly the log behaviour users want from a LAN service.
    """

    config_entry: SparkAudioConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SparkAudioConfigEntry,
        service: SparkService,
        client: ClientT,
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
        self._client = client
        self.device_identifier = (DOMAIN, f"{entry.entry_id}_{service}")
        self.reported: ServiceHealth | None = None
        """What the service last said about itself, ready or not (kept while it is down).

        A not-ready answer fails the poll, but what it says (WhisperX: CUDA missing)
        is still shown; `signal_health_report` tells followers when it changes,
        failed poll after failed poll, which the coordinator's listeners are not told.
        """

    @property
    def client(self) -> ClientT:
        """The service's client (read-only, so a coordinator of a subclass fits a wider type)."""
        return self._client

    async def _async_update_data(self) -> ServiceStatus:
        try:
            status = await self.client.fetch_status()
        except SparkError as err:
            if isinstance(err, ServiceNotReadyError) and err.health is not None:
                self._report(err.health)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="update_failed",
                translation_placeholders={
                    "service": SERVICE_NAMES[self.service],
                    "error": str(err) or type(err).__name__,
                },
            ) from err
        self._report(status.health)
        self._update_device(status.health)
        return status

    def _report(self, health: ServiceHealth) -> None:
        if health != self.reported:
            self.reported = health
            async_dispatcher_send(
                self.hass, signal_health_report(self.config_entry.entry_id, self.service)
            )

    def _update_device(self, health: ServiceHealth) -> None:
        """Keep the device's model and version in step with what the backend reports."""
        registry = dr.async_get(self.hass)
        device = async_entry_device(self.hass, self.config_entry.entry_id, self.device_identifier)
        model = health.model or SERVICE_DEFAULT_MODELS[self.service]
        if device is not None and (device.model, device.sw_version) != (model, health.version):
            registry.async_update_device(device.id, model=model, sw_version=health.version)


def add_coordinators(
    hass: HomeAssistant, entry: SparkAudioConfigEntry, session: aiohttp.ClientSession
) -> None:
    """One coordinator per enabled service, each typed with its own client."""
    data: SparkAudioData = entry.runtime_data
    services = enabled_services(entry.data)
    timeout = request_timeout(entry)

    key = entry.data.get(CONF_WHISPERX_API_KEY)

    def at(service: SparkService) -> tuple[aiohttp.ClientSession, str, int, float]:
        return session, data.host, service_port(entry.data, service), timeout

    if SparkService.PARAKEET in services:
        parakeet = build_client(SparkService.PARAKEET, *at(SparkService.PARAKEET))
        data.parakeet = SparkServiceCoordinator(hass, entry, SparkService.PARAKEET, parakeet)
    if SparkService.MAGPIE in services:
        magpie = build_client(SparkService.MAGPIE, *at(SparkService.MAGPIE))
        data.magpie = SparkServiceCoordinator(hass, entry, SparkService.MAGPIE, magpie)
    if SparkService.WHISPERX in services:
        whisperx = build_client(
            SparkService.WHISPERX, *at(SparkService.WHISPERX), whisperx_api_key=key
        )
        data.whisperx = SparkServiceCoordinator(hass, entry, SparkService.WHISPERX, whisperx)


def enabled_services(config: Mapping[str, Any]) -> list[SparkService]:
    """The services a config entry (or flow input) says to use."""
    return [s for s in SparkService if config.get(conf_enabled(s))]


def service_port(config: Mapping[str, Any], service: SparkService) -> int:
    """The port configured for ``service``."""
    return int(config[conf_port(service)])


def request_timeout(entry: ConfigEntry) -> float:
    """The per-request timeout from the options, in seconds."""
    return float(entry.options.get(CONF_REQUEST_TIMEOUT, DEFAULT_REQUEST_TIMEOUT))
