"""Base entity and the one place Spark errors become Home Assistant errors."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any

from homeassistant.const import CONF_HOST
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, SERVICE_NAMES, SparkService
from .coordinator import SparkServiceCoordinator
from .data import SparkAudioConfigEntry, SparkAudioData
from .deep_check import DeepCheckCoordinator
from .spark import SparkBackendFaultError, SparkError, SparkTimeoutError
from .spark.http import SparkServiceClient


class SparkAudioEntity[ClientT: SparkServiceClient = SparkServiceClient](
    CoordinatorEntity[SparkServiceCoordinator[ClientT]]
):
    """An entity of one Spark service's device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: SparkServiceCoordinator[ClientT], key: str) -> None:
        """Attach to the service's device; ``key`` makes the unique id."""
        super().__init__(coordinator)
        self._attr_unique_id = f"{coordinator.config_entry.entry_id}_{coordinator.service}_{key}"
        self._attr_device_info = DeviceInfo(identifiers={coordinator.device_identifier})


def report_backend_fault(err: SparkError, coordinator: SparkServiceCoordinator) -> None:
    """A 5xx from a real request: have the service deep-checked now (it may be wedged)."""
    if isinstance(err, SparkBackendFaultError):
        coordinator.config_entry.runtime_data.report_backend_fault(coordinator.service)


def spark_error_to_ha(err: SparkError, coordinator: SparkServiceCoordinator) -> HomeAssistantError:
    """Translate a client error into a user-facing, translated HA error."""
    report_backend_fault(err, coordinator)
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


class SparkRecoveryEntity(CoordinatorEntity[DeepCheckCoordinator]):
    """An entity of a service's health: follows its deep checks, recovery and container."""

    _attr_has_entity_name = True

    def __init__(self, data: SparkAudioData, service: SparkService, key: str) -> None:
        """Attach to the service's device and its deep-check coordinator."""
        super().__init__(data.deep[service])
        self.data = data
        self.service = service
        self.recovery = data.recovery[service]
        self._attr_unique_id = f"{self.coordinator.config_entry.entry_id}_{service}_{key}"
        self._attr_device_info = DeviceInfo(identifiers={self.coordinator.health.device_identifier})

    async def async_added_to_hass(self) -> None:
        """Also refresh when recovery or the container poll changes something."""
        await super().async_added_to_hass()
        self.async_on_remove(self.recovery.async_add_listener(self.async_write_ha_state))
        if self.data.containers is not None:
            self.async_on_remove(self.data.containers.async_add_listener(self.async_write_ha_state))


def translate_errors[**P, R](
    func: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Turn Spark/SSH errors raised by an entity action into a translated HA error."""

    @wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await func(*args, **kwargs)
        except SparkError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="ssh_command_failed",
                translation_placeholders={"error": str(err) or type(err).__name__},
            ) from err
        except ValueError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="invalid_container_name",
                translation_placeholders={"error": str(err)},
            ) from err

    return wrapper


def spark_name(entry: SparkAudioConfigEntry) -> str:
    """The Spark's name: the entry title, which users can rename in HA's UI."""
    return entry.title or str(entry.data.get(CONF_HOST, "DGX Spark"))


def service_device_name(entry: SparkAudioConfigEntry, service: SparkService) -> str:
    """A service device's name, e.g. "Office Spark Parakeet": unique across Sparks."""
    return f"{spark_name(entry)} {SERVICE_NAMES[service]}"
