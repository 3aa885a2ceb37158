"""Buttons: restart a service's container, run a deep check now, install and verify WhisperX."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.button import (
    ButtonDeviceClass,
    ButtonEntity,
    ButtonEntityDescription,
)
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import SparkService
from .data import SparkAudioConfigEntry, SparkAudioData
from .entity import (
    SparkInstallEntity,
    SparkRecoveryEntity,
    async_require_admin,
    translate_errors,
)
from .provided import async_add_provided
from .whisperx_install import async_start_install
from .whisperx_verify import async_verify_whisperx, signal_verify, verify_state

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class SparkButtonDescription(ButtonEntityDescription):
    """A per-service button; ``needs_ssh`` ones exist only with SSH configured."""

    press_fn: Callable[[SparkRecoveryEntity], Awaitable[object]]
    needs_ssh: bool = False
    admin_only: bool = False


BUTTONS: tuple[SparkButtonDescription, ...] = (
    SparkButtonDescription(
        key="restart",
        device_class=ButtonDeviceClass.RESTART,
        entity_category=EntityCategory.CONFIG,
        needs_ssh=True,
        admin_only=True,
        press_fn=lambda e: e.recovery.async_restart(),
    ),
    SparkButtonDescription(
        key="deep_check",
        translation_key="deep_check",
        # On by default: a button writes no state on its own (no recorder churn), and it is
        # how a user checks a service after fixing it by hand.
        entity_category=EntityCategory.DIAGNOSTIC,
        press_fn=lambda e: e.coordinator.async_probe_now(),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SparkAudioConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Buttons per configured service."""
    data = entry.runtime_data
    entities: list[ButtonEntity] = [
        SparkButton(data, service, description)
        for service in data.deep
        for description in BUTTONS
        if data.docker is not None or not description.needs_ssh
    ]
    if data.ssh is not None:
        entities.append(InstallWhisperXButton(entry))
    if data.docker is not None and SparkService.WHISPERX in data.deep:
        entities.append(VerifyWhisperXButton(data))
    async_add_provided(entry, Platform.BUTTON, async_add_entities, entities)


class SparkButton(SparkRecoveryEntity, ButtonEntity):
    """Runs its description's action for one service."""

    entity_description: SparkButtonDescription

    def __init__(
        self, data: SparkAudioData, service: SparkService, description: SparkButtonDescription
    ) -> None:
        """Describe the button and key it to its service."""
        super().__init__(data, service, description.key)
        self.entity_description = description

    @property
    def available(self) -> bool:
        """Buttons work whether or not a deep check has run yet."""
        return True

    @translate_errors
    async def async_press(self) -> None:
        """Run the action."""
        if self.entity_description.admin_only:
            await async_require_admin(self)
        await self.entity_description.press_fn(self)


class InstallWhisperXButton(SparkInstallEntity, ButtonEntity):
    """Starts building and running WhisperX on the Spark (a background job)."""

    _attr_translation_key = "install_whisperx"
    _attr_entity_category = EntityCategory.CONFIG

    def __init__(self, entry: SparkAudioConfigEntry) -> None:
        """One per Spark with SSH."""
        super().__init__(entry, "install_whisperx")

    @property
    def available(self) -> bool:
        """Not while an install job runs: a press would only be refused (available at its end)."""
        return not self.job_running

    @translate_errors
    async def async_press(self) -> None:
        """Start the install; its phase and progress show on the install sensors."""
        await async_require_admin(self)
        await async_start_install(self.hass, self.entry)


class VerifyWhisperXButton(SparkRecoveryEntity, ButtonEntity):
    """Runs the container's own GPU verification over SSH; its last report is in the attributes.

    On by default like the deep check: pressing is the only thing that runs it (an
    administrator's press: it loads a second copy of the models on the GPU).
    """

    _attr_translation_key = "verify_whisperx"
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    # The report's text churns with every run and is in diagnostics: keep it out of history.
    _unrecorded_attributes = frozenset({"report"})

    def __init__(self, data: SparkAudioData) -> None:
        """On the WhisperX device, with SSH."""
        super().__init__(data, SparkService.WHISPERX, "verify_whisperx")

    @property
    def available(self) -> bool:
        """Pressable whether or not a deep check has run yet."""
        return True

    async def async_added_to_hass(self) -> None:
        """Also refresh when a verification starts or ends."""
        await super().async_added_to_hass()
        entry_id = self.coordinator.config_entry.entry_id
        self.async_on_remove(
            async_dispatcher_connect(self.hass, signal_verify(entry_id), self.async_write_ha_state)
        )

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The last report: when, the verdict, each check's status, the text."""
        state = verify_state(self.hass, self.coordinator.config_entry.entry_id)
        report = state.report
        if report is None:
            return {"running": state.running}
        return {
            "running": state.running,
            "last_verified": report.ran_at.isoformat(),
            "passed": report.passed,
            "failed_checks": report.failed,
            "checks": {check.name: check.status for check in report.checks},
            "report": report.as_text(),
        }

    @translate_errors
    async def async_press(self) -> None:
        """Verify; a failed check or no report at all raises a translated error."""
        await async_require_admin(self)
        await async_verify_whisperx(self.hass, self.coordinator.config_entry)
