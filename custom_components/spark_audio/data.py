"""What a loaded config entry keeps in ``entry.runtime_data``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.util.signal_type import SignalType

from .const import DOMAIN, SparkService

if TYPE_CHECKING:
    from .containers import ContainerCoordinator
    from .coordinator import SparkServiceCoordinator
    from .deep_check import DeepCheckCoordinator, DeepCheckStatus, RoundTripCoordinator
    from .recovery import ServiceRecovery
    from .spark import MagpieClient, ParakeetClient, SparkServiceClient, WhisperXClient
    from .spark.remote.docker import DockerOverSSH
    from .spark.remote.ssh import SparkSSH

type SparkAudioConfigEntry = ConfigEntry[SparkAudioData]


# Per-entry dispatcher signals (as unifiprotect's): whoever changes the state sends,
# entities and recovery subscribe with async_dispatcher_connect.
def signal_deep_check(entry_id: str, service: SparkService) -> SignalType[DeepCheckStatus]:
    """Sent once per finished deep probe of ``service``, with its outcome."""
    return SignalType(f"{DOMAIN}_{entry_id}_{service}_deep_check")


def signal_recovery(entry_id: str, service: SparkService) -> SignalType[()]:
    """Sent when ``service``'s recovery state (wedged, restarting, restarts) changes."""
    return SignalType(f"{DOMAIN}_{entry_id}_{service}_recovery")


def signal_health_report(entry_id: str, service: SparkService) -> SignalType[()]:
    """Sent when what ``service`` says about itself changed, ready or not (`reported`)."""
    return SignalType(f"{DOMAIN}_{entry_id}_{service}_health_report")


def signal_install(entry_id: str) -> SignalType[()]:
    """Sent when the entry's WhisperX install job starts, progresses or ends."""
    return SignalType(f"{DOMAIN}_{entry_id}_install")


@dataclass
class SparkAudioData:
    """Clients, coordinators and recovery state of one Spark."""

    host: str
    # The entry's data and options this setup was made from: a change to either needs a reload,
    # a change to anything else (the title) does not.
    applied: tuple[Mapping[str, Any], Mapping[str, Any]] = field(default_factory=lambda: ({}, {}))
    parakeet: SparkServiceCoordinator[ParakeetClient] | None = None
    magpie: SparkServiceCoordinator[MagpieClient] | None = None
    whisperx: SparkServiceCoordinator[WhisperXClient] | None = None
    deep: dict[SparkService, DeepCheckCoordinator] = field(default_factory=dict)
    recovery: dict[SparkService, ServiceRecovery] = field(default_factory=dict)
    round_trip: RoundTripCoordinator | None = None
    ssh: SparkSSH | None = None
    docker: DockerOverSSH | None = None
    containers: ContainerCoordinator | None = None
    # Unique ids each platform added in this setup (provided.py removes the rest).
    provided: dict[Platform, set[str]] = field(default_factory=dict)

    @property
    def coordinators(self) -> dict[SparkService, SparkServiceCoordinator]:
        """The health coordinator of every service in use, for code that treats all alike."""
        used = {
            SparkService.PARAKEET: self.parakeet,
            SparkService.MAGPIE: self.magpie,
            SparkService.WHISPERX: self.whisperx,
        }
        return {service: c for service, c in used.items() if c is not None}

    def report_backend_fault(self, service: SparkService) -> None:
        """A request saw a 5xx: deep-check that service now instead of at the next interval."""
        if (deep := self.deep.get(service)) is not None:
            deep.config_entry.async_create_background_task(
                deep.hass, deep.async_probe_now(), f"spark_audio probe {service}"
            )


@callback
def async_entry_device(
    hass: HomeAssistant, entry_id: str, identifier: tuple[str, str]
) -> dr.DeviceEntry | None:
    """The device of this entry with ``identifier``, or None.

    ``DeviceRegistry.async_get_device(identifiers=...)`` is deprecated from HA 2026 (identifiers
    are no longer unique across entries) and its replacements do not exist in 2025.4: looking
    among the entry's own devices works on both.
    """
    for device in dr.async_entries_for_config_entry(dr.async_get(hass), entry_id):
        if identifier in device.identifiers:
            return device
    return None


@dataclass(frozen=True, slots=True)
class ServiceSlot[ClientT: SparkServiceClient]:
    """A service and where SparkAudioData keeps its coordinator, typed with its client.

    Code that needs one service's own calls (synthesis, diarization) looks it up
    through its slot, so the type says which client it gets and nothing checks
    a client's class at run time.
    """

    service: SparkService
    get: Callable[[SparkAudioData], SparkServiceCoordinator[ClientT] | None]


PARAKEET_SLOT: ServiceSlot[ParakeetClient] = ServiceSlot(
    SparkService.PARAKEET, lambda data: data.parakeet
)
MAGPIE_SLOT: ServiceSlot[MagpieClient] = ServiceSlot(SparkService.MAGPIE, lambda data: data.magpie)
WHISPERX_SLOT: ServiceSlot[WhisperXClient] = ServiceSlot(
    SparkService.WHISPERX, lambda data: data.whisperx
)


def strictest_option(hass: HomeAssistant, key: str, default: int) -> int:
    """The smallest value of a whole-number option over every loaded Spark (else ``default``).

    Limits shared by all Sparks (gateway uploads, background jobs) take the strictest one.
    """
    return min((int(e.options.get(key, default)) for e in loaded_entries(hass)), default=default)


def loaded_entries(hass: HomeAssistant) -> list[SparkAudioConfigEntry]:
    """Every loaded Spark entry, in the order they were added."""
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    ]
