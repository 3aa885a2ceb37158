"""multipart/form-data bodies written in few, large pieces.

aiohttp's MultipartWriter writes every part as four separate writes (boundary,
headers, value, line end), each a syscall and, on a local link, a wake-up of
the server: about twenty before the first audio byte of a transcription. Here
all text fields and the file part's headers go out with the first audio bytes
as one piece, the rest of the audio as it comes, and the closing boundary as
one more.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from functools import lru_cache

from aiohttp import hdrs
from aiohttp.helpers import content_disposition_header
from aiohttp.payload import AsyncIterablePayload, BytesPayload, Payload

type AudioSource = bytes | AsyncIterable[bytes]
"""Audio to upload: whole bytes, or an async stream sent with chunked encoding."""
type FormFields = Mapping[str, str | None] | Sequence[tuple[str, str | None]]
"""Text fields in order; ``None`` values are left out, empty strings sent as given."""

_TEXT_TYPE = "text/plain; charset=utf-8"
_JOIN_FIRST_CHUNK_MAX = 256 * 1024
"""A first audio chunk up to this size is sent in one write with the form's head.

Copying it costs less than the extra write and the server's extra wake-up it saves.
"""


def multipart_form(
    fields: FormFields,
    *,
    audio: AudioSource | None = None,
    filename: str = "audio.wav",
    content_type: str = "audio/wav",
    trailing: Callable[[], FormFields] | None = None,
) -> Payload:
    """A multipart/form-data body; an async audio stream is sent as it arrives.

    Text fields go first so a server can read them before the (possibly long)
    file part. ``trailing`` is asked, once the audio has been sent, for fields
    that were not known when the body started (they follow the file part).
    """
    boundary = secrets.token_hex(16)
    form_type = f"multipart/form-data; boundary={boundary}"
    head = _text_parts(boundary, fields)
    if audio is not None:
        head += _part_head(boundary, "file", content_type, filename)
    closing = b"\r\n" if audio is not None else b""
    if audio is None or isinstance(audio, bytes):
        body = head + (audio or b"") + closing
        if trailing is not None:
            body += _text_parts(boundary, trailing())
        return BytesPayload(body + _end(boundary), content_type=form_type)
    return AsyncIterablePayload(
        _streamed(boundary, head, audio, closing, trailing), content_type=form_type
    )


async def _streamed(
    boundary: str,
    head: bytes,
    audio: AsyncIterable[bytes],
    closing: bytes,
    trailing: Callable[[], FormFields] | None,
) -> AsyncIterator[bytes]:
    pending = head
    async for chunk in audio:
        if not chunk:
            continue
        if not pending:
            yield chunk
        elif len(chunk) > _JOIN_FIRST_CHUNK_MAX:
            yield pending
            yield chunk
        else:
            yield pending + chunk
        pending = b""
    tail = closing + (_text_parts(boundary, trailing()) if trailing is not None else b"")
    yield pending + tail + _end(boundary)


def _text_parts(boundary: str, fields: FormFields) -> bytes:
    pairs: Iterable[tuple[str, str | None]] = (
        fields.items() if isinstance(fields, Mapping) else fields
    )
    return b"".join(
        _part_head(boundary, name, _TEXT_TYPE) + value.encode() + b"\r\n"
        for name, value in pairs
        if value is not None
    )


def _part_head(boundary: str, name: str, content_type: str, filename: str | None = None) -> bytes:
    return (
        f"--{boundary}\r\n{hdrs.CONTENT_TYPE}: {content_type}\r\n"
        f"{hdrs.CONTENT_DISPOSITION}: {_disposition(name, filename)}\r\n\r\n"
    ).encode()


@lru_cache(maxsize=256)
def _disposition(name: str, filename: str | None) -> str:
    """The part's Content-Disposition value; aiohttp's quoting costs tens of µs a call.

    The same few field names (and usually the same filename) recur on every request.
    """
    if filename is None:
        return content_disposition_header("form-data", name=name)
    return content_disposition_header("form-data", name=name, filename=filename)


def _end(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode()
