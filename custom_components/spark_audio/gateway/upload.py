"""Receiving an uploaded file without holding it in memory, and without leaving it behind.

The file part is streamed straight to the backend when the client sent the
other fields first (the OpenAI SDK does); otherwise, or when two backends need
the same audio, it is spooled to a temporary file and read back in chunks.
``receive_upload`` owns every file it creates: whatever fails or is cancelled,
they are gone when it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import ClientError, web
from aiohttp.http_exceptions import HttpProcessingError
from homeassistant.core import HomeAssistant

from ..transcription.errors import TranscriptionError
from ..transcription.limits import (
    UploadLimits,
    check_declared_size,
    too_large,
    upload_limits,
    upload_slot,
)
from ..transcription.spool import SpooledFile, SpoolWriter, spool_path, spooled_on_the_way
from .errors import GatewayError, bad_request
from .multipart_raw import TRUNCATED, RawBody, part_body
from .upload_form import FILE_FIELD, UploadForm, open_form, read_fields_after, reject_references

_LOGGER = logging.getLogger(__name__)
SNIFF_BYTES = 4096
# What reading the connection raises when the upload is cut off.
_CUT_OFF = (ValueError, AssertionError, ConnectionError, ClientError, HttpProcessingError)


@dataclass(frozen=True, slots=True)
class Misrouted:
    """The fields after the file named another service than the one it was streamed to.

    The call to the first one was cancelled; the upload replays the file from
    its spool to whichever call reads ``chunks`` next.
    """


type Verdict = tuple[Callable[[], bool], asyncio.Future[bool | TranscriptionError]]
"""How to judge the fields after the file, and where the judgement goes (forward_early)."""


class Upload:
    """The uploaded file: streamed once when possible, else spooled to disk."""

    def __init__(self, hass: HomeAssistant, limits: UploadLimits | None = None) -> None:
        """An upload not yet received; ``limits`` None means a local file (no cap)."""
        self._hass = hass
        self._limits = limits
        self._open: Callable[[], AsyncGenerator[bytes]] | None = None
        self._stream: AsyncGenerator[bytes] | None = None
        self.spooled: SpooledFile | None = None
        self._owned: list[SpooledFile] = []
        self._started = False
        self.received = 0
        self.error: TranscriptionError | None = None
        self.fields_pending = False
        self._teeing = False
        self._keep_copy = True
        self._verdict: Verdict | None = None

    async def begin(
        self,
        form: UploadForm,
        needs: tuple[str, ...],
        raw: RawBody,
        *,
        forward_early: bool = False,
    ) -> None:
        """Stream the file if the fields in ``needs`` came before it; spool it otherwise.

        With ``forward_early`` the file is streamed even when fields follow it:
        the caller picks its backend before they arrive, the file is spooled on
        the way (for a replay), and the fields after it are read when it ends
        (``fields_pending`` until then; see ``forward_early``).
        """
        if form.file is None:
            raise bad_request("A 'file' part is required", param="file", code="missing_file")
        after = bytearray()
        source = part_body(raw.content, raw.boundary, after, raw.head)
        raw.head = b""
        first = await self._first_chunk(source)

        async def read_rest() -> None:
            await read_fields_after(raw, bytes(after), form)

        ahead = all(form.get(name) is not None for name in needs)
        if forward_early:
            self.fields_pending = True
            self._teeing = not ahead
            self._open = lambda: self._streamed(source, first, read_rest)
        elif ahead:
            self._open = lambda: self._file_part(source, first)
        else:
            self.spooled = await self.spool(self._file_part(source, first))
            await read_rest()

    def _streamed(
        self, source: AsyncIterator[bytes], first: bytes, read_rest: Callable[[], Awaitable[None]]
    ) -> AsyncGenerator[bytes]:
        """The file, then the fields after it; spooled on the way when a replay may need it.

        Decided when the stream opens: ``forward_early`` has said by then whether
        a copy is needed (``keep_copy``). Without one, every chunk passes through
        a single generator.
        """
        if self._teeing and self._keep_copy:
            return self._then_fields(self._teed(self._file_part(source, first)), read_rest)
        return self._file_part(source, first, read_rest)

    async def _teed(self, parts: AsyncIterator[bytes]) -> AsyncGenerator[bytes]:
        """Hand ``parts`` on while spooling them; the spool becomes ``spooled`` at the end."""
        owned = self._own_new(".upload")
        writer = SpoolWriter(self._hass, owned.path)
        try:
            async with contextlib.aclosing(spooled_on_the_way(writer, parts)) as teed:
                async for chunk in teed:
                    yield chunk
        except TranscriptionError as err:  # e.g. the disk reserve: what the client hears, not a 502
            self.error = err
            raise
        owned.size = writer.size
        self.spooled = owned

    async def _then_fields(
        self, parts: AsyncIterator[bytes], read_rest: Callable[[], Awaitable[None]]
    ) -> AsyncGenerator[bytes]:
        """``parts``, then (before the stream ends) the fields that follow the file."""
        async for chunk in parts:
            yield chunk
        await self._fields_after(read_rest)

    async def _fields_after(self, read_rest: Callable[[], Awaitable[None]]) -> None:
        """Read the fields after the file; under ``forward_early``, judge them first.

        A wrong destination or a bad field holds the stream until the call is cancelled.
        """
        judge = self._verdict
        try:
            await read_rest()
            self.fields_pending = False
            judged: bool | TranscriptionError = True if judge is None else judge[0]()
        except TranscriptionError as err:
            self.error = err
            if judge is None:
                raise
            judged = err
        if judge is not None:
            judge[1].set_result(judged)
            if judged is not True:
                await asyncio.get_running_loop().create_future()  # until the call is cancelled

    async def forward_early[T](
        self,
        send: Callable[[], Awaitable[T]],
        *,
        keep_copy: bool,
        belongs_here: Callable[[], bool],
    ) -> T | Misrouted:
        """Run ``send`` (which streams the file) before the fields after the file are read.

        Once they are, ``belongs_here`` says whether they still name the
        service the file is streaming to (a ``TranscriptionError`` it raises is
        the answer). When they do not, ``send`` is cancelled and ``Misrouted``
        returned; the file was spooled on the way when ``keep_copy`` (the
        caller knows whether a replay may be needed) and is read from there next.
        """
        self._keep_copy = keep_copy
        verdict: asyncio.Future[bool | TranscriptionError] = (
            asyncio.get_running_loop().create_future()
        )
        self._verdict = (belongs_here, verdict)

        async def sending() -> T:
            return await send()

        call = asyncio.create_task(sending())
        try:
            await asyncio.wait((call, verdict), return_when=asyncio.FIRST_COMPLETED)
            if verdict.done() and verdict.result() is not True:
                await _cancelled(call)
                if isinstance(judged := verdict.result(), TranscriptionError):
                    raise judged  # a bad field after the file
                return Misrouted()
            return await call
        finally:
            self._verdict = None
            await _cancelled(call)

    async def spool(self, chunks: AsyncIterator[bytes], suffix: str = ".upload") -> SpooledFile:
        """Spool ``chunks`` into a file this upload owns (removed by ``close``).

        The path is owned before the first byte is written, so no cancellation
        point between writing and owning can leave the file behind.
        """
        owned = self._own_new(suffix)
        spooled = await SpooledFile.from_chunks(self._hass, chunks, path=owned.path)
        owned.size = spooled.size
        return owned

    def _own_new(self, suffix: str) -> SpooledFile:
        owned = SpooledFile(self._hass, spool_path(suffix), 0)
        self._owned.append(owned)
        return owned

    def own(self, spooled: SpooledFile) -> None:
        """Remove ``spooled`` (a file derived from the upload) when the upload closes."""
        self._owned.append(spooled)

    async def _first_chunk(self, source: AsyncIterator[bytes]) -> bytes:
        """Enough of the file to recognise playlists; an empty file is a 400 at once.

        The first network chunk usually holds that much already: it is handed on as
        it came (copying hundreds of KiB twice cost more than the rest of the check).
        """
        head = await self._guarded(anext(source, b""))
        if not head:
            raise bad_request("The uploaded file is empty", param=FILE_FIELD, code="empty_file")
        while len(head) < SNIFF_BYTES:
            if not (chunk := await self._guarded(anext(source, b""))):
                break
            head += chunk  # only while the head is shorter than SNIFF_BYTES
        reject_references(head[:SNIFF_BYTES])
        self._count(len(head))
        return head

    async def _file_part(
        self,
        source: AsyncIterator[bytes],
        first: bytes,
        read_rest: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncGenerator[bytes]:
        """The file's bytes as they arrive, counted and guarded; then ``read_rest``, if given.

        The one layer each chunk passes through on its way to the backend (a 200 MB
        upload is thousands of chunks): no helper coroutine per chunk.
        """
        self._started = True
        yield first
        next_chunk = source.__anext__
        while True:
            try:
                chunk = await next_chunk()
            except StopAsyncIteration:
                break
            except _CUT_OFF as err:
                raise self._cut_off() from err
            self._count(len(chunk))
            yield chunk
        if read_rest is not None:
            await self._fields_after(read_rest)

    async def _guarded(self, read: Awaitable[bytes]) -> bytes:
        try:
            return await read
        except _CUT_OFF as err:
            raise self._cut_off() from err

    def _cut_off(self) -> TranscriptionError:
        self.error = bad_request(TRUNCATED, code="truncated_upload")
        return self.error

    def _count(self, size: int) -> None:
        self.received += size
        if self._limits is not None and self.received > self._limits.max_upload_bytes:
            self.error = too_large(self._limits)
            raise self.error

    def replayable(self) -> bool:
        """Whether a failed attempt can be retried with the same bytes."""
        if self.error is not None:
            return False
        return (self.spooled is not None and not self.fields_pending) or not self._started

    def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes (a fresh read of the spool, or the one-shot stream)."""
        if self.spooled is not None and not self.fields_pending:
            return self.spooled.chunks()
        if self._started:
            return _not_replayable()
        if self._stream is None:
            assert self._open is not None
            self._stream = self._open()
        return self._stream

    async def ensure_spooled(self) -> SpooledFile:
        """Spool a streamed upload (when two backends need the same bytes)."""
        if self._teeing and self.fields_pending:
            async for _ in self.chunks():
                pass  # the stream spools itself on the way
        elif self.spooled is None:
            self.spooled = await self.spool(self.chunks())
        assert self.spooled is not None
        return self.spooled

    async def close(self) -> None:
        """Remove every file this upload created, even while being cancelled."""
        if self._stream is not None:
            with contextlib.suppress(RuntimeError):  # still running in a cancelled writer
                await asyncio.shield(self._stream.aclose())
        while self._owned:
            await self._owned.pop().remove()


async def _not_replayable() -> AsyncGenerator[bytes]:
    """What a second read of a one-shot stream gets: a 502 once it is read."""
    for _ in ():  # nothing: an async generator that raises when first read
        yield b""
    raise GatewayError(502, "The upload cannot be replayed", code="backend_unreachable")


async def _cancelled(call: asyncio.Task[object]) -> None:
    """Cancel ``call`` (if still running) and wait until it has unwound."""
    if not call.done():
        call.cancel()
        await asyncio.wait((call,))
    if not call.cancelled():
        call.exception()  # retrieved: the caller answers with the verdict instead


@asynccontextmanager
async def receive_upload(
    hass: HomeAssistant,
    request: web.Request,
    *,
    needs: tuple[str, ...],
    forward_early: bool = False,
) -> AsyncIterator[tuple[UploadForm, Upload]]:
    """A slot, the form and its file; everything released and removed on exit.

    ``forward_early``: see ``Upload.begin``.

    A failure while the file was being read (too large, cut off) is what the
    client hears, rather than the backend error it caused.
    """
    limits = upload_limits(hass)
    with upload_slot(hass, limits):
        check_declared_size(request.content_length, limits)
        upload = Upload(hass, limits)
        try:
            form, raw = await open_form(request)
            await upload.begin(form, needs, raw, forward_early=forward_early)
            try:
                yield form, upload
            except Exception as err:
                if upload.error is not None and err is not upload.error:
                    raise upload.error from err
                raise
        finally:
            await upload.close()
