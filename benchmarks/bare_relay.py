"""The floor of any Python HTTP relay here: aiohttp server in, aiohttp client out, nothing else.

No auth, no form parsing, no limits: the request body is streamed to the backend
as it arrives and the answer returned. The gateway benchmark runs it beside HA
so the gateway's added latency can be read against what a bare relay adds on
the same machine in the same run.

Run: python -m benchmarks.bare_relay BACKEND_URL PORT_FILE
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

PASSED_HEADERS = ("Content-Type",)


async def relay(request: web.Request) -> web.Response:
    """Stream the body to the backend; answer with the backend's answer."""
    session: aiohttp.ClientSession = request.app["session"]

    async def body() -> AsyncIterator[bytes]:
        while chunk := await request.content.readany():
            yield chunk

    headers = {name: request.headers[name] for name in PASSED_HEADERS if name in request.headers}
    async with session.post(request.app["backend"], data=body(), headers=headers) as answer:
        payload = await answer.read()
        return web.Response(status=answer.status, body=payload, content_type=answer.content_type)


async def main(backend: str, port_file: Path) -> None:
    app = web.Application(client_max_size=0)
    app["backend"] = backend
    app["session"] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
    app.router.add_post("/relay", relay)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await asyncio.to_thread(port_file.write_text, str(port))
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
