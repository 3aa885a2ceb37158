"""Deep checks: real inference on a schedule, the only way to see a CUDA wedge."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from homeassistant.core import HomeAssistant
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .const import CONF_DEEP_CHECK_INTERVAL, DEFAULT_DEEP_CHECK_INTERVAL, SERVICE_NAMES
from .coordinator import SparkServiceCoordinator
from .data import SparkAudioConfigEntry, signal_deep_check
from .spark import SparkError
from .spark.probes import ProbeResult, RoundTripResult

_LOGGER = logging.getLogger(__name__)

type Probe = Callable[[], Awaitable[ProbeResult]]


def deep_check_interval(entry: SparkAudioConfigEntry) -> timedelta:
    """How often deep checks (and the round trip) run, from the options."""
    return timedelta(
        minutes=entry.options.get(CONF_DEEP_CHECK_INTERVAL, DEFAULT_DEEP_CHECK_INTERVAL)
    )


@dataclass(frozen=True, slots=True)
class DeepCheckStatus:
    """The outcome of one deep check."""

    ok: bool
    checked_at: datetime
    latency_s: float | None = None
    error: str | None = None
    service_answers: bool = True

    @property
    def wedged(self) -> bool:
        """Inference failed although the service still answers its health check."""
        return not self.ok and self.service_answers


class DeepCheckCoordinator(DataUpdateCoordinator[DeepCheckStatus]):
    """Runs one service's deep probe periodically and on demand, one at a time.

    A failed probe is data, not an update failure: the entities stay available
    and report the wedge. Concurrent requests share the probe in flight.
    """

    config_entry: SparkAudioConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SparkAudioConfigEntry,
        health: SparkServiceCoordinator,
        probe: Probe,
    ) -> None:
        """Probe ``health``'s service with ``probe`` at the configured interval."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{SERVICE_NAMES[health.service]} deep check",
            update_interval=deep_check_interval(entry),
        )
        self.service = health.service
        self.health = health
        self._probe = probe
        self._in_flight: asyncio.Future[DeepCheckStatus] | None = None

    async def async_probe_now(self) -> DeepCheckStatus:
        """Probe now (or join the probe already running) and publish the result."""
        await self.async_refresh()
        assert self.data is not None
        return self.data

    async def _async_update_data(self) -> DeepCheckStatus:
        if self._in_flight is None or self._in_flight.done():
            self._in_flight = asyncio.ensure_future(self._run_probe())
        return await asyncio.shield(self._in_flight)

    async def _run_probe(self) -> DeepCheckStatus:
        status = await self._probe_once()
        # Once per probe, however many refreshes joined it (recovery counts wedges).
        async_dispatcher_send(
            self.hass, signal_deep_check(self.config_entry.entry_id, self.service), status
        )
        return status

    async def _probe_once(self) -> DeepCheckStatus:
        try:
            result = await self._probe()
        except (SparkError, ValueError) as err:
            answers = await self._service_answers()
            # Debug only: a service that does not answer is logged once by its health
            # coordinator, a wedge once by recovery when it starts and once when it ends.
            _LOGGER.debug(
                "%s deep check failed%s: %s",
                SERVICE_NAMES[self.service],
                " while its health check passes" if answers else "",
                err,
            )
            return DeepCheckStatus(
                ok=False, checked_at=dt_util.utcnow(), error=str(err), service_answers=answers
            )
        return DeepCheckStatus(ok=True, checked_at=dt_util.utcnow(), latency_s=result.latency_s)

    async def _service_answers(self) -> bool:
        """Ask the health endpoint right now; a stale poll could be minutes old."""
        try:
            await self.health.client.fetch_status()
        except SparkError:
            return False
        return True


class RoundTripCoordinator(DataUpdateCoordinator[RoundTripResult | None]):
    """Magpie speaks a known phrase, Parakeet transcribes it; latency and RTF."""

    config_entry: SparkAudioConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SparkAudioConfigEntry,
        run: Callable[[], Awaitable[RoundTripResult]],
    ) -> None:
        """Run the round trip at the deep-check interval."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name="Magpie to Parakeet round trip",
            update_interval=deep_check_interval(entry),
        )
        self._run = run
        self._misheard = False

    async def _async_update_data(self) -> RoundTripResult | None:
        try:
            result = await self._run()
        except (SparkError, ValueError) as err:
            _LOGGER.debug("Round trip failed: %s", err)
            return None
        # One warning when Parakeet starts mishearing, one line when it hears right again.
        if not result.understood and not self._misheard:
            _LOGGER.warning("Round trip: Parakeet heard %r for Magpie's test phrase", result.heard)
        elif result.understood and self._misheard:
            _LOGGER.info("Round trip: Parakeet hears Magpie's test phrase again")
        self._misheard = not result.understood
        return result
