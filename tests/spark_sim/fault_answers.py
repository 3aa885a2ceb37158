"""How a faulty service answers: a TCP reset, a cut body, a 500 after the upload.

The fault middleware (faults.py) picks one of these per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .faults import RecordedRequest

MALFORMED_JSON = b'{"text": "trunc'
# A WAV that stops inside its own header: what a crashing encoder leaves.
MALFORMED_WAV = b"RIFF\x24\x00\x00\x00WAVEfm"


def hard_close(request: web.Request) -> None:
    """Reset the TCP connection (RST), like a crashed or vanished backend."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if isinstance(sock, socket.socket):
        # Linger 0 turns close() into an RST rather than a graceful FIN.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def malformed_response() -> web.Response:
    """200 with a JSON body cut off mid-string."""
    return web.Response(status=200, body=MALFORMED_JSON, content_type="application/json")


async def drain(request: web.Request, record: RecordedRequest) -> None:
    """Read and discard the body, as a server does before it fails."""
    while chunk := await request.content.readany():
        record.bytes_received += len(chunk)


async def fail(
    request: web.Request,
    record: RecordedRequest,
    body: Mapping[str, str],
    *,
    settle_s: float = 0.0,
) -> web.Response:
    """Read the upload, then answer 500 with ``body``."""
    await drain(request, record)
    if settle_s:
        await asyncio.sleep(settle_s)
    record.status = 500
    return web.json_response(dict(body), status=500)


async def reset_midway(request: web.Request, response: web.Response) -> web.StreamResponse:
    """Send the headers and half the body, then reset the connection."""
    body = response.body if isinstance(response.body, bytes) else b""
    stream = web.StreamResponse(
        status=response.status, reason=response.reason, headers=response.headers
    )
    stream.content_length = len(body)
    await stream.prepare(request)
    await stream.write(body[: max(1, len(body) // 2)])
    # Let the client see the headers before the reset lands.
    await asyncio.sleep(0.05)
    hard_close(request)
    return stream


def corrupt(response: web.Response) -> web.Response:
    """The MALFORMED version of a successful answer, by content type."""
    if response.content_type == "application/json":
        return malformed_response()
    if response.content_type == "audio/wav":
        return web.Response(status=200, body=MALFORMED_WAV, content_type="audio/wav")
    return response
