"""Form parsing that reads uploads incrementally, as the real services do.

Reading the file part chunk by chunk lets the sim record when the first
audio bytes arrived, which is how tests prove a client streams its upload
instead of buffering it first.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import StreamReader, web
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from .faults import STATE_KEY, record_of

_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """The file part of a multipart form."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(slots=True)
class Form:
    """Parsed form fields (last value wins) plus the optional file part."""

    fields: dict[str, str] = field(default_factory=dict)
    field_list: list[tuple[str, str]] = field(default_factory=list)
    file: UploadedFile | None = None

    def get(self, name: str) -> str | None:
        """A field's value, or None when the client did not send it."""
        return self.fields.get(name)

    def add(self, name: str, value: str) -> None:
        """Store one field occurrence."""
        self.fields[name] = value
        self.field_list.append((name, value))


class _MultipartStream:
    """A minimal incremental multipart/form-data parser.

    aiohttp's BodyPartReader holds one chunk back before returning data,
    which would hide the arrival of the first audio bytes; this parser hands
    data over as soon as it cannot be part of a boundary.
    """

    def __init__(self, content: StreamReader, boundary: bytes) -> None:
        """Parse `content`; the leading CRLF makes the opening boundary regular."""
        self._content = content
        self._delimiter = b"\r\n--" + boundary
        self._buffer = bytearray(b"\r\n")

    async def _fill(self) -> None:
        """Append the next network chunk; a premature end is a bad request."""
        data = await self._content.readany()
        if not data:
            raise ValueError("multipart body ended early")
        self._buffer += data

    async def _until(self, marker: bytes, start: int = 0) -> int:
        """Index of `marker` in the buffer, reading more until it appears."""
        while (index := self._buffer.find(marker, start)) < 0:
            start = max(0, len(self._buffer) - len(marker) + 1)
            await self._fill()
        return index

    async def next_part(self) -> dict[str, str] | None:
        """Headers of the next part (lower-case names), or None at the end."""
        index = await self._until(self._delimiter)
        del self._buffer[: index + len(self._delimiter)]
        line_end = await self._until(b"\r\n")
        closing = bytes(self._buffer[:line_end]).startswith(b"--")
        del self._buffer[: line_end + 2]
        if closing:
            return None
        headers: dict[str, str] = {}
        while (line_end := await self._until(b"\r\n")) > 0:
            name, _, value = bytes(self._buffer[:line_end]).decode("utf-8").partition(":")
            headers[name.strip().lower()] = value.strip()
            del self._buffer[: line_end + 2]
        del self._buffer[:2]
        return headers

    async def body(self) -> AsyncIterator[bytes]:
        """The current part's bytes, yielded as soon as they are certain."""
        keep = len(self._delimiter) - 1
        while (index := self._buffer.find(self._delimiter)) < 0:
            if len(self._buffer) > keep:
                chunk = bytes(self._buffer[: len(self._buffer) - keep])
                del self._buffer[: len(chunk)]
                yield chunk
            await self._fill()
        if index:
            chunk = bytes(self._buffer[:index])
            del self._buffer[:index]
            yield chunk


def _boundary(content_type: str) -> bytes:
    """The boundary parameter of a multipart Content-Type header."""
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise ValueError("multipart Content-Type without boundary")
    return (match.group(1) or match.group(2)).encode("latin-1")


async def _read_multipart(request: web.Request, form: Form, file_field: str) -> None:
    """Fill `form` from a multipart body, marking the first file bytes."""
    state = request.app[STATE_KEY]
    record = record_of(request)
    stream = _MultipartStream(request.content, _boundary(request.headers["Content-Type"]))
    while (headers := await stream.next_part()) is not None:
        _kind, params = parse_content_disposition(headers.get("content-disposition"))
        name = params.get("name", "")
        filename = content_disposition_filename(params, "filename")
        chunks: list[bytes] = []
        is_file = name == file_field or filename is not None
        async for chunk in stream.body():
            if is_file and not chunks:
                if record is not None:
                    record.file_name = filename  # known while the file still arrives
                state.mark_audio_bytes(record)
            chunks.append(chunk)
        data = b"".join(chunks)
        if not is_file:
            form.add(name, data.decode("utf-8", errors="replace"))
            continue
        if not chunks:
            state.mark_audio_bytes(record)
        state.mark_upload_done(record)
        if name == file_field and form.file is None:
            form.file = UploadedFile(filename, headers.get("content-type"), data)
    # Drain the epilogue so the connection stays usable.
    while await request.content.readany():
        pass


async def read_form(request: web.Request, file_field: str = "file") -> Form:
    """Parse multipart or urlencoded bodies; other bodies give an empty form."""
    form = Form()
    record = record_of(request)
    if request.content_type.startswith("multipart/"):
        try:
            await _read_multipart(request, form, file_field)
        except ValueError as err:
            raise web.HTTPBadRequest(
                text=json.dumps({"detail": f"There was an error parsing the body: {err}"}),
                content_type="application/json",
            ) from err
    elif request.content_type == "application/x-www-form-urlencoded":
        posted = await request.post()
        for name, value in posted.items():
            form.add(name, value if isinstance(value, str) else str(value))
    else:
        await request.read()
    if record is not None:
        record.fields = dict(form.fields)
        record.field_list = list(form.field_list)
        record.bytes_received = request.content.total_bytes
        if form.file is not None:
            record.file_name = form.file.filename
            record.file_content_type = form.file.content_type
            record.file_bytes = len(form.file.data)
    return form


def missing_field(name: str) -> web.Response:
    """FastAPI's 422 body for a missing required form field."""
    detail: list[dict[str, Any]] = [
        {
            "type": "missing",
            "loc": ["body", name],
            "msg": "Field required",
            "input": None,
        }
    ]
    return web.json_response({"detail": detail}, status=422)


def invalid_field(name: str, value: str, kind: str, message: str) -> web.Response:
    """FastAPI's 422 body for a form field that does not parse."""
    detail: list[dict[str, Any]] = [
        {"type": kind, "loc": ["body", name], "msg": message, "input": value}
    ]
    return web.json_response({"detail": detail}, status=422)


def parse_int_field(form: Form, name: str) -> int | web.Response | None:
    """An optional integer field, or the 422 answer when it is not one."""
    raw = form.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        return invalid_field(
            name,
            raw,
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
        )


def parse_float_field(form: Form, name: str) -> float | web.Response | None:
    """An optional float field, or the 422 answer when it is not one."""
    raw = form.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        return invalid_field(
            name,
            raw,
            "float_parsing",
            "Input should be a valid number, unable to parse string as a number",
        )
