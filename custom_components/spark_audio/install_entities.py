"""The WhisperX install's entities: button, status sensor, update (shared by the platforms)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.button import ButtonEntity
from homeassistant.components.sensor import SensorDeviceClass, SensorEntity
from homeassistant.components.update import UpdateEntity, UpdateEntityFeature
from homeassistant.const import EntityCategory

from .const import SparkService
from .data import SparkAudioConfigEntry
from .entity import SparkInstallEntity, translate_errors
from .spark.installer import Phase
from .whisperx_install import async_start_install

LOG_TAIL = 10
INSTALL_STATES = ["not_installed", "installing", "installed", "failed"]


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


class WhisperXInstallSensor(SparkInstallEntity, SensorEntity):
    """not_installed / installing / installed / failed, with phase, percent and log tail."""

    _attr_translation_key = "whisperx_install"
    _attr_device_class = SensorDeviceClass.ENUM
    _attr_options = INSTALL_STATES

    def __init__(self, entry: SparkAudioConfigEntry) -> None:
        """One per Spark with SSH."""
        super().__init__(entry, "whisperx_install")

    @property
    def native_value(self) -> str:
        """The install state."""
        job = self.installing.job
        if job is not None and not job.done:
            return "installing"
        if job is not None and job.phase in (Phase.FAILED, Phase.CANCELLED):
            return "failed"
        whisperx = self.entry.runtime_data.coordinators.get(SparkService.WHISPERX)
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

    @property
    def installed_version(self) -> str | None:
        """What the running WhisperX reports (None until it answers)."""
        whisperx = self.entry.runtime_data.coordinators.get(SparkService.WHISPERX)
        if whisperx is None or whisperx.data is None:
            return None
        return whisperx.data.health.version

    @property
    def in_progress(self) -> bool:
        """While an install job runs."""
        job = self.installing.job
        return job is not None and not job.done

    @property
    def update_percentage(self) -> int | None:
        """The running job's percent."""
        job = self.installing.job
        return int(job.percent) if job is not None and not job.done else None

    @translate_errors
    async def async_install(self, version: str | None, backup: bool, **kwargs: Any) -> None:
        """Rebuild and replace the container with the bundled version."""
        await async_start_install(self.hass, self.entry)
