"""Receiving an uploaded file without holding it in memory, and without leaving it behind.

The file part is streamed straight to the backend when the client sent the
other fields first (the OpenAI SDK does); otherwise, or when two backends need
the same audio, it is spooled to a temporary file and read back in chunks.
``receive_upload`` owns every file it creates: whatever fails or is cancelled,
they are gone when it exits. Spool names carry HA's PID so a restart can tell
a crashed run's leftovers from another process's live files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import BodyPartReader, ClientError, MultipartReader, hdrs, web
from aiohttp.helpers import parse_mimetype
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader
from homeassistant.core import HomeAssistant

from .limits import GatewayLimits, check_declared_size, gateway_limits, too_large, upload_slot
from .routing import GatewayError, bad_request
from .upload_form import (
    FILE_FIELD,
    TRUNCATED,
    UploadForm,
    open_form,
    part_body,
    read_fields,
    reject_references,
)

_LOGGER = logging.getLogger(__name__)
CHUNK = 1024 * 1024
SPOOL_CHUNK = 1024 * 1024
SNIFF_BYTES = 4096
SPOOL_PREFIX = "spark_audio_"
_LEGACY_STALE_S = 3600.0


def spool_path(suffix: str) -> Path:
    """A fresh temporary path whose name says which process owns it."""
    token = secrets.token_hex(8)
    return Path(tempfile.gettempdir(), f"{SPOOL_PREFIX}{os.getpid()}_{token}{suffix}")


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


async def _shielded_unlink(hass: HomeAssistant, path: Path) -> None:
    """Remove ``path`` even when the caller is being cancelled."""
    await asyncio.shield(hass.async_add_executor_job(path.unlink, True))


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
        path = path or spool_path(suffix)
        create = hass.async_add_executor_job(_create, path)
        pending: asyncio.Future[None] | None = None
        size = 0
        buffer = bytearray()
        try:
            fd = await asyncio.shield(create)
            async for chunk in chunks:
                buffer += chunk
                if len(buffer) >= SPOOL_CHUNK:
                    if pending is not None:
                        await pending
                    pending = hass.async_add_executor_job(_write_all, fd, bytes(buffer))
                    size += len(buffer)
                    buffer.clear()
            if pending is not None:
                await pending
            if buffer:
                await hass.async_add_executor_job(_write_all, fd, bytes(buffer))
                size += len(buffer)
        except BaseException:
            await asyncio.shield(_discard(hass, create, pending, path))
            raise
        try:
            await asyncio.shield(hass.async_add_executor_job(os.close, fd))
        except BaseException:
            await _shielded_unlink(hass, path)
            raise
        return cls(hass, path, size)

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
        await _shielded_unlink(self._hass, self.path)


def _boundary(request: web.Request) -> bytes | None:
    boundary = parse_mimetype(request.headers.get(hdrs.CONTENT_TYPE, "")).parameters.get("boundary")
    return boundary.encode("latin-1") if boundary else None


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


def _create(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def _discard(
    hass: HomeAssistant,
    create: asyncio.Future[int],
    pending: asyncio.Future[None] | None,
    path: Path,
) -> None:
    """Close and delete a half-written spool, after its last write has landed."""
    with contextlib.suppress(Exception):
        if pending is not None:
            await pending
    fd: int | None = None
    with contextlib.suppress(Exception):
        fd = await create
    await hass.async_add_executor_job(_close_and_unlink, fd, path)


def _close_and_unlink(fd: int | None, path: Path) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
    path.unlink(missing_ok=True)


class Upload:
    """The uploaded file: streamed once when possible, else spooled to disk."""

    def __init__(self, hass: HomeAssistant, limits: GatewayLimits | None = None) -> None:
        """An upload not yet received; ``limits`` None means a local file (no cap)."""
        self._hass = hass
        self._limits = limits
        self._stream: AsyncIterator[bytes] | None = None
        self.spooled: SpooledFile | None = None
        self._owned: list[SpooledFile] = []
        self._started = False
        self.received = 0
        self.error: GatewayError | None = None

    @classmethod
    def from_spool(cls, hass: HomeAssistant, spooled: SpooledFile) -> Upload:
        """An upload already on disk (not ours: never removed)."""
        upload = cls(hass)
        upload.spooled = spooled
        return upload

    async def begin(
        self,
        reader: MultipartReader,
        form: UploadForm,
        needs: tuple[str, ...],
        raw: tuple[StreamReader, bytes] | None = None,
    ) -> None:
        """Stream the file if the fields in ``needs`` came before it; spool it otherwise."""
        if form.file is None:
            raise bad_request("A 'file' part is required", param="file", code="missing_file")
        if all(form.get(name) is not None for name in needs) and raw is not None:
            # Nothing after the file is needed: read it straight off the connection.
            source = part_body(*raw)
        else:
            source = _part_chunks(form.file)
        first = await self._first_chunk(source)
        parts = self._read_part(source, first)
        if all(form.get(name) is not None for name in needs):
            self._stream = parts
            return
        self.spooled = await self.spool(parts)
        await read_fields(reader, form, stop_at_file=False)

    async def spool(self, chunks: AsyncIterator[bytes], suffix: str = ".upload") -> SpooledFile:
        """Spool ``chunks`` into a file this upload owns (removed by ``close``).

        The path is owned before the first byte is written, so no cancellation
        point between writing and owning can leave the file behind.
        """
        owned = SpooledFile(self._hass, spool_path(suffix), 0)
        self._owned.append(owned)
        spooled = await SpooledFile.from_chunks(self._hass, chunks, path=owned.path)
        owned.size = spooled.size
        return owned

    def own(self, spooled: SpooledFile) -> None:
        """Remove ``spooled`` (a file derived from the upload) when the upload closes."""
        self._owned.append(spooled)

    async def _first_chunk(self, source: AsyncIterator[bytes]) -> bytes:
        """Enough of the file to recognise playlists; an empty file is a 400 at once."""
        head = bytearray()
        while len(head) < SNIFF_BYTES:
            chunk = await self._guarded(anext(source, b""))
            if not chunk:
                break
            head += chunk
        if not head:
            raise bad_request("The uploaded file is empty", param=FILE_FIELD, code="empty_file")
        reject_references(bytes(head[:SNIFF_BYTES]))
        self._count(len(head))
        return bytes(head)

    async def _read_part(self, source: AsyncIterator[bytes], first: bytes) -> AsyncIterator[bytes]:
        yield first
        while chunk := await self._guarded(anext(source, b"")):
            self._count(len(chunk))
            yield chunk

    async def _guarded(self, read: Awaitable[bytes]) -> bytes:
        try:
            return await read
        except (ValueError, AssertionError, ConnectionError, ClientError, HttpProcessingError) as e:
            self.error = bad_request(TRUNCATED, code="truncated_upload")
            raise self.error from e

    def _count(self, size: int) -> None:
        self.received += size
        if self._limits is not None and self.received > self._limits.max_upload_bytes:
            self.error = too_large(self._limits)
            raise self.error

    def replayable(self) -> bool:
        """Whether a failed attempt can be retried with the same bytes."""
        return self.spooled is not None or not self._started

    def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes (a fresh read of the spool, or the one-shot stream)."""
        if self.spooled is not None:
            return self.spooled.chunks()
        assert self._stream is not None
        return self._once(self._stream)

    async def _once(self, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        if self._started:
            raise GatewayError(502, "The upload cannot be replayed", code="backend_unreachable")
        self._started = True
        async for chunk in stream:
            yield chunk

    async def ensure_spooled(self) -> SpooledFile:
        """Spool a streamed upload (when two backends need the same bytes)."""
        if self.spooled is None:
            self.spooled = await self.spool(self.chunks())
        return self.spooled

    async def close(self) -> None:
        """Remove every file this upload created, even while being cancelled."""
        while self._owned:
            await self._owned.pop().remove()


@asynccontextmanager
async def receive_upload(
    hass: HomeAssistant, request: web.Request, *, needs: tuple[str, ...]
) -> AsyncIterator[tuple[UploadForm, Upload]]:
    """A slot, the form and its file; everything released and removed on exit.

    A failure while the file was being read (too large, cut off) is what the
    client hears, rather than the backend error it caused.
    """
    limits = gateway_limits(hass)
    with upload_slot(hass, limits):
        check_declared_size(request.content_length, limits)
        upload = Upload(hass, limits)
        try:
            reader, form = await open_form(request)
            boundary = _boundary(request)
            raw = None if boundary is None else (request.content, boundary)
            await upload.begin(reader, form, needs, raw)
            try:
                yield form, upload
            except Exception as err:
                if upload.error is not None and err is not upload.error:
                    raise upload.error from err
                raise
        finally:
            await upload.close()
