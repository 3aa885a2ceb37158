"""Base entity and the one place Spark errors become Home Assistant errors."""

from __future__ import annotations

from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, SERVICE_NAMES
from .coordinator import SparkServiceCoordinator
from .spark import SparkBackendFaultError, SparkError, SparkTimeoutError


class SparkAudioEntity(CoordinatorEntity[SparkServiceCoordinator]):
    """An entity of one Spark service's device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: SparkServiceCoordinator, key: str) -> None:
        """Attach to the service's device; ``key`` makes the unique id."""
        super().__init__(coordinator)
        self._attr_unique_id = f"{coordinator.config_entry.entry_id}_{coordinator.service}_{key}"
        self._attr_device_info = DeviceInfo(identifiers={coordinator.device_identifier})


def spark_error_to_ha(err: SparkError, coordinator: SparkServiceCoordinator) -> HomeAssistantError:
    """Translate a client error into a user-facing, translated HA error."""
    if isinstance(err, SparkTimeoutError):
        key = "service_timeout"
    elif isinstance(err, SparkBackendFaultError):
        key = "service_fault"
    else:
        key = "service_error"
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={
            "service": SERVICE_NAMES[coordinator.service],
            "error": str(err),
        },
    )
