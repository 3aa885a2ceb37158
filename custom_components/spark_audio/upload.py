"""Reading OpenAI-style multipart uploads without holding the file in memory.

The file part is streamed straight to the backend when the client sent the
other fields first (the OpenAI SDK does); otherwise, or when two backends need
the same audio, it is spooled to a temporary file and read back in chunks.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BodyPartReader, MultipartReader, web
from homeassistant.core import HomeAssistant

from .gateway import GatewayError, bad_request

CHUNK = 256 * 1024
SPOOL_CHUNK = 1024 * 1024
FILE_FIELD = "file"


@dataclass
class UploadForm:
    """The text fields of a multipart request, and its file part when reached."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    file: BodyPartReader | None = None
    filename: str = "audio"
    content_type: str = "application/octet-stream"

    def get(self, name: str) -> str | None:
        """The last value sent for ``name``."""
        values = self.fields.get(name)
        return values[-1] if values else None

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        """A field that must be one of ``choices``; a 400 naming it otherwise."""
        value = self.get(name) or default
        if value not in choices:
            raise bad_request(f"{name} must be one of {', '.join(choices)}", param=name)
        return value

    def language(self) -> str | None:
        """The optional language code, never empty (backends reject empty ones)."""
        language = self.get("language")
        if language is not None and not language.strip():
            raise bad_request("language must not be empty", param="language")
        return language.strip() if language else None


async def open_form(request: web.Request) -> tuple[MultipartReader, UploadForm]:
    """Read text fields up to the file part (which stays unread)."""
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError) as err:
        raise bad_request(
            "Expected a multipart/form-data body (fields and a 'file' part)", code="bad_multipart"
        ) from err
    form = UploadForm()
    await _read_fields(reader, form, stop_at_file=True)
    return reader, form


async def read_remaining_fields(reader: MultipartReader, form: UploadForm) -> None:
    """Read the fields that follow the file part (after it has been consumed)."""
    await _read_fields(reader, form, stop_at_file=False)


async def _read_fields(reader: MultipartReader, form: UploadForm, *, stop_at_file: bool) -> None:
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise bad_request("Nested multipart bodies are not supported", code="bad_multipart")
            if part.name == FILE_FIELD:
                if form.file is not None:
                    raise bad_request("Send exactly one 'file' part", param=FILE_FIELD)
                form.file = part
                form.filename = part.filename or "audio"
                form.content_type = part.headers.get("Content-Type", "application/octet-stream")
                if stop_at_file:
                    return
                await part.release()
                continue
            if part.name is None:
                raise bad_request("A multipart part has no name", code="bad_multipart")
            value = await part.text()
            form.fields.setdefault(part.name, []).append(value)
    except GatewayError:
        raise
    except (ValueError, UnicodeDecodeError, AssertionError) as err:
        raise bad_request(f"Malformed multipart body: {err}", code="bad_multipart") from err
    except ConnectionError as err:
        raise bad_request("The upload was cut off", code="truncated_upload") from err


async def stream_part(part: BodyPartReader, first: bytes) -> AsyncIterator[bytes]:
    """The file part's bytes as they arrive, starting with the already-read ``first`` chunk."""
    yield first
    try:
        while chunk := await part.read_chunk(CHUNK):
            yield chunk
    except (ValueError, AssertionError, ConnectionError) as err:
        raise bad_request("The upload was cut off", code="truncated_upload") from err


async def first_chunk(part: BodyPartReader) -> bytes:
    """The first bytes of the file; an empty file is a clear 400 before any backend call."""
    try:
        chunk = await part.read_chunk(CHUNK)
    except (ValueError, AssertionError, ConnectionError) as err:
        raise bad_request("The upload was cut off", code="truncated_upload") from err
    if not chunk:
        raise bad_request("The uploaded file is empty", param=FILE_FIELD, code="empty_file")
    return chunk


class SpooledFile:
    """An upload written to a temporary file, readable any number of times."""

    def __init__(self, hass: HomeAssistant, path: Path, size: int) -> None:
        """Wrap the spooled file at ``path`` (``size`` bytes)."""
        self._hass = hass
        self.path = path
        self.size = size

    @classmethod
    async def from_chunks(cls, hass: HomeAssistant, chunks: AsyncIterator[bytes]) -> SpooledFile:
        """Write ``chunks`` to a new temporary file, off the event loop, in 1 MiB writes."""
        fd, name = await hass.async_add_executor_job(tempfile.mkstemp, ".upload", "spark_audio_")
        path = Path(name)
        size = 0
        buffer = bytearray()
        try:
            async for chunk in chunks:
                buffer += chunk
                if len(buffer) >= SPOOL_CHUNK:
                    await hass.async_add_executor_job(os.write, fd, bytes(buffer))
                    size += len(buffer)
                    buffer.clear()
            if buffer:
                await hass.async_add_executor_job(os.write, fd, bytes(buffer))
                size += len(buffer)
        except BaseException:
            await hass.async_add_executor_job(_close_and_unlink, fd, path)
            raise
        await hass.async_add_executor_job(os.close, fd)
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
            await self._hass.async_add_executor_job(handle.close)

    async def read(self, start: int, length: int) -> bytes:
        """A small slice (headers)."""
        return b"".join([chunk async for chunk in self.chunks(start, length)])

    async def remove(self) -> None:
        """Delete the file."""
        await self._hass.async_add_executor_job(self.path.unlink, True)


def _close_and_unlink(fd: int, path: Path) -> None:
    os.close(fd)
    path.unlink(missing_ok=True)


class Upload:
    """The uploaded file: streamed once when possible, else spooled to disk."""

    def __init__(self, stream: AsyncIterator[bytes] | None, spooled: SpooledFile | None) -> None:
        """Wrap one of the two sources."""
        self._stream = stream
        self.spooled = spooled
        self._started = False

    @classmethod
    async def start(
        cls,
        hass: HomeAssistant,
        reader: MultipartReader,
        form: UploadForm,
        *,
        needs: tuple[str, ...],
    ) -> Upload:
        """Stream the file if the fields in ``needs`` came before it; spool it otherwise."""
        if form.file is None:
            raise bad_request("A 'file' part is required", param="file", code="missing_file")
        first = await first_chunk(form.file)
        if all(form.get(name) is not None for name in needs):
            return cls(stream_part(form.file, first), None)
        spooled = await SpooledFile.from_chunks(hass, stream_part(form.file, first))
        await read_remaining_fields(reader, form)
        return cls(None, spooled)

    @classmethod
    def from_spool(cls, spooled: SpooledFile) -> Upload:
        """An upload already on disk."""
        return cls(None, spooled)

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

    async def ensure_spooled(self, hass: HomeAssistant) -> SpooledFile:
        """Spool a streamed upload (when two backends need the same bytes)."""
        if self.spooled is None:
            self.spooled = await SpooledFile.from_chunks(hass, self.chunks())
        return self.spooled

    async def close(self) -> None:
        """Remove the spool file, if any."""
        if self.spooled is not None:
            await asyncio.shield(self.spooled.remove())
