"""The zero-copy file-part reader finds the boundary wherever the network splits it."""

from __future__ import annotations

import asyncio
from unittest.mock import Mock

import pytest
from aiohttp.streams import StreamReader

from custom_components.spark_audio.gateway.multipart_raw import part_body

BOUNDARY = b"XyZBoundary"


async def read_split(body: bytes, cuts: list[int], *, head: bool = False) -> bytes:
    """``body`` arriving in pieces cut at ``cuts``, read back through ``part_body``.

    With ``head`` the first piece is passed as already read (as the form's reader does).
    """
    stream = StreamReader(Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop())
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    first = pieces.pop(0) if head else b""
    for piece in pieces:
        if piece:
            stream.feed_data(piece)
    stream.feed_eof()
    after = bytearray()
    data = b"".join([chunk async for chunk in part_body(stream, BOUNDARY, after, first)])
    assert bytes(after) + await stream.read() == body[len(data) + 2 :]
    return data


@pytest.mark.parametrize("head", [False, True], ids=["streamed", "first piece already read"])
@pytest.mark.parametrize("data", [b"", b"a", b"audio \r\n-- not it \r\n--XyZ almost" * 50])
async def test_every_split_point(data: bytes, head: bool) -> None:
    """Cut the stream at every byte around the boundary (and in the data): same bytes out."""
    body = data + b"\r\n--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="x"\r\n'
    end = len(data)
    for cut in range(max(0, end - 20), min(len(body), end + 20)):
        for second in (cut + 1, cut + 7, len(body)):
            cuts = sorted({c for c in (cut, second) if 0 < c < len(body)})
            assert await read_split(body, cuts, head=head) == data, (cut, second)


async def test_body_ending_inside_the_part_is_an_error() -> None:
    with pytest.raises(ValueError, match="ended inside the file part"):
        await read_split(b"audio without any boundary", [5])


async def test_a_chunk_is_handed_on_as_it_arrives() -> None:
    """The backend gets each network chunk before the next one exists, and the same object.

    Nothing more is fed (no boundary, no EOF): a reader that held a chunk back until
    the next one came would never answer, and the wait below would fail the test.
    """
    stream = StreamReader(Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop())
    first = b"RIFF audio bytes " * 1000
    stream.feed_data(first)
    body = part_body(stream, BOUNDARY)
    assert await asyncio.wait_for(anext(body), 30) is first
    stream.feed_data(b"more audio\r\n-")  # the tail could begin the delimiter: kept back
    assert await asyncio.wait_for(anext(body), 30) == b"more audio"
    stream.feed_data(b"-" + BOUNDARY + b"\r\n")
    assert [chunk async for chunk in body] == []
