"""The HA side of the WhisperX device's "Verify on the GPU": run the container's check over SSH.

The last report of each entry lives in ``hass.data`` (kept across reloads, not
restarts: it is a diagnosis, re-run on demand) and shows in the button's
attributes and in diagnostics. One verification per entry at a time: it loads a
second copy of the models on the GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
from homeassistant.util.signal_type import SignalType

from .const import DOMAIN, SparkService
from .containers import container_names
from .data import SparkAudioConfigEntry
from .spark.remote.whisperx_verify import VerifyReport, WhisperXVerifyError, run_verify

VERIFY_STATE: HassKey[dict[str, EntryVerifyState]] = HassKey(f"{DOMAIN}_whisperx_verify")


@dataclass(slots=True)
class EntryVerifyState:
    """The last report of one entry and whether a verification runs now."""

    report: VerifyReport | None = None
    running: bool = False


def signal_verify(entry_id: str) -> SignalType[()]:
    """Sent when an entry's verification starts or ends."""
    return SignalType(f"{DOMAIN}_{entry_id}_whisperx_verify")


def verify_state(hass: HomeAssistant, entry_id: str) -> EntryVerifyState:
    """The entry's verification state (created on first use)."""
    return hass.data.setdefault(VERIFY_STATE, {}).setdefault(entry_id, EntryVerifyState())


async def async_verify_whisperx(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> VerifyReport:
    """Run ``python -m app.verify --json`` in the WhisperX container and store its report.

    A report with a failed check is stored, then raised as a translated error
    naming the checks; no report at all is a translated error with Docker's answer.
    """
    docker = entry.runtime_data.docker
    if docker is None:
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="ssh_not_configured")
    state = verify_state(hass, entry.entry_id)
    if state.running:
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="whisperx_verify_busy")
    state.running = True
    async_dispatcher_send(hass, signal_verify(entry.entry_id))
    container = container_names(entry)[SparkService.WHISPERX]
    try:
        report = await run_verify(docker, container, dt_util.utcnow())
        state.report = report
    except WhisperXVerifyError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="whisperx_verify_no_report",
            translation_placeholders={
                "container": container,
                "status": str(err.exit_status),
                "error": str(err),
            },
        ) from err
    finally:
        state.running = False
        async_dispatcher_send(hass, signal_verify(entry.entry_id))
    if not report.passed:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="whisperx_verify_failed",
            translation_placeholders={"checks": ", ".join(report.failed) or "?"},
        )
    return report


def verify_diagnostics(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> dict[str, object]:
    """The last report for diagnostics (None when none ran since Home Assistant started)."""
    report = verify_state(hass, entry.entry_id).report
    return {"last_report": None if report is None else report.as_dict()}
