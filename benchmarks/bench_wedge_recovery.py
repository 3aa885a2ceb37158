"""Time from a CUDA wedge to the service answering again, through the real recovery path.

Runs inside Home Assistant's test harness (a real HA core, the simulated Spark,
a real OpenSSH server on loopback with the stand-in docker), because recovery
is HA code: deep-check coordinator -> wedge -> ``docker restart`` over SSH ->
probes until inference works. The simulated restart keeps the service down for
20 s, like a container reloading its model. The target is
probe interval + restart time + < 5 s; the run prints each part and the ratio
of the measured time to that budget.

Run: .venv/bin/python -m pytest benchmarks/bench_wedge_recovery.py -s -q -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp
from homeassistant.core import Event, HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import (
    EVENT_SERVICE_RESTARTED,
    EVENT_WEDGE_DETECTED,
    SparkService,
)
from custom_components.spark_audio.spark import ParakeetClient, SparkError
from custom_components.spark_audio.spark.clients.probes import load_probe_clip
from custom_components.spark_audio.spark.clients.transcription import TranscriptionOptions
from tests.conftest import spark_sim  # noqa: F401  (fixture)
from tests.integration.conftest import (  # noqa: F401  (fixtures)
    auto_enable_custom_integrations,
    ssh_entry,
    ssh_host,
    standin_containers,
)
from tests.spark_sim.faults import Fault
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost

PROBE_INTERVAL_S = 10.0
RESTART_S = 20.0


async def test_wedge_to_answering(
    hass: HomeAssistant,
    spark_sim: SparkSim,  # noqa: F811
    ssh_host: SSHTestHost,  # noqa: F811
    ssh_entry: MockConfigEntry,  # noqa: F811
) -> None:
    ssh_host.write_containers(
        standin_containers(spark_sim, parakeet={"restart_delay_s": RESTART_S})
    )
    ssh_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    deep = ssh_entry.runtime_data.deep[SparkService.PARAKEET]
    deep.update_interval = timedelta(seconds=PROBE_INTERVAL_S)
    marks: dict[str, float] = {}

    def mark(name: str) -> Callable[[Event[Any]], None]:
        def note(_event: Event[Any]) -> None:
            marks.setdefault(name, time.monotonic())

        return note

    hass.bus.async_listen(EVENT_WEDGE_DETECTED, mark("detected"))
    hass.bus.async_listen(EVENT_SERVICE_RESTARTED, mark("restarted"))
    clip = await hass.async_add_executor_job(load_probe_clip)

    # Wedge right after a periodic probe: the worst case for detection.
    await deep.async_refresh()
    async with aiohttp.ClientSession() as session:
        client = ParakeetClient(session, "127.0.0.1", spark_sim.ports["parakeet"], timeout=5)
        spark_sim.states["parakeet"].fault = Fault.WEDGE
        wedged_at = time.monotonic()
        while time.monotonic() - wedged_at < PROBE_INTERVAL_S + RESTART_S + 60:
            try:
                await client.transcribe(clip, TranscriptionOptions(language="en"))
            except SparkError:
                await asyncio.sleep(0.25)
                continue
            break
        answering_at = time.monotonic()
    await hass.async_block_till_done(wait_background_tasks=True)
    await hass.config_entries.async_unload(ssh_entry.entry_id)

    total = answering_at - wedged_at
    detection = marks["detected"] - wedged_at
    restart_issued = marks["restarted"] - marks["detected"]
    after_restart = answering_at - marks["restarted"]
    budget = PROBE_INTERVAL_S + RESTART_S + 5
    print()
    print(f"probe interval {PROBE_INTERVAL_S:.0f} s, simulated restart {RESTART_S:.0f} s")
    print(f"wedge -> detected by a deep check:        {detection:6.2f} s")
    print(f"detected -> docker restart done over SSH: {restart_issued:6.2f} s")
    print(f"restart -> service answering again:       {after_restart:6.2f} s")
    print(f"wedge -> answering again (total):         {total:6.2f} s")
    overhead = total - PROBE_INTERVAL_S - RESTART_S
    print(f"beyond probe interval + restart time:     {overhead:6.2f} s (target < 5 s)")
    print(f"total / (interval + restart + 5 s):       {total / budget:6.3f} (target <= 1)")
    assert spark_sim.states["parakeet"].restarts == 1
