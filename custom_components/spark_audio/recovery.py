"""Wedge -> restart policy: detect, restart over SSH, wait until the service works again."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import datetime

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect, async_dispatcher_send
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .const import (
    DOMAIN,
    EVENT_RESTART_FAILED,
    EVENT_SERVICE_RECOVERED,
    EVENT_SERVICE_RESTARTED,
    EVENT_WEDGE_DETECTED,
    HEALTHY_TO_CLEAR_ISSUE,
    RECOVERY_PROBE_INTERVAL,
    RECOVERY_TIMEOUT,
    RESTART_RETRY_DELAY,
    SERVICE_NAMES,
    SparkService,
)
from .data import (
    SparkAudioConfigEntry,
    async_entry_device,
    signal_deep_check,
    signal_recovery,
)
from .deep_check import DeepCheckCoordinator, DeepCheckStatus
from .repairs import async_raise_host_key_changed
from .restart_history import RestartHistoryStore
from .restart_policy import REASON_MANUAL, RestartPolicy
from .spark import SparkError
from .spark.errors import SparkSSHHostKeyError
from .spark.remote.docker import DockerOverSSH

_LOGGER = logging.getLogger(__name__)
_KEPT_ERRORS = 5


def keeps_wedging_issue_id(entry_id: str, service: SparkService) -> str:
    """Repair issue id for a service past its restart limit."""
    return f"keeps_wedging_{entry_id}_{service}"


def ssh_missing_issue_id(entry_id: str) -> str:
    """Repair issue id suggesting SSH for automatic recovery."""
    return f"ssh_not_configured_{entry_id}"


class ServiceRecovery:
    """Recovery state of one service: wedged or not, restarts, recent errors."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SparkAudioConfigEntry,
        deep: DeepCheckCoordinator,
        container: str,
        docker: DockerOverSSH | None,
        policy: RestartPolicy,
        history: RestartHistoryStore,
    ) -> None:
        """Watch ``deep``'s results; restart ``container`` through ``docker`` if given."""
        self.hass = hass
        self.entry = entry
        self.deep = deep
        self.service = deep.service
        self.container = container
        self.docker = docker
        self.policy = policy
        self.history = history
        history.policies[self.service] = policy
        self.wedged = False
        self.restarting = False
        self.last_errors: deque[str] = deque(maxlen=_KEPT_ERRORS)
        self.healthy_since: datetime | None = None
        self.signal = signal_recovery(entry.entry_id, self.service)
        entry.async_on_unload(
            async_dispatcher_connect(
                hass, signal_deep_check(entry.entry_id, self.service), self.handle_status
            )
        )

    def restarts_since(self, since: datetime) -> int:
        """Restarts (automatic or manual) since ``since``."""
        return self.policy.count_since(since)

    @callback
    def handle_status(self, status: DeepCheckStatus) -> None:
        """React to a deep check: note recoveries, restart wedged services."""
        if status.ok:
            self._on_healthy(status.checked_at)
        elif status.wedged:
            self._on_wedged(status.error or "inference failed")
        self._notify()

    def _on_healthy(self, now: datetime) -> None:
        if self.wedged:
            self.wedged = False
            self._fire(EVENT_SERVICE_RECOVERED, "deep check passed")
            _LOGGER.info("%s works again", SERVICE_NAMES[self.service])
            # "Add SSH to cure wedges" is true only while some service of the Spark is wedged.
            if not any(r.wedged for r in self.entry.runtime_data.recovery.values()):
                ir.async_delete_issue(self.hass, DOMAIN, ssh_missing_issue_id(self.entry.entry_id))
        if self.healthy_since is None:
            self.healthy_since = now
        elif (now - self.healthy_since).total_seconds() >= HEALTHY_TO_CLEAR_ISSUE:
            ir.async_delete_issue(
                self.hass, DOMAIN, keeps_wedging_issue_id(self.entry.entry_id, self.service)
            )

    def _on_wedged(self, reason: str) -> None:
        self.last_errors.append(reason)
        self.healthy_since = None
        if not self.wedged:
            self.wedged = True
            _LOGGER.warning("%s is wedged: %s", SERVICE_NAMES[self.service], reason)
            self._fire(EVENT_WEDGE_DETECTED, reason)
        if self.docker is None:
            self._raise_ssh_missing()
            return
        if self.restarting:
            return
        if not self.policy.allows(dt_util.utcnow()):
            self._raise_keeps_wedging()
            return
        self.restarting = True
        self.entry.async_create_background_task(
            self.hass, self._restart_and_recover(reason), f"spark_audio restart {self.service}"
        )

    async def async_restart(self) -> None:
        """Restart on request (button, action); then watch for recovery in the background.

        Counted in the history with reason "manual", but not against the
        automatic limit (see `RestartPolicy`).
        """
        if self.docker is None:
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="ssh_not_configured"
            )
        if self.restarting:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="restart_in_progress",
                translation_placeholders={"service": SERVICE_NAMES[self.service]},
            )
        self.restarting = True
        try:
            if not await self._restart(REASON_MANUAL, automatic=False):
                raise HomeAssistantError(
                    translation_domain=DOMAIN,
                    translation_key="restart_failed",
                    translation_placeholders={
                        "service": SERVICE_NAMES[self.service],
                        "error": self.last_errors[-1] if self.last_errors else "",
                    },
                )
        except BaseException:
            self.restarting = False
            self._notify()
            raise
        self.entry.async_create_background_task(
            self.hass, self._wait_until_working(), f"spark_audio recover {self.service}"
        )

    async def _restart_and_recover(self, reason: str) -> None:
        try:
            if await self._restart(reason, automatic=True):
                await self._wait_until_working()
        finally:
            self.restarting = False
            self._notify()

    async def _restart(self, reason: str, *, automatic: bool) -> bool:
        """``docker restart``; False (with an event and a retry scheduled) if it failed."""
        assert self.docker is not None
        _LOGGER.warning("Restarting %s (%s): %s", self.container, self.service, reason)
        try:
            await self.docker.restart(self.container)
        except SparkError as err:
            message = str(err) or type(err).__name__
            self.last_errors.append(f"restart failed: {message}")
            _LOGGER.error("Could not restart %s: %s", self.container, message)
            self._fire(EVENT_RESTART_FAILED, message)
            if isinstance(err, SparkSSHHostKeyError):
                async_raise_host_key_changed(self.hass, self.entry, err)
            self._schedule_retry()
            return False
        self.policy.record(dt_util.utcnow(), reason, automatic=automatic)
        self._fire(EVENT_SERVICE_RESTARTED, reason)
        self._notify()
        await self.history.async_save()
        return True

    async def _wait_until_working(self) -> None:
        """Probe every few seconds until inference works or recovery gives up.

        Busy ends the wait too: the restart emptied the queue, so new work is
        running; the periodic checks confirm recovery once it is idle again.
        """
        try:
            async with asyncio.timeout(RECOVERY_TIMEOUT):
                while True:
                    await asyncio.sleep(RECOVERY_PROBE_INTERVAL)
                    status = await self.deep.async_probe_now()
                    if status.ok or status.busy:
                        return
        except TimeoutError:
            _LOGGER.error(
                "%s did not recover within %.0f s of its restart",
                SERVICE_NAMES[self.service],
                RECOVERY_TIMEOUT,
            )
        finally:
            self.restarting = False
            self._notify()

    def _schedule_retry(self) -> None:
        """Probe again later: if still wedged, that probe restarts it (limits permitting)."""

        @callback
        def _retry(_now: datetime) -> None:
            self.entry.async_create_background_task(
                self.hass, self.deep.async_probe_now(), f"spark_audio retry {self.service}"
            )

        self.entry.async_on_unload(async_call_later(self.hass, RESTART_RETRY_DELAY, _retry))

    def _raise_keeps_wedging(self) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            keeps_wedging_issue_id(self.entry.entry_id, self.service),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="keeps_wedging",
            translation_placeholders={
                "service": SERVICE_NAMES[self.service],
                "container": self.container,
                "host": self.entry.runtime_data.host,
                "max_per_hour": str(self.policy.max_per_hour),
                "errors": "\n".join(f"- {e}" for e in self.last_errors),
            },
        )

    def _raise_ssh_missing(self) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            ssh_missing_issue_id(self.entry.entry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="ssh_not_configured",
            translation_placeholders={
                "service": SERVICE_NAMES[self.service],
                "host": self.entry.runtime_data.host,
            },
        )

    def _fire(self, event: str, reason: str) -> None:
        """Fire ``event``; its ``device_id`` drives device triggers and the logbook."""
        device = async_entry_device(
            self.hass, self.entry.entry_id, self.deep.health.device_identifier
        )
        self.hass.bus.async_fire(
            event,
            {
                "entry_id": self.entry.entry_id,
                "device_id": device.id if device is not None else None,
                "service": str(self.service),
                "container": self.container,
                "reason": reason,
            },
        )

    def _notify(self) -> None:
        async_dispatcher_send(self.hass, self.signal)
