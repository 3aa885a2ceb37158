"""Base entities and the one place Spark errors become Home Assistant errors."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from functools import wraps
from typing import Any

from homeassistant.auth.permissions.const import POLICY_CONTROL
from homeassistant.const import CONF_HOST
from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.exceptions import HomeAssistantError, Unauthorized
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, INSTALL_WRITE_INTERVAL, SERVICE_NAMES, SparkService
from .coordinator import SparkServiceCoordinator
from .data import SparkAudioConfigEntry, SparkAudioData, signal_install
from .deep_check import DeepCheckCoordinator
from .spark import (
    SparkBackendFaultError,
    SparkConnectionError,
    SparkError,
    SparkResponseError,
    SparkTimeoutError,
)
from .spark.clients.http import SparkServiceClient
from .spark.errors import (
    InstallError,
    InstallInProgressError,
    ServiceNotReadyError,
    SparkInvalidNameError,
    SparkSSHAuthError,
    SparkSSHCommandError,
    SparkSSHConnectionError,
    SparkSSHError,
    SparkSSHHostKeyError,
    SparkSSHTimeoutError,
)
from .spark.installer.progress import Phase
from .whisperx_install import EntryInstallState, install_state


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
        self.async_on_remove(
            async_dispatcher_connect(self.hass, self.recovery.signal, self.async_write_ha_state)
        )
        if self.data.containers is not None:
            self.async_on_remove(self.data.containers.async_add_listener(self.async_write_ha_state))


class SparkInstallEntity(Entity):
    """An entity of the Spark's hub device following WhisperX's install and real state.

    It follows three sources: the install job, WhisperX's health poll (the
    version that really runs) and ``docker inspect`` (whether the container
    exists), so WhisperX upgraded, removed or started outside Home Assistant
    shows up without a reload. A build prints thousands of lines: the state is
    written at once when the job or its phase changes, otherwise at most once
    per `INSTALL_WRITE_INTERVAL`.
    """

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, entry: SparkAudioConfigEntry, key: str) -> None:
        """Attach to the Spark's hub device (registered at setup, named after the entry)."""
        self.entry = entry
        self._attr_unique_id = f"{entry.entry_id}_{key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, entry.entry_id)})
        self._shown: tuple[str, Phase] | None = None
        self._cancel_write: CALLBACK_TYPE | None = None
        self._whisperx_up: bool | None = None

    @property
    def installing(self) -> EntryInstallState:
        """The entry's install state (kept across reloads)."""
        return install_state(self.hass, self.entry.entry_id)

    @property
    def job_running(self) -> bool:
        """Whether an install job runs now."""
        job = self.installing.job
        return job is not None and not job.done

    @property
    def whisperx(self) -> SparkServiceCoordinator | None:
        """WhisperX's health coordinator, when the entry uses WhisperX."""
        return self.entry.runtime_data.coordinators.get(SparkService.WHISPERX)

    async def async_added_to_hass(self) -> None:
        """Follow the install job, WhisperX's health and the container poll."""
        job = self.installing.job
        self._shown = None if job is None else (job.id, job.phase)
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, signal_install(self.entry.entry_id), self._on_install_update
            )
        )
        self.async_on_remove(self._cancel_pending_write)
        if (whisperx := self.whisperx) is not None:
            self._whisperx_up = whisperx.last_update_success
            self.async_on_remove(whisperx.async_add_listener(self._on_whisperx_health))
        if (containers := self.entry.runtime_data.containers) is not None:
            self.async_on_remove(containers.async_add_listener(self.async_write_ha_state))

    @callback
    def _on_install_update(self) -> None:
        job = self.installing.job
        shown = None if job is None else (job.id, job.phase)
        if shown != self._shown:
            self._shown = shown
            self._cancel_pending_write()
            self.async_write_ha_state()
            if job is not None and job.phase is Phase.DONE:
                self._on_job_done()
        elif self._cancel_write is None:
            self._cancel_write = async_call_later(
                self.hass, INSTALL_WRITE_INTERVAL, self._write_throttled
            )

    @callback
    def _write_throttled(self, _now: datetime) -> None:
        self._cancel_write = None
        self.async_write_ha_state()

    @callback
    def _cancel_pending_write(self) -> None:
        if self._cancel_write is not None:
            self._cancel_write()
            self._cancel_write = None

    @callback
    def _on_whisperx_health(self) -> None:
        """Write the new state; WhisperX coming or going: look at its container now too."""
        assert self.whisperx is not None
        up = self.whisperx.last_update_success
        if up != self._whisperx_up:
            self._whisperx_up = up
            self._refresh_containers()
        self.async_write_ha_state()

    def _on_job_done(self) -> None:
        """A job just succeeded: entities that show its outcome ask their source now."""

    def _refresh_containers(self) -> None:
        if (containers := self.entry.runtime_data.containers) is not None:
            self.entry.async_create_background_task(
                self.hass, containers.async_refresh(), "spark_audio containers"
            )


# Most specific first: the first class the error is an instance of picks the message.
ERROR_TRANSLATIONS: tuple[tuple[type[SparkError], str], ...] = (
    (SparkInvalidNameError, "invalid_container_name"),
    (SparkSSHHostKeyError, "ssh_host_key_changed"),
    (SparkSSHAuthError, "ssh_login_refused"),
    (SparkSSHTimeoutError, "ssh_timeout"),
    (SparkSSHConnectionError, "ssh_unreachable"),
    (SparkSSHCommandError, "ssh_command_failed"),
    (SparkSSHError, "ssh_error"),
    (SparkTimeoutError, "spark_timeout"),
    (SparkBackendFaultError, "spark_fault"),
    (SparkResponseError, "spark_bad_response"),
    (SparkConnectionError, "spark_connection_failed"),
    (ServiceNotReadyError, "spark_not_ready"),
    (InstallInProgressError, "install_busy"),
    (InstallError, "install_failed"),
    (SparkError, "spark_error"),
)


def translation_key_for(err: SparkError) -> str:
    """The en.json ``exceptions`` key that explains ``err`` to a user."""
    return next(key for kind, key in ERROR_TRANSLATIONS if isinstance(err, kind))


def translate_errors[**P, R](
    func: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Turn a Spark error raised by an entity action into a translated HA error of its kind."""

    @wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await func(*args, **kwargs)
        except SparkError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=translation_key_for(err),
                translation_placeholders={"error": str(err) or type(err).__name__},
            ) from err

    return wrapper


def spark_name(entry: SparkAudioConfigEntry) -> str:
    """The Spark's name: the entry title, which users can rename in HA's UI."""
    return entry.title or str(entry.data.get(CONF_HOST, "DGX Spark"))


def service_device_name(entry: SparkAudioConfigEntry, service: SparkService) -> str:
    """A service device's name, e.g. "Office Spark Parakeet": unique across Sparks."""
    return f"{spark_name(entry)} {SERVICE_NAMES[service]}"


async def async_require_admin(entity: Entity) -> None:
    """Refuse a non-administrator's press, switch or install: it changes the Spark's containers.

    The same rule as the admin-only actions. Automations and scripts run without a user
    (an administrator set them up) and are allowed.
    """
    context = entity._context  # HA sets it for the service call being handled
    if context is None or context.user_id is None:
        return
    user = await entity.hass.auth.async_get_user(context.user_id)
    if user is None or not user.is_admin:
        raise Unauthorized(context=context, entity_id=entity.entity_id, permission=POLICY_CONTROL)
