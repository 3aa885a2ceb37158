"""WhisperX off its GPU: a repair while it runs (or would run) on the CPU of a Spark.

A Spark always has its GPU, so WhisperX's health saying ``device: cpu`` (an image
told to, or one from before 0.3.0 that fell back by itself) or answering 503
because CUDA is missing (the NVIDIA runtime not given to the container) is a
setup to fix on the Spark. Restarting cures neither: recovery reads that 503 as
"down", never as a wedge.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect

from .const import DOMAIN, SparkService
from .coordinator import SparkServiceCoordinator
from .data import SparkAudioConfigEntry, signal_health_report
from .spark.clients.whisperx import WhisperXDevice


def whisperx_off_gpu_issue_id(entry_id: str) -> str:
    """Repair issue id for WhisperX running without the Spark's GPU."""
    return f"whisperx_off_gpu_{entry_id}"


@callback
def async_follow_whisperx_device(
    hass: HomeAssistant, entry: SparkAudioConfigEntry, whisperx: SparkServiceCoordinator | None
) -> None:
    """Raise or clear the repair on every change of what WhisperX reports, from its first poll.

    Set up before the first poll, so a WhisperX that never gets ready (503) is
    reported too. Without WhisperX in the entry any earlier issue goes.
    """
    issue_id = whisperx_off_gpu_issue_id(entry.entry_id)
    if whisperx is None:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return

    @callback
    def _check() -> None:
        if whisperx.reported is None:
            return
        device = WhisperXDevice.of(whisperx.reported)
        if device.on_gpu:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
        elif device.error is not None:
            _raise(hass, entry, "whisperx_cuda_missing", {"reason": device.error})
        elif device.off_gpu:
            _raise(hass, entry, "whisperx_on_cpu", {"compute_type": device.compute_type or "?"})

    entry.async_on_unload(
        async_dispatcher_connect(
            hass, signal_health_report(entry.entry_id, SparkService.WHISPERX), _check
        )
    )


def _raise(
    hass: HomeAssistant, entry: SparkAudioConfigEntry, key: str, placeholders: dict[str, str]
) -> None:
    ir.async_create_issue(
        hass,
        DOMAIN,
        whisperx_off_gpu_issue_id(entry.entry_id),
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=key,
        translation_placeholders={"host": entry.runtime_data.host, **placeholders},
    )
