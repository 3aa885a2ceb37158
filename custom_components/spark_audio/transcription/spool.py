"""Temporary files for uploads: written without blocking, never left behind.

Spool names carry HA's PID so a restart can tell a crashed run's leftovers
from another process's live files. A spool never eats into the last
``MIN_FREE_BYTES`` of its disk: HA's database, backups and logs need them more
than an upload does (the caller hears 507).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

from homeassistant.core import HomeAssistant

from .errors import TranscriptionError

SPOOL_CHUNK = 1024 * 1024
MIN_FREE_BYTES = 1024 * 1024 * 1024
"""Free space on the spool's disk that uploads and decoded audio never take."""
SPOOL_PREFIX = "spark_audio_"
_LEGACY_STALE_S = 3600.0


def spool_path(suffix: str) -> Path:
    """A fresh temporary path whose name says which process owns it."""
    token = secrets.token_hex(8)
    return Path(tempfile.gettempdir(), f"{SPOOL_PREFIX}{os.getpid()}_{token}{suffix}")


def free_bytes(target: Path | int) -> int:
    """Free bytes for us on the disk holding ``target``, a path or an open descriptor (blocking)."""
    disk = os.fstatvfs(target) if isinstance(target, int) else os.statvfs(target)
    return disk.f_bavail * disk.f_frsize


def free_bytes_above_reserve(folder: Path) -> int:
    """How many more bytes may be spooled in ``folder`` (blocking: run in the executor)."""
    return free_bytes(folder) - MIN_FREE_BYTES


def insufficient_storage() -> TranscriptionError:
    """The 507 for a spool that would eat into the disk's reserve."""
    return TranscriptionError(
        507,
        "Home Assistant does not have enough free disk space to take this audio",
        param="file",
        code="insufficient_storage",
    )


def remove_stale_spool_files(directory: Path | None = None) -> int:
    """Delete spool files left by a crashed run (blocking; run in the executor).

    A file is stale when the process named in it is gone or is this one (at
    startup this process has no uploads yet); unnamed legacy files when old.
    """
    folder = directory or Path(tempfile.gettempdir())
    removed = 0
    for path in folder.glob(f"{SPOOL_PREFIX}*"):
        owner = path.name.removeprefix(SPOOL_PREFIX).split("_", 1)[0]
        try:
            if owner.isdigit():
                if int(owner) != os.getpid() and _alive(int(owner)):
                    continue
            elif time.time() - path.stat().st_mtime < _LEGACY_STALE_S:
                continue
            path.unlink()
        except OSError:
            continue
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def shielded_unlink(hass: HomeAssistant, path: Path) -> None:
    """Remove ``path`` even when the caller is being cancelled."""
    await asyncio.shield(hass.async_add_executor_job(path.unlink, True))


class SpoolWriter:
    """Writes chunks to a new file in the executor, one write in flight behind the caller.

    Chunks are gathered (not copied) up to 1 MiB and written with one
    ``writev``; the caller only waits when the previous write has not landed.
    Whatever fails or is cancelled, ``discard`` leaves no file behind.
    """

    def __init__(self, hass: HomeAssistant, path: Path) -> None:
        """Start creating ``path`` (exclusively, 0600)."""
        self._hass = hass
        self.path = path
        self._create = hass.async_add_executor_job(_create, path)
        self._pending: asyncio.Future[None] | None = None
        self._batch: list[bytes] = []
        self._batched = 0
        self._closed = False
        self.size = 0

    async def write(self, chunk: bytes) -> None:
        """Queue ``chunk``; hand a full batch to the executor."""
        self._batch.append(chunk)
        self._batched += len(chunk)
        if self._batched >= SPOOL_CHUNK:
            await self._flush()

    async def _flush(self) -> None:
        fd = await asyncio.shield(self._create)
        if self._pending is not None:
            await self._pending
            self._pending = None
        if self._batch:
            batch, self._batch = self._batch, []
            self._pending = self._hass.async_add_executor_job(_write_all, fd, batch)
            self.size += self._batched
            self._batched = 0

    async def close(self) -> int:
        """Write what is left, close the file and say its size."""
        await self._flush()
        if self._pending is not None:
            await self._pending
            self._pending = None
        fd = await asyncio.shield(self._create)
        self._closed = True  # from here on the descriptor is not ours to close again
        await asyncio.shield(self._hass.async_add_executor_job(os.close, fd))
        return self.size

    async def discard(self) -> None:
        """Close and delete the file after its last write has landed (even when cancelled)."""
        await asyncio.shield(self._discard())

    async def _discard(self) -> None:
        with contextlib.suppress(Exception):
            if self._pending is not None:
                await self._pending
        fd: int | None = None
        if not self._closed:
            with contextlib.suppress(Exception):
                fd = await self._create
        await self._hass.async_add_executor_job(_close_and_unlink, fd, self.path)


async def spooled_on_the_way(
    writer: SpoolWriter, chunks: AsyncIterator[bytes]
) -> AsyncGenerator[bytes]:
    """``chunks`` handed on as they come, each also written to ``writer``.

    The file is closed when the chunks end and deleted when anything fails, is
    cancelled or stops reading early.
    """
    try:
        async for chunk in chunks:
            await writer.write(chunk)
            yield chunk
        await writer.close()
    except BaseException:
        await writer.discard()
        raise


class SpooledFile:
    """An upload written to a temporary file, readable any number of times."""

    def __init__(self, hass: HomeAssistant, path: Path, size: int) -> None:
        """Wrap the spooled file at ``path`` (``size`` bytes)."""
        self._hass = hass
        self.path = path
        self.size = size

    @classmethod
    async def from_chunks(
        cls,
        hass: HomeAssistant,
        chunks: AsyncIterator[bytes],
        suffix: str = ".upload",
        path: Path | None = None,
    ) -> SpooledFile:
        """Write ``chunks`` to a new temporary file, overlapping disk writes with reads.

        Whatever fails or is cancelled on the way, the file is gone again.
        """
        writer = SpoolWriter(hass, path or spool_path(suffix))
        async for _ in spooled_on_the_way(writer, chunks):
            pass
        return cls(hass, writer.path, writer.size)

    async def chunks(self, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Read back ``length`` bytes from ``start`` (all by default) in 1 MiB pieces."""
        handle = await self._hass.async_add_executor_job(self.path.open, "rb")
        try:
            await self._hass.async_add_executor_job(handle.seek, start)
            left = self.size - start if length is None else length
            while left > 0:
                data = await self._hass.async_add_executor_job(handle.read, min(SPOOL_CHUNK, left))
                if not data:
                    break
                left -= len(data)
                yield data
        finally:
            await asyncio.shield(self._hass.async_add_executor_job(handle.close))

    async def read(self, start: int, length: int) -> bytes:
        """A small slice (headers)."""
        return b"".join([chunk async for chunk in self.chunks(start, length)])

    async def remove(self) -> None:
        """Delete the file, even while being cancelled."""
        await shielded_unlink(self._hass, self.path)


def _create(path: Path) -> int:
    if free_bytes_above_reserve(path.parent) <= 0:
        raise insufficient_storage()
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def _write_all(fd: int, batch: list[bytes]) -> None:
    if free_bytes(fd) - sum(len(chunk) for chunk in batch) < MIN_FREE_BYTES:
        raise insufficient_storage()
    views = [memoryview(chunk) for chunk in batch]
    while views:
        written = os.writev(fd, views[:1024])
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if written:
            views[0] = views[0][written:]


def _close_and_unlink(fd: int | None, path: Path) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
    path.unlink(missing_ok=True)
