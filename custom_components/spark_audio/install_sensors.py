"""The install job's phase and percentage as sensor states, for dashboards without templates.

`WhisperXInstallSensor` says whether WhisperX is installed; these two say how
far the last install job of this HA got. Both are unknown until a job has run
(or been taken up after a restart) and keep its last value once it ends.
"""

from __future__ import annotations

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorStateClass
from homeassistant.const import PERCENTAGE

from .data import SparkAudioConfigEntry
from .entity import SparkInstallEntity
from .spark.installer.progress import Phase

INSTALL_PHASES = [str(phase) for phase in Phase]


class WhisperXInstallProgressSensor(SparkInstallEntity, SensorEntity):
    """The install job's percent: rises during a job, 100 once it succeeded."""

    _attr_translation_key = "whisperx_install_progress"
    _attr_native_unit_of_measurement = PERCENTAGE
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_suggested_display_precision = 0

    def __init__(self, entry: SparkAudioConfigEntry) -> None:
        """One per Spark with SSH, beside the install sensor."""
        super().__init__(entry, "whisperx_install_progress")

    @property
    def native_value(self) -> float | None:
        """The job's percent (kept after a failure: how far it got); unknown before any job."""
        job = self.installing.job
        return None if job is None else round(job.percent, 1)


class WhisperXInstallPhaseSensor(SparkInstallEntity, SensorEntity):
    """The install job's phase: connect, build, wait_healthy... done, failed or cancelled."""

    _attr_translation_key = "whisperx_install_phase"
    _attr_device_class = SensorDeviceClass.ENUM
    _attr_options = INSTALL_PHASES

    def __init__(self, entry: SparkAudioConfigEntry) -> None:
        """One per Spark with SSH, beside the install sensor."""
        super().__init__(entry, "whisperx_install_phase")

    @property
    def native_value(self) -> str | None:
        """The job's phase; unknown before any job."""
        job = self.installing.job
        return None if job is None else str(job.phase)
