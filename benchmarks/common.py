"""Helpers shared by the benchmarks: a simulated Spark and robust statistics."""

from __future__ import annotations

import statistics
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from tests.spark_sim.server import SparkSim


@asynccontextmanager
async def spark_and_session() -> AsyncIterator[tuple[SparkSim, aiohttp.ClientSession]]:
    """A simulated Spark on loopback and a client session, torn down afterwards."""
    async with SparkSim(with_whisperx=False) as sim, aiohttp.ClientSession() as session:
        yield sim, session


def median_ms(samples: list[float]) -> float:
    """Median of samples given in seconds, in milliseconds."""
    return statistics.median(samples) * 1000
