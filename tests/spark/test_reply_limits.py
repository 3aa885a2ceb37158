"""A Spark's replies are read up to a bound: a fake or hijacked one cannot fill HA's memory.

A bare aiohttp server stands in for that Spark (the simulated one answers only what the
real services do): it streams a reply far past the bound, with or without declaring its
length, and counts what the client let it write before hanging up.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from custom_components.spark_audio.spark import (
    MagpieClient,
    ParakeetClient,
    SparkBackendFaultError,
    SparkResponseError,
)
from custom_components.spark_audio.spark.clients.http import MAX_STATUS_BYTES
from custom_components.spark_audio.spark.clients.magpie import max_wav_bytes

TOTAL = 64 * 1024 * 1024
"""Far more than a loopback connection's buffers hold: a client that stopped early leaves
most of it unwritten, one that read everything lets all of it through."""
BLOCK = 64 * 1024


class Flood:
    """Answers every request with ``TOTAL`` bytes (``lead`` first), streamed block by block."""

    def __init__(self, *, declare: bool, status: int = 200, lead: bytes = b"") -> None:
        self.declare = declare
        self.status = status
        self.lead = lead
        self.written = 0
        self.done = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(status=self.status)
        response.content_type = "application/json"
        if self.declare:
            response.content_length = TOTAL
        try:
            await response.prepare(request)
            block = self.lead + b" " * (BLOCK - len(self.lead))
            while self.written < TOTAL:
                await response.write(block)
                self.written += len(block)
                block = b" " * BLOCK
            await response.write_eof()
        except ConnectionError:
            pass  # the client hung up: what this test wants
        finally:
            self.done.set()
        return response

    async def written_when_done(self) -> int:
        await asyncio.wait_for(self.done.wait(), 60)
        return self.written


async def serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> TestServer:
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def flood_server(
    request: pytest.FixtureRequest, socket_enabled: None
) -> AsyncIterator[tuple[Flood, int]]:
    flood = Flood(**request.param)
    server = await serve(flood.handle)
    assert server.port is not None
    yield flood, server.port
    await server.close()


DECLARED_OR_NOT = pytest.mark.parametrize(
    "flood_server",
    [{"declare": True}, {"declare": False}],
    ids=["length declared", "chunked"],
    indirect=True,
)


def assert_clear(err: SparkResponseError, port: int, bound: str) -> None:
    """The message names the bound and the path, never the Spark's address."""
    assert f"answered more than {bound}" in str(err)
    assert "127.0.0.1" not in str(err)
    assert str(port) not in str(err)


@DECLARED_OR_NOT
async def test_a_health_poll_answered_with_too_much_is_refused_unread(
    flood_server: tuple[Flood, int], session: aiohttp.ClientSession
) -> None:
    flood, port = flood_server
    client = ParakeetClient(session, "127.0.0.1", port, timeout=30)
    with pytest.raises(SparkResponseError) as caught:
        await client.status()
    assert_clear(caught.value, port, "1 MiB")
    assert caught.value.args[0].startswith("/health ")
    assert await flood.written_when_done() < TOTAL


async def test_a_result_declared_past_its_bound_is_refused(
    session: aiohttp.ClientSession,
) -> None:
    """Results (diarizations, transcripts) have the larger bound; one byte more is refused.

    Only the declared case: streaming past 64 MiB would cost this test that much
    traffic, and the chunked path is the same helper the other tests stream through.
    """

    async def declared_past(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse()
        response.content_length = 64 * 1024 * 1024 + 1
        await response.prepare(request)
        await response.write(b"{")
        return response

    server = await serve(declared_past)
    try:
        assert server.port is not None
        client = ParakeetClient(session, "127.0.0.1", server.port, timeout=30)
        with pytest.raises(SparkResponseError) as caught:
            await client.diarize(b"RIFF")
        assert_clear(caught.value, server.port, "64 MiB")
    finally:
        await server.close()


async def test_a_reply_of_exactly_the_bound_is_read(session: aiohttp.ClientSession) -> None:
    """The bound is inclusive: a chunked health body of exactly 1 MiB is parsed."""
    head = b'{"status": "ok", "model": "parakeet", "pad": "'
    body = head + b"x" * (MAX_STATUS_BYTES - len(head) - 2) + b'"}'
    assert len(body) == MAX_STATUS_BYTES

    async def exact(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = "application/json"
        await response.prepare(request)
        for start in range(0, len(body), BLOCK):
            await response.write(body[start : start + BLOCK])
        await response.write_eof()
        return response

    server = await serve(exact)
    try:
        assert server.port is not None
        client = ParakeetClient(session, "127.0.0.1", server.port, timeout=30)
        health = (await client.status()).health
        assert health.ready
        assert health.details["pad"] == json.loads(body)["pad"]
    finally:
        await server.close()


@DECLARED_OR_NOT
async def test_a_wav_past_the_longest_speech_is_refused_unread(
    flood_server: tuple[Flood, int], session: aiohttp.ClientSession
) -> None:
    """A 16 Hz rate keeps the bound (`max_wav_bytes`) at 36 KB, so little is streamed."""
    flood, port = flood_server
    client = MagpieClient(session, "127.0.0.1", port, timeout=30)
    bound = max_wav_bytes(16)
    assert bound == 4096 + 2 * 16 * 1000
    with pytest.raises(SparkResponseError) as caught:
        await client.synthesize("Hello.", voice="Magpie-Multilingual.EN-US.Aria", sample_rate_hz=16)
    assert_clear(caught.value, port, f"{bound // 1024} KiB")
    assert await flood.written_when_done() < TOTAL


@pytest.mark.parametrize(
    "flood_server",
    [
        {"declare": declare, "status": 500, "lead": b"CUDA error: out of memory"}
        for declare in (True, False)
    ],
    ids=["length declared", "chunked"],
    indirect=True,
)
async def test_an_error_body_is_read_only_for_its_message(
    flood_server: tuple[Flood, int], session: aiohttp.ClientSession
) -> None:
    flood, port = flood_server
    client = ParakeetClient(session, "127.0.0.1", port, timeout=30)
    with pytest.raises(SparkBackendFaultError, match=r"-> 500: CUDA error: out of memory$"):
        await client.diarize(b"RIFF")
    assert await flood.written_when_done() < TOTAL
