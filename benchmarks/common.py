"""Helpers shared by the benchmarks: a simulated Spark, robust statistics, the revision CLI."""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

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


def run_against_revision(
    doc: str,
    measure: Callable[[int, str], Coroutine[Any, Any, None]],
    revision: str,
    rounds: int = 400,
) -> None:
    """The command line of a benchmark that times code now against a git revision of it.

    ``measure(rounds, revision)`` runs both, interleaved, and prints its table.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n", maxsplit=1)[0])
    parser.add_argument("--revision", default=revision)
    parser.add_argument("--rounds", type=int, default=rounds)
    args = parser.parse_args()
    asyncio.run(measure(args.rounds, args.revision))
