"""A spool that nobody else owns cleans up after itself (real files, HA's executor)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant

from custom_components.spark_audio.transcription.spool import SpooledFile
from tests.integration.gateway_harness import ours


async def chunks_then(error: BaseException, pieces: int = 3) -> AsyncIterator[bytes]:
    """A few MiB, then ``error`` (a client that broke off, a cancel)."""
    for _ in range(pieces):
        yield b"\x01" * (1024 * 1024)
    raise error


@pytest.mark.parametrize(
    "error",
    [ConnectionResetError("client gone"), asyncio.CancelledError()],
    ids=["fails", "cancel"],
)
async def test_a_failed_spool_leaves_no_file(
    hass: HomeAssistant, spool: Path, error: BaseException
) -> None:
    """``from_chunks`` with no owner of the path: whatever stops it, the file is gone."""
    with pytest.raises(type(error)):
        await SpooledFile.from_chunks(hass, chunks_then(error))
    assert ours(spool) == set()


async def test_a_finished_spool_keeps_its_file_until_removed(
    hass: HomeAssistant, spool: Path
) -> None:
    async def three() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"\x02" * 1000

    spooled = await SpooledFile.from_chunks(hass, three())
    assert spooled.size == 3000
    assert ours(spool) == {spooled.path.name}
    await spooled.remove()
    assert ours(spool) == set()
