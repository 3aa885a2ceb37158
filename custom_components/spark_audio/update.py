"""Upgrade WhisperX when the container differs from the version this integration bundles."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from homeassistant.components.update import UpdateEntity, UpdateEntityFeature
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .brand_fallback import update_entity_picture
from .const import SparkService
from .data import SparkAudioConfigEntry
from .entity import SparkInstallEntity, async_require_admin, translate_errors
from .provided import async_add_provided
from .whisperx_install import async_start_install, bundled_version

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SparkAudioConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Only for an installed WhisperX reachable over SSH (first installs use the button)."""
    data = entry.runtime_data
    entities = []
    if data.ssh is not None and SparkService.WHISPERX in data.coordinators:
        with suppress(FileNotFoundError):  # no bundled image, nothing to update to
            entities.append(
                WhisperXUpdate(entry, await hass.async_add_executor_job(bundled_version))
            )
    async_add_provided(entry, Platform.UPDATE, async_add_entities, entities)


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
    def entity_picture(self) -> str | None:
        """The integration's icon, also on HA releases that cannot show it (brand_fallback)."""
        return update_entity_picture(super().entity_picture)

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
        return self.job_running

    @property
    def update_percentage(self) -> int | None:
        """The running job's percent."""
        job = self.installing.job
        return int(job.percent) if job is not None and not job.done else None

    @translate_errors
    async def async_install(self, version: str | None, backup: bool, **kwargs: Any) -> None:
        """Rebuild and replace the container with the bundled version."""
        await async_require_admin(self)
        await async_start_install(self.hass, self.entry)
