"""Fixtures for the HA-free client package tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session, injected into the clients as HA would inject its own."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session
