"""multipart/form-data bodies written in few, large pieces.

aiohttp's MultipartWriter writes every part as four separate writes (boundary,
headers, value, line end), each a syscall and, on a local link, a wake-up of
the server: about twenty before the first audio byte of a transcription. Here
all text fields and the file part's headers go out as one piece, the audio as
it comes, and the closing boundary as one more.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence

from aiohttp import hdrs
from aiohttp.helpers import content_disposition_header
from aiohttp.payload import AsyncIterablePayload, BytesPayload, Payload

type AudioSource = bytes | AsyncIterable[bytes]
"""Audio to upload: whole bytes, or an async stream sent with chunked encoding."""
type FormFields = Mapping[str, str | None] | Sequence[tuple[str, str | None]]
"""Text fields in order; ``None`` values are left out, empty strings sent as given."""

_TEXT_TYPE = "text/plain; charset=utf-8"


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
    yield head
    async for chunk in audio:
        if chunk:
            yield chunk
    tail = closing + (_text_parts(boundary, trailing()) if trailing is not None else b"")
    yield tail + _end(boundary)


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
    disposition = (
        content_disposition_header("form-data", name=name)
        if filename is None
        else content_disposition_header("form-data", name=name, filename=filename)
    )
    return (
        f"--{boundary}\r\n{hdrs.CONTENT_TYPE}: {content_type}\r\n"
        f"{hdrs.CONTENT_DISPOSITION}: {disposition}\r\n\r\n"
    ).encode()


def _end(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode()
