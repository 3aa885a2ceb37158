"""Connectivity sensors: is each Spark service answering its health check."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .coordinator import SparkAudioConfigEntry, SparkServiceCoordinator
from .entity import SparkAudioEntity

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SparkAudioConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """One connectivity sensor per configured service."""
    async_add_entities(
        SparkConnectivitySensor(coordinator)
        for coordinator in entry.runtime_data.coordinators.values()
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
