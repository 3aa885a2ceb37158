"""The zero-copy file-part reader finds the boundary wherever the network splits it."""

from __future__ import annotations

import asyncio
from itertools import combinations
from unittest.mock import Mock

import pytest
from aiohttp.streams import StreamReader

from custom_components.spark_audio.gateway.multipart_raw import part_body

BOUNDARY = b"XyZBoundary"


class NetworkReads(StreamReader):
    """A connection that delivers ``reads`` one per ``readany``, as a slow network would.

    aiohttp's reader joins everything buffered into one ``readany``, so pieces fed up
    front would arrive as a single read and no split would be tested.
    """

    def __init__(self, reads: list[bytes]) -> None:
        super().__init__(Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop())
        self._reads = [read for read in reversed(reads) if read]

    async def readany(self) -> bytes:
        if self._reads:
            self.feed_data(self._reads.pop())
        else:
            self.feed_eof()
        return await super().readany()

    async def unread(self) -> bytes:
        """What no ``readany`` took."""
        while self._reads:
            self.feed_data(self._reads.pop())
        self.feed_eof()
        return await self.read()


async def read_split(body: bytes, cuts: list[int], *, head: bool = False) -> bytes:
    """``body`` arriving in reads cut at ``cuts``, read back through ``part_body``.

    With ``head`` the first piece is passed as already read (as the form's reader does).
    ``after`` must be exactly the rest of the read that completed the delimiter.
    """
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    first = pieces.pop(0) if head else b""
    stream = NetworkReads(pieces)
    after = bytearray()
    data = b"".join([chunk async for chunk in part_body(stream, BOUNDARY, after, first)])
    delimiter_end = len(data) + len(b"\r\n--" + BOUNDARY)
    read_end = min(cut for cut in [*cuts, len(body)] if cut >= delimiter_end)
    assert bytes(after) == body[len(data) + 2 : read_end], cuts
    assert await stream.unread() == body[read_end:], cuts
    return data


@pytest.mark.parametrize("head", [False, True], ids=["streamed", "first piece already read"])
@pytest.mark.parametrize(
    "data",
    [b"", b"a", b"audio \r\n-- not it \r\n--XyZ almost" * 50],
    ids=["empty", "1 byte", "lookalikes"],
)
async def test_every_split_point(data: bytes, head: bool) -> None:
    """Cut the stream at every byte around the boundary (and in the data): same bytes out."""
    body = data + b"\r\n--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="x"\r\n'
    end = len(data)
    for cut in range(max(0, end - 20), min(len(body), end + 20)):
        for second in (cut + 1, cut + 7, len(body)):
            cuts = sorted({c for c in (cut, second) if 0 < c < len(body)})
            assert await read_split(body, cuts, head=head) == data, (cut, second)


@pytest.mark.parametrize("head", [False, True], ids=["streamed", "first piece already read"])
@pytest.mark.parametrize("data", [b"", b"abc", b"a\r\n-\r\n--XyZ\r"])
async def test_every_split_into_three_reads(data: bytes, head: bool) -> None:
    """A delimiter spread over three reads (held bytes plus a short read) is still found."""
    body = data + b"\r\n--" + BOUNDARY + b"--\r\n"
    for cuts in combinations(range(1, len(body)), 2):
        assert await read_split(body, list(cuts), head=head) == data, cuts


@pytest.mark.parametrize("data", [b"", b"a", b"audio \r\n-- not it \r\n--XyZ almost"])
async def test_one_byte_reads(data: bytes) -> None:
    body = data + b"\r\n--" + BOUNDARY + b"\r\nContent-Type: text/plain\r\n"
    assert await read_split(body, list(range(1, len(body)))) == data


async def test_review_case_delimiter_in_three_reads() -> None:
    """The security review's reads: ``abc\\r\\n-`` / ``-XyZ`` / ``Boundary--\\r\\n``."""
    stream = NetworkReads([b"abc\r\n-", b"-XyZ", b"Boundary--\r\n"])
    after = bytearray()
    assert [chunk async for chunk in part_body(stream, BOUNDARY, after)] == [b"abc"]
    assert bytes(after) == b"--XyZBoundary--\r\n"


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
