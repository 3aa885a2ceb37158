"""A multipart body read straight from the connection: the file as it arrives, the rest bounded.

aiohttp's multipart reader (3.11, as HA 2025.4 ships it) keeps every header
line of a part, however many, so part headers alone could fill HA's memory. Our
own code reads the raw body instead: everything that is not the file (preamble,
part headers, fields before and after it) is counted against one budget, and
each part's header block is capped. The one scan yields every part's headers
(parsed by aiohttp's header parser) and each field's bytes, so nothing reads the
form twice. The file's bytes are handed on as they came, without copying.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Final

from aiohttp import ClientError
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.http_parser import HeadersParser
from aiohttp.streams import StreamReader
from multidict import CIMultiDictProxy

from .errors import GatewayError, bad_request

KIB = 1024
MAX_FORM_BYTES = 1024 * KIB
"""Everything of a request that is not the file: preamble, part headers, all fields."""
MAX_PART_HEADER_BYTES = 64 * KIB
MAX_PART_HEADER_LINES = 32
TRUNCATED = "The upload was cut off"
# RFC 2046 bchars: what every client's boundary is made of, and the same bytes in any charset.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")

type Headers = CIMultiDictProxy[str]


class FormBudget:
    """The non-file bytes a request may still send; a 413 once they run out."""

    def __init__(self, limit: int = MAX_FORM_BYTES) -> None:
        """A fresh budget of ``limit`` bytes."""
        self.limit = limit
        self.left = limit

    def check(self, size: int) -> None:
        """Refuse if ``size`` more bytes would not fit (nothing is spent)."""
        if size > self.left:
            raise GatewayError(
                413,
                f"The form fields and part headers are larger than {self.limit // KIB} KiB in all",
                code="form_too_large",
            )

    def spend(self, size: int) -> None:
        """Count ``size`` bytes as read."""
        self.check(size)
        self.left -= size


@dataclass(slots=True)
class RawPart:
    """A part of the form as the scan found it: headers, and a field's bytes (the file: none)."""

    headers: Headers
    body: bytes = b""


@dataclass(slots=True)
class RawBody:
    """Where the file part starts: the connection, its boundary, what was read of the file."""

    content: StreamReader
    boundary: bytes
    head: bytes = b""
    """The file's first bytes, read along with the fields before it."""
    budget: FormBudget = field(default_factory=FormBudget)


def checked_boundary(boundary: str | None) -> bytes:
    """The request's boundary as bytes; a 400 unless it is 1 to 70 RFC 2046 characters.

    Only ASCII boundaries mean the same bytes to every parser (aiohttp encodes
    a boundary as UTF-8, HTTP headers arrive as Latin-1 or UTF-8).
    """
    if boundary is None or not _BOUNDARY.fullmatch(boundary):
        raise bad_request(
            "The multipart boundary must be 1 to 70 ASCII letters, digits or '()+_,-./:=? "
            "(RFC 2046)",
            code="bad_multipart",
        )
    return boundary.encode("ascii")


async def read_fields_head(
    raw: RawBody, is_file: Callable[[Headers], bool]
) -> tuple[list[RawPart], RawPart | None]:
    """The fields before the file part, and the file part (None: the body has no file).

    The file's first bytes read along with them go into ``raw.head``.
    """
    scan = _Scanner(raw)
    fields: list[RawPart] = []
    file: RawPart | None = None
    more = await scan.first_delimiter()
    while more:
        headers = _parsed(await scan.header_block())
        if is_file(headers):
            file = RawPart(headers)
            break
        fields.append(RawPart(headers, await scan.body()))
        more = await scan.next_delimiter()
    raw.budget.spend(scan.pos)
    raw.head = bytes(scan.buffer[scan.pos :])
    return fields, file


async def read_fields_tail(raw: RawBody, after: bytes) -> list[RawPart]:
    """The parts after the file, from its closing delimiter (``after``) to the body's end."""
    scan = _Scanner(raw, after)
    parts: list[RawPart] = []
    more = await scan.next_delimiter()
    while more:
        headers = _parsed(await scan.header_block())
        parts.append(RawPart(headers, await scan.body()))
        more = await scan.next_delimiter()
    while await scan.more():  # the epilogue, if any
        pass
    raw.budget.spend(len(scan.buffer))
    return parts


class _Scanner:
    """Walks a multipart body the way aiohttp's reader does, reading only what it needs.

    Every byte it buffers is a non-file byte until the file part is found, so
    the buffer never grows past the budget (plus one network chunk). A form
    that arrives in one chunk (the usual case) is scanned in that chunk itself.
    """

    def __init__(self, raw: RawBody, data: bytes = b"") -> None:
        self._raw = raw
        self._delimiter = b"--" + raw.boundary
        self.buffer: bytes | bytearray = data
        self.pos = 0

    async def more(self) -> bool:
        """Read one more chunk of the body; False at its end."""
        self._raw.budget.check(len(self.buffer))
        try:
            chunk = await self._raw.content.readany()
        except (ConnectionError, ClientError, ValueError) as err:
            raise bad_request(TRUNCATED, code="truncated_upload") from err
        if not self.buffer:
            self.buffer = chunk
        elif chunk:
            if isinstance(self.buffer, bytes):
                self.buffer = bytearray(self.buffer)
            self.buffer += chunk
        return bool(chunk)

    async def line(self, limit: int | None = None) -> bytes:
        """The next line, newline included (at the body's end: what is left, maybe b"")."""
        start = search = self.pos
        while (end := self.buffer.find(b"\n", search)) < 0:
            if limit is not None and len(self.buffer) - start > limit:
                raise _headers_too_large()
            search = len(self.buffer)
            if not await self.more():
                end = len(self.buffer) - 1
                break
        self.pos = end + 1
        return bytes(self.buffer[start : self.pos])

    def _delimiter_kind(self, line: bytes) -> bool | None:
        """True for a part delimiter, False for the closing one, None for any other line."""
        stripped = line.rstrip()
        if stripped == self._delimiter:
            return True
        if stripped == self._delimiter + b"--":
            return False
        return None

    async def first_delimiter(self) -> bool:
        """Past the preamble; False when the body closes before any part."""
        while line := await self.line():
            if (kind := self._delimiter_kind(line)) is not None:
                return kind
        raise bad_request(TRUNCATED, code="truncated_upload")

    async def next_delimiter(self) -> bool:
        """The delimiter line after a part; False when it closes the body."""
        line = await self.line()
        if not line:
            raise bad_request(TRUNCATED, code="truncated_upload")
        if (kind := self._delimiter_kind(line)) is None:
            raise bad_request(
                "Malformed multipart body: a part does not end at the boundary",
                code="bad_multipart",
            )
        return kind

    async def header_block(self) -> list[bytes]:
        """A part's header lines (stripped, as aiohttp reads them), capped in count and size."""
        start = self.pos
        lines: list[bytes] = []
        while True:
            line = await self.line(MAX_PART_HEADER_BYTES - (self.pos - start))
            if not line:
                raise bad_request(TRUNCATED, code="truncated_upload")
            if self.pos - start > MAX_PART_HEADER_BYTES:
                raise _headers_too_large()
            if not (stripped := line.strip()):
                return lines
            lines.append(stripped)
            if len(lines) > MAX_PART_HEADER_LINES:
                raise _headers_too_large()

    async def body(self) -> bytes:
        """A field's bytes; the scan moves on to its closing delimiter's ``--boundary``."""
        ending = b"\r\n" + self._delimiter
        start = search = self.pos
        while (found := self.buffer.find(ending, search)) < 0:
            search = max(self.pos, len(self.buffer) - len(ending) + 1)
            if not await self.more():
                raise bad_request(TRUNCATED, code="truncated_upload")
        self.pos = found + 2
        return bytes(self.buffer[start:found])


def _first_line_is_skipped() -> bool:
    """Whether this aiohttp's ``parse_headers`` skips its first line.

    3.11 does (a status line goes there); later ones parse every line, so their multipart
    reader passes no blank line first.
    """
    headers, _ = HeadersParser().parse_headers([b"X-Probe: 1", b""])
    return "X-Probe" not in headers


_LEAD: Final = [b""] if _first_line_is_skipped() else []


def _parsed(lines: list[bytes]) -> Headers:
    """Header lines parsed exactly as aiohttp's multipart reader parses them."""
    try:
        headers, _ = HeadersParser().parse_headers([*_LEAD, *lines, b""])
    except BadHttpMessage as err:
        raise bad_request(
            f"Malformed multipart body: {err.message.strip()[:200]}", code="bad_multipart"
        ) from err
    return headers


def _headers_too_large() -> GatewayError:
    return bad_request(
        f"A multipart part's headers are longer than {MAX_PART_HEADER_BYTES // KIB} KiB or "
        f"{MAX_PART_HEADER_LINES} lines",
        code="part_headers_too_large",
    )


async def part_body(
    content: StreamReader, boundary: bytes, after: bytearray | None = None, head: bytes = b""
) -> AsyncIterator[bytes]:
    """The current part's body read straight from the connection, without copying.

    aiohttp's part reader copies every chunk twice to find the boundary; here
    each network chunk is handed on as it came, the moment it came (``head``,
    bytes of the part already read, first). Only a chunk whose last bytes could
    begin the closing delimiter keeps them back and joins them to the next
    chunk, which tells (or keeps back again: a delimiter may span many reads).
    What was read past the part (from its delimiter's ``--boundary`` on) goes
    into ``after``; the rest of the body stays unread.
    """
    delimiter = b"\r\n--" + boundary
    held = b""
    while True:
        if head:
            chunk, head = head, b""
        else:
            chunk = await content.readany()
        if not chunk:
            raise ValueError("the body ended inside the file part")
        if held:
            # Rare (held is only set when a chunk ended like the delimiter's start) and
            # short: joined, a delimiter split over any number of reads is still found.
            chunk, held = held + chunk, b""
        if (end := chunk.find(delimiter)) >= 0:
            if end:
                yield chunk[:end]
            _keep_after(after, chunk[end + 2 :])
            return
        keep = _delimiter_start(chunk, delimiter)
        held = chunk[keep:]
        if keep == len(chunk):
            yield chunk
        elif keep:
            yield chunk[:keep]


def _keep_after(after: bytearray | None, rest: bytes) -> None:
    if after is not None:
        after[:] = rest


def _delimiter_start(chunk: bytes, delimiter: bytes) -> int:
    """Where the longest tail of ``chunk`` that begins ``delimiter`` starts (len: none)."""
    start = max(0, len(chunk) - len(delimiter) + 1)
    while (start := chunk.find(delimiter[:1], start)) >= 0:
        if delimiter.startswith(chunk[start:]):
            return start
        start += 1
    return len(chunk)
