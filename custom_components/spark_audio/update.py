"""Upgrade WhisperX when the container differs from the version this integration bundles."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import SparkService
from .data import SparkAudioConfigEntry
from .install_entities import WhisperXUpdate
from .whisperx_install import bundled_version

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SparkAudioConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Only for an installed WhisperX reachable over SSH (first installs use the button)."""
    data = entry.runtime_data
    if data.ssh is None or SparkService.WHISPERX not in data.coordinators:
        return
    try:
        version = await hass.async_add_executor_job(bundled_version)
    except FileNotFoundError:
        return
    async_add_entities([WhisperXUpdate(entry, version)])
