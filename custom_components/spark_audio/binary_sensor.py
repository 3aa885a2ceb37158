"""Connectivity sensors: is each Spark service answering its health check (WhisperX: and where)."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import SparkService
from .coordinator import SparkServiceCoordinator
from .data import SparkAudioConfigEntry, SparkAudioData, signal_health_report
from .entity import SparkAudioEntity, SparkRecoveryEntity
from .provided import async_add_provided
from .spark.clients.whisperx import WhisperXDevice

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SparkAudioConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Per configured service: a connectivity sensor and a wedge (problem) sensor."""
    data = entry.runtime_data
    async_add_provided(
        entry,
        Platform.BINARY_SENSOR,
        async_add_entities,
        [
            WhisperXConnectivitySensor(coordinator)
            if service is SparkService.WHISPERX
            else SparkConnectivitySensor(coordinator)
            for service, coordinator in data.coordinators.items()
        ]
        + [SparkWedgeSensor(data, service) for service in data.deep],
    )


class SparkConnectivitySensor(SparkAudioEntity, BinarySensorEntity):
    """On while the service answers; stays available so automations see "off"."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_translation_key = "connectivity"

    def __init__(self, coordinator: SparkServiceCoordinator) -> None:
        """Key the sensor to its service."""
        super().__init__(coordinator, "connectivity")

    @property
    def available(self) -> bool:
        """Always available: "off" is the answer when the service is down."""
        return True

    @property
    def is_on(self) -> bool:
        """Whether the last health poll succeeded."""
        return self.coordinator.last_update_success


class WhisperXConnectivitySensor(SparkConnectivitySensor):
    """WhisperX's also says where it runs: device, compute type, GPU self-test, and why not.

    From what WhisperX last reported, ready or not: a 503 for missing CUDA
    turns the sensor off and its ``device_error`` says why.
    """

    async def async_added_to_hass(self) -> None:
        """Also write when the report changes while polls keep failing."""
        await super().async_added_to_hass()
        coordinator = self.coordinator
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                signal_health_report(coordinator.config_entry.entry_id, coordinator.service),
                self.async_write_ha_state,
            )
        )

    @property
    def extra_state_attributes(self) -> dict[str, str | None]:
        """Device, compute type and self-test as last reported (None until WhisperX answers)."""
        reported = self.coordinator.reported
        device = WhisperXDevice(None, None, None, None)
        if reported is not None:
            device = WhisperXDevice.of(reported)
        return {
            "device": device.device,
            "compute_type": device.compute_type,
            "self_test": device.self_test,
            "device_error": device.error,
        }


class SparkWedgeSensor(SparkRecoveryEntity, BinarySensorEntity):
    """On while inference fails although the service still answers (a CUDA wedge)."""

    _attr_device_class = BinarySensorDeviceClass.PROBLEM
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_translation_key = "wedged"

    def __init__(self, data: SparkAudioData, service: SparkService) -> None:
        """Key the sensor to its service."""
        super().__init__(data, service, "wedged")

    @property
    def available(self) -> bool:
        """Available once a deep check has run; "off" must stay visible to automations."""
        return self.coordinator.data is not None

    @property
    def is_on(self) -> bool:
        """Whether the service is wedged right now."""
        return self.recovery.wedged

    @property
    def extra_state_attributes(self) -> dict[str, object]:
        """The latest check's verdict (busy is not wedged), errors, and any restart under way."""
        status = self.coordinator.data
        return {
            "last_check": None if status is None else str(status.verdict),
            "restarting": self.recovery.restarting,
            "last_errors": list(self.recovery.last_errors),
        }
