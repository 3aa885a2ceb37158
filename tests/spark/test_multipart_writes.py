"""The outbound form's writes: how many, and that the bytes still make the same form.

Every write of a streamed upload is a send and, on a local link, a wake-up of
the server; these tests count them on a stand-in writer rather than time them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.base_protocol import BaseProtocol
from aiohttp.helpers import content_disposition_header as quote
from aiohttp.streams import StreamReader

from custom_components.spark_audio.spark.clients import multipart
from custom_components.spark_audio.spark.clients.multipart import multipart_form

FIELDS = [("model", "parakeet-tdt-0.6b-v3"), ("response_format", "json")]


class RecordingWriter:
    """Stands in for aiohttp's StreamWriter: keeps each write as it is made."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    async def write(self, chunk: bytes) -> None:
        self.writes.append(bytes(chunk))


async def _chunks(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _writes(payload: aiohttp.payload.Payload) -> list[bytes]:
    writer = RecordingWriter()
    await payload.write(writer)  # type: ignore[arg-type]
    return writer.writes


async def _parts(payload: aiohttp.payload.Payload, body: bytes) -> list[tuple[str, bytes]]:
    """The form's parts as aiohttp's own reader reads them back."""
    loop = asyncio.get_running_loop()
    stream = StreamReader(BaseProtocol(loop), 2**20, loop=loop)
    stream.feed_data(body)
    stream.feed_eof()
    reader = aiohttp.MultipartReader({"Content-Type": payload.content_type}, stream)
    parts = []
    while (part := await reader.next()) is not None:
        assert isinstance(part, aiohttp.BodyPartReader)
        parts.append((part.name or "", bytes(await part.read())))
    return parts


async def test_fields_file_header_and_first_audio_go_out_in_one_write() -> None:
    """Four writes for a three-chunk stream: head + first chunk, second, third, closing.

    Before, the head was a write of its own (five writes): a send and a wake-up
    of the backend before any audio reached it. The closing stays separate: joining
    it to the last chunk would hold every chunk back until the next one came.
    """
    audio = [b"RIFF" + bytes(4092), bytes(8192), bytes(100)]
    payload = multipart_form(FIELDS, audio=_chunks(*audio))
    writes = await _writes(payload)
    assert len(writes) == 4
    assert writes[0].endswith(audio[0])
    assert b'name="model"' in writes[0]
    assert b'name="file"' in writes[0]
    assert writes[1:3] == audio[1:]
    assert await _parts(payload, b"".join(writes)) == [
        ("model", b"parakeet-tdt-0.6b-v3"),
        ("response_format", b"json"),
        ("file", b"".join(audio)),
    ]


async def test_a_large_first_chunk_is_not_copied_to_join_the_head() -> None:
    """A first chunk past the join limit goes out as it came, after the head."""
    big = bytes(multipart._JOIN_FIRST_CHUNK_MAX + 1)
    payload = multipart_form(FIELDS, audio=_chunks(big))
    writes = await _writes(payload)
    assert writes[1] == big
    assert b'name="file"' in writes[0]
    assert not writes[0].endswith(big[:1024])
    assert (await _parts(payload, b"".join(writes)))[-1] == ("file", big)


async def test_an_empty_stream_still_makes_a_complete_form() -> None:
    """No audio at all: the head and the closing boundary, one write."""
    payload = multipart_form(FIELDS, audio=_chunks(b"", b""), trailing=lambda: [("late", "x")])
    writes = await _writes(payload)
    assert len(writes) == 1
    assert await _parts(payload, writes[0]) == [
        ("model", b"parakeet-tdt-0.6b-v3"),
        ("response_format", b"json"),
        ("file", b""),
        ("late", b"x"),
    ]


@pytest.mark.parametrize("filename", ["audio.wav", 'a "quoted" näme.wav', "x;y=z.mp3"])
async def test_disposition_is_quoted_once_per_name_and_as_aiohttp_quotes_it(
    monkeypatch: pytest.MonkeyPatch, filename: str
) -> None:
    """aiohttp's quoting (tens of µs a call) runs once per distinct field name and filename.

    The header is still exactly aiohttp's, so the backend reads what it read before.
    """
    multipart._disposition.cache_clear()
    calls: list[str] = []

    def counted(disptype: str, *, name: str, filename: str | None = None) -> str:
        calls.append(name)
        if filename is None:
            return quote(disptype, name=name)
        return quote(disptype, name=name, filename=filename)

    monkeypatch.setattr(multipart, "content_disposition_header", counted)
    for _ in range(3):
        payload = multipart_form(FIELDS, audio=_chunks(b"RIFF"), filename=filename)
        body = b"".join(await _writes(payload))
    assert sorted(calls) == ["file", "model", "response_format"]
    assert (
        f"Content-Disposition: {quote('form-data', name='file', filename=filename)}".encode()
        in (body)
    )
