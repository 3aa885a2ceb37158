"""A WhisperX that answers but is still loading its model (the simulator is always loaded)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


async def _loading(_: web.Request) -> web.Response:
    return web.json_response({"status": "loading", "whisper_loaded": False})


@asynccontextmanager
async def loading_whisperx() -> AsyncIterator[int]:
    """A tiny real HTTP server answering WhisperX's /health as the app does while loading.

    Yields its port on 127.0.0.1.
    """
    app = web.Application()
    app.router.add_get("/health", _loading)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()
