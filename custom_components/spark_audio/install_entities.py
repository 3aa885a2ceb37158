"""The WhisperX install's entities: button, status sensor, update (shared by the platforms).

They follow three sources: the install job, WhisperX's health poll (the
version that really runs) and ``docker inspect`` (whether the container
exists), so WhisperX upgraded, removed or started outside Home Assistant shows
up without a reload.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeassistant.components.button import ButtonEntity
from homeassistant.components.sensor import SensorDeviceClass, SensorEntity
from homeassistant.components.update import UpdateEntity, UpdateEntityFeature
from homeassistant.const import EntityCategory
from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.event import async_call_later

from .const import DOMAIN, INSTALL_WRITE_INTERVAL, SparkService
from .coordinator import SparkServiceCoordinator
from .data import SparkAudioConfigEntry, signal_install
from .entity import translate_errors
from .spark.installer import InstallJob, Phase
from .spark.ssh import ContainerState
from .whisperx_install import EntryInstallState, async_start_install, install_state

LOG_TAIL = 10
INSTALL_STATES = ["not_installed", "installing", "installed", "failed"]


class SparkInstallEntity(Entity):
    """An entity of the Spark's hub device following WhisperX's install and real state.

    A build prints thousands of lines: the state is written at once when the
    job or its phase changes, otherwise at most once per `INSTALL_WRITE_INTERVAL`.
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


class InstallWhisperXButton(SparkInstallEntity, ButtonEntity):
    """Starts building and running WhisperX on the Spark (a background job)."""

    _attr_translation_key = "install_whisperx"
    _attr_entity_category = EntityCategory.CONFIG

    def __init__(self, entry: SparkAudioConfigEntry) -> None:
        """One per Spark with SSH."""
        super().__init__(entry, "install_whisperx")

    @translate_errors
    async def async_press(self) -> None:
        """Start the install; progress shows on the status sensor."""
        await async_start_install(self.hass, self.entry)


def _running(job: InstallJob | None) -> bool:
    return job is not None and not job.done


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
        if _running(job):
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


class WhisperXUpdate(SparkInstallEntity, UpdateEntity):
    """Upgrades the installed WhisperX container when the bundled version differs."""

    _attr_translation_key = "whisperx_update"
    _attr_supported_features = UpdateEntityFeature.INSTALL | UpdateEntityFeature.PROGRESS

    def __init__(self, entry: SparkAudioConfigEntry, bundled: str) -> None:
        """Compare the running container's version with ``bundled``."""
        super().__init__(entry, "whisperx_update")
        self._attr_latest_version = bundled

    def _on_job_done(self) -> None:
        """An upgrade does not reload the entry: read the version now running."""
        if (whisperx := self.whisperx) is not None:
            self.entry.async_create_background_task(
                self.hass, whisperx.async_refresh(), "spark_audio whisperx health"
            )

    @property
    def installed_version(self) -> str | None:
        """What the running WhisperX reports in its health poll (None until it answers)."""
        whisperx = self.whisperx
        if whisperx is None or whisperx.data is None:
            return None
        return whisperx.data.health.version

    @property
    def in_progress(self) -> bool:
        """While an install job runs."""
        return _running(self.installing.job)

    @property
    def update_percentage(self) -> int | None:
        """The running job's percent."""
        job = self.installing.job
        return int(job.percent) if job is not None and not job.done else None

    @translate_errors
    async def async_install(self, version: str | None, backup: bool, **kwargs: Any) -> None:
        """Rebuild and replace the container with the bundled version."""
        await async_start_install(self.hass, self.entry)
