"""Deep checks: real inference on a schedule, the only way to see a CUDA wedge.

Periodic, on demand (button, action) and after a 5xx; each one looks at health
first, so a service busy with long work is reported busy, never probed through
its queue and never restarted (`spark.clients.probes.deep_probe`).
"""

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

from .const import (
    CONF_DEEP_CHECK_INTERVAL,
    CONF_DEFAULT_VOICE,
    DEFAULT_DEEP_CHECK_INTERVAL,
    DEFAULT_VOICE,
    SERVICE_NAMES,
    SparkService,
)
from .coordinator import SparkServiceCoordinator
from .data import SparkAudioConfigEntry, signal_deep_check
from .spark import MagpieClient, SparkError
from .spark.clients.probes import (
    ProbeResult,
    RoundTripResult,
    Verdict,
    deep_probe,
    probe_synthesis,
    probe_transcription,
    round_trip,
)
from .spark.clients.transcription import OpenAITranscriptionClient

_LOGGER = logging.getLogger(__name__)

type Probe = Callable[[], Awaitable[ProbeResult]]


def deep_check_interval(entry: SparkAudioConfigEntry) -> timedelta:
    """How often deep checks (and the round trip) run, from the options."""
    return timedelta(
        minutes=entry.options.get(CONF_DEEP_CHECK_INTERVAL, DEFAULT_DEEP_CHECK_INTERVAL)
    )


@dataclass(frozen=True, slots=True)
class DeepCheckStatus:
    """The outcome of one deep check (see `Verdict` for what each one means)."""

    verdict: Verdict
    checked_at: datetime
    latency_s: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """The probe's inference worked."""
        return self.verdict is Verdict.OK

    @property
    def wedged(self) -> bool:
        """The service answers but cannot infer: recovery restarts it."""
        return self.verdict is Verdict.WEDGED

    @property
    def busy(self) -> bool:
        """Work held the GPU, so nothing was concluded (and nothing queued behind it)."""
        return self.verdict is Verdict.BUSY


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
        """Probe now (or join the probe already running) and publish the result.

        Joined here, not through the coordinator's refresh, so that callers at
        the same moment (button, action, a 5xx, the timer) share one probe
        whatever the HA version's refresh does.
        """
        status = await self._join_probe()
        if self.data is not status:
            self.async_set_updated_data(status)
        return status

    async def _async_update_data(self) -> DeepCheckStatus:
        return await self._join_probe()

    async def _join_probe(self) -> DeepCheckStatus:
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
        result = await deep_probe(self.health.client, self._probe)
        if result.verdict is not Verdict.OK:
            # Debug only: a service that does not answer is logged once by its health
            # coordinator, a wedge once by recovery when it starts and once when it ends.
            _LOGGER.debug(
                "%s deep check: %s (%s)", SERVICE_NAMES[self.service], result.verdict, result.reason
            )
        return DeepCheckStatus(
            verdict=result.verdict,
            checked_at=dt_util.utcnow(),
            latency_s=result.latency_s,
            error=result.reason,
        )


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


def probe_voice(entry: SparkAudioConfigEntry, magpie: SparkServiceCoordinator[MagpieClient]) -> str:
    """The configured default voice if Magpie offers it, else its first voice."""
    wanted = entry.options.get(CONF_DEFAULT_VOICE, DEFAULT_VOICE)
    catalog = magpie.data.voices if magpie.data else None
    if catalog is None or not catalog.voices or catalog.get(wanted) is not None:
        return str(wanted)
    return catalog.voices[0].name


def make_probes(entry: SparkAudioConfigEntry, clip: bytes) -> dict[SparkService, Probe]:
    """Each service's deep probe: real inference, small input."""
    data = entry.runtime_data
    probes: dict[SparkService, Probe] = {}
    if (magpie := data.magpie) is not None:
        probes[magpie.service] = _synthesis_probe(entry, magpie)
    for stt in (data.parakeet, data.whisperx):
        if stt is not None:
            probes[stt.service] = _transcription_probe(stt.client, clip)
    return probes


def _synthesis_probe(
    entry: SparkAudioConfigEntry, magpie: SparkServiceCoordinator[MagpieClient]
) -> Probe:
    async def probe() -> ProbeResult:
        return await probe_synthesis(magpie.client, voice=probe_voice(entry, magpie))

    return probe


def _transcription_probe(client: OpenAITranscriptionClient, clip: bytes) -> Probe:
    async def probe() -> ProbeResult:
        return await probe_transcription(client, clip)

    return probe


def make_round_trip(
    hass: HomeAssistant, entry: SparkAudioConfigEntry
) -> RoundTripCoordinator | None:
    """Magpie -> Parakeet round trip, when the Spark runs both."""
    data = entry.runtime_data
    magpie, parakeet = data.magpie, data.parakeet
    if magpie is None or parakeet is None:
        return None

    async def run() -> RoundTripResult:
        return await round_trip(magpie.client, parakeet.client, voice=probe_voice(entry, magpie))

    return RoundTripCoordinator(hass, entry, run)
