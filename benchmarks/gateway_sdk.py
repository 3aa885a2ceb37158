"""The gateway measured the way issue 20 measured it: an SDK-like client, json, same-run floor.

The client streams 1 MiB slices from an async generator with an exact
Content-Length (no chunked encoding), the fields in the OpenAI SDK's order
(``model``, ``response_format=json``, then ``file``; or the file first, curl's
usual order), and the same bytes go to three places, interleaved so that the
machine's noise hits all alike: the gateway, the bare aiohttp relay (the floor:
benchmarks/bare_relay.py) and the simulated Parakeet itself (direct).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import statistics
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from .form_parse_cost import form_parse_costs, form_parse_table
from .profile_stages import StageCost, stage_cpu, stage_table
from .upload_stream_cost import upload_stream_costs, upload_stream_table

MIB = 1024 * 1024
SLICE = MIB
MODEL = "parakeet-tdt-0.6b-v3"

type Send = Callable[[int, bool], Awaitable[float]]


def _wav_header(data_size: int, rate: int = 16000) -> bytes:
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_size, b"WAVE", b"fmt ", 16, 1, 1, rate,
        rate * 2, 2, 16, b"data", data_size,
    )  # fmt: skip


def sdk_form(size: int, file_first: bool) -> tuple[dict[str, str], AsyncIterator[bytes]]:
    """Headers (exact Content-Length) and a body of a ``size``-byte WAV, made as it is sent."""
    boundary = secrets.token_hex(16)
    fields = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in (("model", MODEL), ("response_format", "json"))
    )
    file_head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    end = f"--{boundary}--\r\n".encode()
    head = file_head if file_first else fields + file_head
    tail = b"\r\n" + (fields if file_first else b"") + end
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + size + len(tail)),
    }

    async def body() -> AsyncIterator[bytes]:
        yield head + _wav_header(size - 44)
        left = size - 44
        zeros = bytes(SLICE)
        while left > 0:
            piece = zeros if left >= SLICE else zeros[:left]
            left -= len(piece)
            yield piece
        yield tail

    return headers, body()


@dataclass(frozen=True)
class Target:
    """Where a request goes, and the process whose CPU it costs (None: the simulator)."""

    name: str
    url: str
    token: str | None = None
    pid: int | None = None


async def sdk_post(session: aiohttp.ClientSession, target: Target, size: int, first: bool) -> float:
    """One upload as the SDK sends it; seconds until the whole answer is read."""
    headers, body = sdk_form(size, first)
    if target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    start = time.perf_counter()
    async with session.post(target.url, data=body, headers=headers) as response:
        await response.read()
        assert response.status == 200, (target.name, response.status)
    return time.perf_counter() - start


def cpu_ms(pid: int) -> float:
    """CPU time the main thread (the event loop) of the process at ``pid`` has used, in ms.

    From schedstat, in nanoseconds: /proc/PID/stat counts in clock ticks (10 ms),
    too coarse for a request that costs a few.
    """
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e6


@dataclass(frozen=True)
class Settings:
    """How much to measure (``quick``: enough to see a regression, not to report)."""

    latency_runs: int
    big_runs: int
    profile_requests: int
    profile_dir: Path | None

    @classmethod
    def from_env(cls) -> Settings:
        """BENCH_QUICK=1 for fewer repetitions; SPARK_BENCH_PROFILE_DIR set: profile too."""
        quick = os.environ.get("BENCH_QUICK") == "1"
        folder = os.environ.get("SPARK_BENCH_PROFILE_DIR")
        return cls(
            latency_runs=15 if quick else 51,
            big_runs=1 if quick else 3,
            profile_requests=20 if quick else 60,
            profile_dir=Path(folder) if folder else None,
        )


ORDERS = (("model first (SDK)", False), ("file first", True))


async def measure_sdk(
    session: aiohttp.ClientSession,
    gateway: Target,
    relay: Target,
    direct: Target,
    rss_growth: Callable[[Awaitable[float]], Awaitable[float]],
    settings: Settings,
) -> None:
    """Print the issue's four figures, each against its target, for both form orders."""
    run = SdkRun(session, gateway, relay, direct, settings)
    print("\n[SDK method: 1 MiB slices, exact Content-Length, json; direct = same request]")
    for order, first in ORDERS:
        await run.latency(order, first)
    for order, first in ORDERS:
        await run.throughput(order, first)
    for order, first in ORDERS:
        await run.concurrent(order, first)
    for order, first in ORDERS:
        growth = await rss_growth(run.send(gateway)(300 * MIB, first))
        print(
            f"(d) {order}: 300 MB upload, HA RSS growth {growth:.1f} MB "
            f"(target < 32 MB: {_verdict(growth < 32)})"
        )


def _verdict(met: bool) -> str:
    return "met" if met else "missed"


@dataclass(frozen=True)
class SdkRun:
    """One run's targets: each figure interleaves gateway, relay and direct."""

    session: aiohttp.ClientSession
    gateway: Target
    relay: Target
    direct: Target
    settings: Settings

    @property
    def targets(self) -> tuple[Target, Target, Target]:
        """In the order each round sends to them."""
        return (self.gateway, self.relay, self.direct)

    def send(self, target: Target) -> Send:
        """Uploads to ``target``."""
        return lambda size, first: sdk_post(self.session, target, size, first)

    async def latency(self, order: str, first: bool) -> None:
        """(a) added p50 of a 1 MB upload, and the CPU each process spends on one."""
        gateway, relay, direct = self.targets
        for target in self.targets * 2:  # warm-up
            await self.send(target)(MIB, first)
        times: dict[str, list[float]] = {t.name: [] for t in self.targets}
        cpu: dict[str, float] = dict.fromkeys(times, 0.0)
        runs = self.settings.latency_runs
        for _ in range(runs):
            for target in self.targets:
                before = cpu_ms(target.pid) if target.pid else 0.0
                times[target.name].append(await self.send(target)(MIB, first))
                cpu[target.name] += (cpu_ms(target.pid) - before) if target.pid else 0.0
        p50 = {name: statistics.median(samples) * 1000 for name, samples in times.items()}
        added = p50[gateway.name] - p50[direct.name]
        floor = p50[relay.name] - p50[direct.name]
        print(
            f"(a) {order}: 1 MB p50 gateway {p50[gateway.name]:.2f} ms, bare relay "
            f"{p50[relay.name]:.2f} ms, direct {p50[direct.name]:.2f} ms; added: gateway "
            f"{added:+.2f} ms, relay {floor:+.2f} ms, gateway - relay {added - floor:+.2f} ms "
            f"(target <= +0.5 ms: {_verdict(added - floor <= 0.5)}); event-loop CPU per "
            f"request HA {cpu[gateway.name] / runs:.2f} ms, relay {cpu[relay.name] / runs:.2f} ms"
        )
        await self.profile(
            order,
            first,
            MIB,
            self.settings.profile_requests,
            (cpu[gateway.name] / runs, cpu[relay.name] / runs),
        )
        if self.settings.profile_dir is not None and first:
            print("(f) our form parsing in this process, no profiler, before and now (median):")
            print(form_parse_table(await form_parse_costs()))
            print("(g) the upload stream in this process, no profiler, before and now (median):")
            print(upload_stream_table(await upload_stream_costs(200)))
            print(f"(h) HA's floor: {await self.ha_floor_ms():.2f} ms event-loop CPU per GET /api/")

    async def ha_floor_ms(self, requests: int = 60) -> float:
        """HA's event-loop CPU for its cheapest authenticated view (middlewares, auth, JSON).

        What any request to an HA view costs before a byte of ours runs.
        """
        assert self.gateway.pid is not None
        url = self.gateway.url.split("/api/")[0] + "/api/"
        headers = {"Authorization": f"Bearer {self.gateway.token}"}
        before = cpu_ms(self.gateway.pid)
        for _ in range(requests):
            async with self.session.get(url, headers=headers) as response:
                await response.read()
        return (cpu_ms(self.gateway.pid) - before) / requests

    async def throughput(self, order: str, first: bool) -> None:
        """(b) one 200 MB upload's throughput, best of the runs."""
        gateway, relay, direct = self.targets
        size = 200 * MIB
        best: dict[str, float] = {}
        for _ in range(self.settings.big_runs):
            for target in self.targets:
                took = await self.send(target)(size, first)
                best[target.name] = min(best.get(target.name, took), took)
        ratio = best[direct.name] / best[gateway.name]
        print(
            f"(b) {order}: 200 MB gateway {size / MIB / best[gateway.name]:.0f} MB/s, relay "
            f"{size / MIB / best[relay.name]:.0f} MB/s, direct "
            f"{size / MIB / best[direct.name]:.0f} MB/s; gateway/direct {ratio:.2f} "
            f"(target >= 0.85: {_verdict(ratio >= 0.85)}), relay/direct "
            f"{best[direct.name] / best[relay.name]:.2f}"
        )
        await self.profile(order, first, size, 1)

    async def concurrent(self, order: str, first: bool) -> None:
        """(c) wall time of 8 concurrent 50 MB uploads, best of the runs."""
        gateway, relay, direct = self.targets

        async def wall(target: Target) -> float:
            start = time.perf_counter()
            await asyncio.gather(*(self.send(target)(50 * MIB, first) for _ in range(8)))
            return time.perf_counter() - start

        walls: dict[str, float] = {}
        for _ in range(max(2, self.settings.big_runs)):
            for target in self.targets:
                took = await wall(target)
                walls[target.name] = min(walls.get(target.name, took), took)
        ratio = walls[gateway.name] / walls[direct.name]
        print(
            f"(c) {order}: 8 x 50 MB wall gateway {walls[gateway.name]:.2f} s, relay "
            f"{walls[relay.name]:.2f} s, direct {walls[direct.name]:.2f} s; gateway/direct "
            f"{ratio:.2f} (target <= 1.3: {_verdict(ratio <= 1.3)}), relay/direct "
            f"{walls[relay.name] / walls[direct.name]:.2f}"
        )

    async def profile(
        self, order: str, first: bool, size: int, requests: int, measured: tuple[float, ...] = ()
    ) -> None:
        """With --profile: the CPU per upload by stage, HA beside the relay."""
        if (folder := self.settings.profile_dir) is None:
            return
        columns = await profile_stages(
            self.send, (self.gateway, self.relay), size, requests, first, folder
        )
        print(f"(p) {order}: CPU ms per {size // MIB} MB upload by stage (cProfile inflates it)")
        print(stage_table(columns, measured))


async def profile_stages(
    send: Callable[[Target], Send],
    targets: tuple[Target, ...],
    size: int,
    requests: int,
    first: bool,
    folder: Path,
) -> list[tuple[str, dict[str, StageCost], int]]:
    """Each target's CPU by stage over ``requests`` uploads of ``size``, under cProfile.

    The dumps stay in ``folder`` as ``<target>-<size>-<order>.prof`` for a closer look.
    """
    columns = []
    for target in targets:
        assert target.pid is not None
        dump = folder / f"{target.pid}.prof"
        dump.unlink(missing_ok=True)
        os.kill(target.pid, signal.SIGUSR1)
        await asyncio.sleep(0.2)  # the handler runs when the process's main thread wakes
        for _ in range(requests):
            await send(target)(size, first)
        os.kill(target.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 60
        while not dump.exists():
            assert time.monotonic() < deadline, f"no profile from {target.name}"
            await asyncio.sleep(0.1)
        kept = dump.rename(
            folder
            / f"{target.name}-{size // MIB}MB-{'file-first' if first else 'model-first'}.prof"
        )
        columns.append((target.name, stage_cpu(kept), requests))
    return columns
