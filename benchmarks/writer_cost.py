"""The outbound form writer against its previous version, in the same run: writes and time.

``spark/clients/multipart.py`` as it is now and as it was at a git revision
(default: the one before the head of the form went out with the first audio
chunk) stream the same 1 MB upload (64 KiB chunks, as the gateway hands them
on) to an aiohttp server on loopback, interleaved. Printed per version: the
client's writes per upload, the server's reads, the median time until the
server has the whole body, and this process's CPU per upload (client and
server both run here, so a saved wake-up shows as saved CPU).

Run: .venv/bin/python -m benchmarks.writer_cost [--rounds N] [--revision REV]
"""

from __future__ import annotations

import statistics
import subprocess
import time
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from custom_components.spark_audio.spark.clients import multipart

from .common import run_against_revision

REPO = Path(__file__).resolve().parents[1]
MODULE = "custom_components/spark_audio/spark/clients/multipart.py"
CHUNK = 64 * 1024
SIZE = 1024 * 1024
FIELDS = [("model", "parakeet-tdt-0.6b-v3"), ("response_format", "json")]


def module_at(revision: str) -> Any:
    """The writer module as it was at ``revision`` (its imports are absolute: aiohttp only)."""
    source = subprocess.run(
        ["git", "show", f"{revision}:{MODULE}"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType(f"multipart_at_{revision}")
    exec(compile(source, f"{revision}:{MODULE}", "exec"), module.__dict__)
    return module


async def audio() -> AsyncIterator[bytes]:
    """1 MB in 64 KiB chunks, each handed on the moment it is asked for."""
    chunk = bytes(CHUNK)
    for _ in range(SIZE // CHUNK):
        yield chunk


class CountingWriter:
    """Counts the payload's writes, passing them on to aiohttp's writer."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def write(self, chunk: bytes) -> None:
        self.writes += 1
        await self.inner.write(chunk)


def cpu_s() -> float:
    """This thread's CPU time (client and server share it)."""
    return time.thread_time()


async def measure(rounds: int, revision: str) -> None:
    """Interleave both versions; print writes, reads, median time and CPU per upload."""
    reads: list[int] = []

    async def receive(request: web.Request) -> web.Response:
        count = 0
        async for _ in request.content.iter_any():
            count += 1
        reads.append(count)
        return web.json_response({"text": ""})

    app = web.Application(client_max_size=0)
    app.router.add_post("/upload", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/upload"
    versions = {f"at {revision}": module_at(revision), "now": multipart}
    results: dict[str, dict[str, list[float]]] = {
        name: {"writes": [], "reads": [], "time": [], "cpu": []} for name in versions
    }
    try:
        async with aiohttp.ClientSession() as session:
            for round_ in range(rounds + 10):
                for name, module in versions.items():
                    payload = module.multipart_form(FIELDS, audio=audio())
                    counted = _counting(payload)
                    start, cpu = time.perf_counter(), cpu_s()
                    async with session.post(url, data=payload) as response:
                        await response.read()
                    took, used = time.perf_counter() - start, cpu_s() - cpu
                    if round_ >= 10:  # warm-up first
                        row = results[name]
                        row["writes"].append(counted.writes)
                        row["reads"].append(reads[-1])
                        row["time"].append(took)
                        row["cpu"].append(used)
    finally:
        await runner.cleanup()
    print(f"1 MB streamed in 64 KiB chunks, {rounds} rounds interleaved (medians):")
    print("| writer | writes per upload | server reads | time to answer | CPU per upload |")
    print("|---|---:|---:|---:|---:|")
    for name, row in results.items():
        print(
            f"| {name} | {statistics.median(row['writes']):.0f} | "
            f"{statistics.median(row['reads']):.0f} | "
            f"{statistics.median(row['time']) * 1000:.3f} ms | "
            f"{statistics.median(row['cpu']) * 1000:.3f} ms |"
        )


def _counting(payload: Any) -> CountingWriter:
    """Wrap the payload's ``write`` so the writes it makes are counted."""
    original = payload.write
    counter = CountingWriter(None)

    async def write(writer: Any) -> None:
        counter.inner = writer
        await original(counter)

    payload.write = write
    return counter


def main() -> None:
    """Parse the flags and run."""
    run_against_revision(__doc__ or "", measure, "d4ecd74", rounds=300)


if __name__ == "__main__":
    main()
