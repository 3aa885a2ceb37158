"""Fixtures for the simulated Spark's own tests (plain pytest-asyncio)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from tests.spark_sim import SparkSim


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark coroutine tests for pytest-asyncio whatever asyncio_mode is."""
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.function):
            item.add_marker(pytest.mark.asyncio)


@pytest.fixture(autouse=True)
def _loopback_sockets(request: pytest.FixtureRequest) -> None:
    """Allow inet sockets where pytest-socket (the HA plugin) blocks them."""
    if request.config.pluginmanager.hasplugin("socket"):
        request.getfixturevalue("socket_enabled")


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SparkSim]:
    """A running simulated Spark on ephemeral loopback ports."""
    async with SparkSim() as spark:
        yield spark


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session that never reuses a connection across faults."""
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        timeout=aiohttp.ClientTimeout(total=10),
    ) as client:
        yield client
