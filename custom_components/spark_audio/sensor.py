"""Health sensors: probe latency, container state, restarts, round-trip latency and RTF."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, Platform, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import dt as dt_util

from .const import DOMAIN, SparkService
from .data import SparkAudioConfigEntry, SparkAudioData
from .deep_check import RoundTripCoordinator
from .entity import SparkInstallEntity, SparkRecoveryEntity
from .install_sensors import WhisperXInstallPhaseSensor, WhisperXInstallProgressSensor
from .provided import async_add_provided
from .spark.clients.probes import RoundTripResult
from .spark.installer.progress import Phase
from .spark.remote.docker import ContainerState
from .speaker_identification import last_speaker_sensors
from .transcription.jobs import JOBS_KEY, jobs_signal

PARALLEL_UPDATES = 0
LOG_TAIL = 10
INSTALL_STATES = ["not_installed", "installing", "installed", "failed"]


@dataclass(frozen=True, kw_only=True)
class SparkSensorDescription(SensorEntityDescription):
    """A per-service health sensor; ``needs_ssh`` ones exist only with SSH configured."""

    value_fn: Callable[[SparkRecoveryEntity], StateType | datetime]
    attributes_fn: Callable[[SparkRecoveryEntity], dict[str, Any]] | None = None
    needs_ssh: bool = False


def _latency_ms(entity: SparkRecoveryEntity) -> float | None:
    status = entity.coordinator.data
    return None if status is None or status.latency_s is None else status.latency_s * 1000


def _last_restart_attributes(entity: SparkRecoveryEntity) -> dict[str, Any]:
    last = entity.recovery.policy.last
    return {} if last is None else {"reason": last.reason, "automatic": last.automatic}


def _container_state(entity: SparkRecoveryEntity) -> str | None:
    containers = entity.data.containers
    if containers is None or not containers.data:
        return None
    return str(containers.data.get(entity.service, ContainerState.MISSING))


SENSORS: tuple[SparkSensorDescription, ...] = (
    SparkSensorDescription(
        key="probe_latency",
        translation_key="probe_latency",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_latency_ms,
    ),
    SparkSensorDescription(
        key="container_state",
        translation_key="container_state",
        device_class=SensorDeviceClass.ENUM,
        options=[str(s) for s in ContainerState],
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        needs_ssh=True,
        value_fn=_container_state,
    ),
    SparkSensorDescription(
        key="restarts_24h",
        translation_key="restarts_24h",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        needs_ssh=True,
        value_fn=lambda e: e.recovery.restarts_since(dt_util.utcnow() - timedelta(hours=24)),
    ),
    SparkSensorDescription(
        key="last_restart",
        translation_key="last_restart",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        needs_ssh=True,
        value_fn=lambda e: e.recovery.policy.last_restart,
        attributes_fn=_last_restart_attributes,
    ),
)


@dataclass(frozen=True, kw_only=True)
class RoundTripSensorDescription(SensorEntityDescription):
    """A figure of the Magpie -> Parakeet round trip."""

    value_fn: Callable[[RoundTripResult], float]


ROUND_TRIP_SENSORS: tuple[RoundTripSensorDescription, ...] = (
    RoundTripSensorDescription(
        key="round_trip_latency",
        translation_key="round_trip_latency",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda r: r.latency_s * 1000,
    ),
    RoundTripSensorDescription(
        key="round_trip_rtf",
        translation_key="round_trip_rtf",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda r: r.real_time_factor,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SparkAudioConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Health sensors per service, round-trip sensors on Parakeet's device."""
    data = entry.runtime_data
    entities: list[SensorEntity] = [
        SparkHealthSensor(data, service, description)
        for service in data.deep
        for description in SENSORS
        if data.docker is not None or not description.needs_ssh
    ]
    if data.ssh is not None:
        entities += [
            WhisperXInstallSensor(entry),
            WhisperXInstallProgressSensor(entry),
            WhisperXInstallPhaseSensor(entry),
        ]
    entities.append(TranscriptionSensor(entry))
    entities += last_speaker_sensors(entry)
    if data.round_trip is not None:
        entities += [
            RoundTripSensor(data, data.round_trip, description)
            for description in ROUND_TRIP_SENSORS
        ]
    async_add_provided(entry, Platform.SENSOR, async_add_entities, entities)


class SparkHealthSensor(SparkRecoveryEntity, SensorEntity):
    """One health figure of one service."""

    entity_description: SparkSensorDescription

    def __init__(
        self, data: SparkAudioData, service: SparkService, description: SparkSensorDescription
    ) -> None:
        """Describe the sensor and key it to its service."""
        super().__init__(data, service, description.key)
        self.entity_description = description

    @property
    def available(self) -> bool:
        """Container figures need the last ``docker inspect`` to have worked."""
        if self.entity_description.key == "container_state":
            return self.data.containers is not None and self.data.containers.last_update_success
        return True

    @property
    def native_value(self) -> StateType | datetime:
        """The figure, computed from the latest checks."""
        return self.entity_description.value_fn(self)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Details of the figure, where the description has any."""
        attributes_fn = self.entity_description.attributes_fn
        return None if attributes_fn is None else attributes_fn(self)


class RoundTripSensor(CoordinatorEntity[RoundTripCoordinator], SensorEntity):
    """Round-trip latency or real-time factor, on Parakeet's device."""

    _attr_has_entity_name = True
    entity_description: RoundTripSensorDescription

    def __init__(
        self,
        data: SparkAudioData,
        coordinator: RoundTripCoordinator,
        description: RoundTripSensorDescription,
    ) -> None:
        """Attach to Parakeet's device."""
        super().__init__(coordinator)
        self.entity_description = description
        parakeet = data.coordinators[SparkService.PARAKEET]
        self._attr_unique_id = f"{coordinator.config_entry.entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(identifiers={parakeet.device_identifier})

    @property
    def native_value(self) -> float | None:
        """The last round trip's figure; unknown when it failed."""
        result = self.coordinator.data
        return None if result is None else self.entity_description.value_fn(result)


class WhisperXInstallSensor(SparkInstallEntity, SensorEntity):
    """not_installed / installing / installed / failed, with phase, percent and log tail."""

    _attr_translation_key = "whisperx_install"
    _attr_device_class = SensorDeviceClass.ENUM
    _attr_options = INSTALL_STATES
    # They change with every write during a build: the recorder keeps phase and error only.
    _unrecorded_attributes = frozenset({"log", "elapsed", "percent"})

    def __init__(self, entry: SparkAudioConfigEntry) -> None:
        """One per Spark with SSH."""
        super().__init__(entry, "whisperx_install")

    def _on_job_done(self) -> None:
        self._refresh_containers()

    @property
    def native_value(self) -> str:
        """The install state; the container's existence wins over what HA last did."""
        job = self.installing.job
        if self.job_running:
            return "installing"
        if job is not None and job.phase in (Phase.FAILED, Phase.CANCELLED):
            return "failed"
        containers = self.entry.runtime_data.containers
        if containers is not None and containers.last_update_success and containers.data:
            state = containers.data.get(SparkService.WHISPERX, ContainerState.MISSING)
            return "not_installed" if state is ContainerState.MISSING else "installed"
        whisperx = self.whisperx
        if whisperx is not None and whisperx.last_update_success:
            return "installed"
        return "not_installed"

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Phase, percent, elapsed seconds, the last log lines and any error."""
        job = self.installing.job
        if job is None:
            return {}
        return {
            "job_id": job.id,
            "phase": str(job.phase),
            "percent": round(job.percent, 1),
            "elapsed": round(job.elapsed, 1),
            "error": job.error,
            "log": job.lines[-LOG_TAIL:],
        }


class TranscriptionSensor(SensorEntity):
    """The Spark's background transcriptions: idle or running, with the running job's progress.

    Written only when a job starts, ends, changes phase or passes a whole
    percent (the jobs module decides), never on a timer.
    """

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_translation_key = "transcription"
    _attr_device_class = SensorDeviceClass.ENUM
    _unrecorded_attributes = frozenset(
        {"job_id", "media", "model", "phase", "percent", "elapsed", "eta", "queue"}
    )

    def __init__(self, entry: SparkAudioConfigEntry) -> None:
        """Attach to the Spark's hub device."""
        self._entry_id = entry.entry_id
        self._attr_options = ["idle", "running"]
        self._attr_unique_id = f"{entry.entry_id}_transcription"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, entry.entry_id)})

    async def async_added_to_hass(self) -> None:
        """Rewrite the state whenever this Spark's jobs change."""
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, jobs_signal(self._entry_id), self.async_write_ha_state
            )
        )

    @property
    def native_value(self) -> str:
        """Running while a job of this Spark runs."""
        jobs = self.hass.data[JOBS_KEY].for_entry(self._entry_id)
        return "running" if any(job.started_at for job in jobs) else "idle"

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The queue, and the running job's media, model, phase, percent, elapsed and ETA."""
        jobs = self.hass.data[JOBS_KEY].for_entry(self._entry_id)
        queued = [job for job in jobs if job.started_at is None]
        attributes: dict[str, Any] = {
            "queued": len(queued),
            "queue": [{"job_id": job.job_id, "media": job.media} for job in queued],
        }
        running = next((job for job in jobs if job.started_at is not None), None)
        if running is not None and running.started_at is not None:
            elapsed = (dt_util.utcnow() - running.started_at).total_seconds()
            percent = running.percent
            attributes |= {
                "job_id": running.job_id,
                "media": running.media,
                "model": str(running.backend),
                "phase": running.phase,
                "percent": percent,
                "elapsed": round(elapsed),
                "eta": round(elapsed * (100 - percent) / percent) if percent > 0 else None,
            }
        return attributes
