"""Fixtures shared by every test package: the simulated Spark."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.spark_sim.server import SparkSim


@pytest.fixture
async def spark_sim(socket_enabled: None) -> AsyncIterator[SparkSim]:
    """A simulated Spark (Parakeet, Magpie, WhisperX) on loopback ephemeral ports.

    HA's test plugin blocks every socket; the simulator needs real loopback ones.
    """
    sim = SparkSim()
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()
        await settle_server_tasks()


async def settle_server_tasks() -> None:
    """Cancel the stopped simulator's leftover request handlers.

    aiohttp lets a handler run on after its client hung up (a timed-out probe
    of a "slow" service); HA's leak check would flag it once the test ends.
    """
    current = asyncio.current_task()
    leftovers = [
        t for t in asyncio.all_tasks() if t is not current and "RequestHandler" in str(t.get_coro())
    ]
    for task in leftovers:
        task.cancel()
    if leftovers:
        await asyncio.wait(leftovers, timeout=2)
