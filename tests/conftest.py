"""Fixtures shared by every test package: the simulated Spark."""

from __future__ import annotations

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
        await sim.stop()  # also cancels handlers whose clients hung up
