"""The gateway's cost: latency, throughput, memory and event-loop lag, against going direct.

Runs a real ``hass`` process (the development configuration) and the simulated
Spark as another process, adds the Spark through the config flow over REST,
then measures, each against the same request sent straight to the simulated
Parakeet in the same run, and each with the file part last in the form (the
OpenAI SDK's order: streamed) and first (curl's usual order: spooled to disk):

(a) added p50 latency of a 1 MB upload, instant backend (target <= 1 ms), beside the same
    figure for a bare aiohttp relay (benchmarks/bare_relay.py: no auth, no parsing) as the
    floor of any Python relay on this machine, and the CPU each process spends per request
(b) throughput of one 200 MB upload (target >= 0.8x direct)
(c) peak RSS growth of the HA process while it takes a 300 MB upload (target < 32 MB)
(d) wall time of 8 concurrent 50 MB uploads, best of two (target <= 1.3x direct)
(e) HA event-loop lag p99 during another round of (d), from an HA endpoint's response time
    minus its idle median

Uploads are generated on the fly (a WAV header, then silence), never held in memory.

Beside its own method, the same run measures the gateway as issue 20 did (benchmarks/gateway_sdk.py:
an SDK-like client, 1 MiB slices with an exact Content-Length, json, the bare relay as the floor).

Run: .venv/bin/python -m benchmarks.bench_gateway [--quick] [--profile] [--method own|sdk|both]
(--profile: CPU per request by stage, from cProfile in HA and the bare relay; --quick: fewer
repetitions). Or: .venv/bin/python -m pytest benchmarks/bench_gateway.py -s -q -p no:cacheprovider
(BENCH_WITH_WHISPERX=1: the Spark offers WhisperX too, so file-first uploads keep a spooled copy)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from benchmarks.gateway_sdk import Settings, Target, cpu_ms, measure_sdk
from custom_components.spark_audio.spark.clients.transcription import TEXT_ONLY
from tests.browser.conftest import (  # noqa: F401  (fixtures)
    HassServer,
    SimulatedSpark,
    hass_server,
    loopback,
    sim_process,
)

MB = 1024 * 1024
CHUNK = 256 * 1024


def wav_header(data_size: int, rate: int = 16000) -> bytes:
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_size, b"WAVE", b"fmt ", 16, 1, 1, rate,
        rate * 2, 2, 16, b"data", data_size,
    )  # fmt: skip


async def wav_body(size: int) -> AsyncIterator[bytes]:
    """A WAV file of ``size`` bytes, made as it is sent."""
    yield wav_header(size - 44)
    left = size - 44
    zeros = bytes(CHUNK)
    while left > 0:
        piece = zeros[: min(CHUNK, left)]
        left -= len(piece)
        yield piece


# What the gateway asks the backend for a request without response_format (OpenAI's default,
# json): the text alone (spark.clients.transcription.TEXT_ONLY). The direct baseline and the bare
# relay ask the same, so the difference is the gateway's own cost, not a costlier backend answer.
BACKEND_FIELDS = [(name, value) for name, value in TEXT_ONLY.fields() if value is not None]


def form(size: int, file_first: bool, *, direct: bool = False) -> aiohttp.MultipartWriter:
    writer = aiohttp.MultipartWriter("form-data")

    def model() -> None:
        writer.append("parakeet-tdt-0.6b-v3").set_content_disposition("form-data", name="model")
        for name, value in BACKEND_FIELDS if direct else ():
            writer.append(value).set_content_disposition("form-data", name=name)

    if not file_first:
        model()
    part = writer.append(wav_body(size), {"Content-Type": "audio/wav"})
    part.set_content_disposition("form-data", name="file", filename="bench.wav")
    if file_first:
        model()
    return writer


async def post(
    session: aiohttp.ClientSession,
    url: str,
    size: int,
    token: str | None,
    file_first: bool,
    *,
    direct_fields: bool = False,
) -> float:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    start = time.perf_counter()
    data = form(size, file_first, direct=token is None or direct_fields)
    async with session.post(url, data=data, headers=headers) as response:
        await response.read()
        assert response.status == 200, response.status
    return time.perf_counter() - start


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def add_spark(hass: HassServer, sim: SimulatedSpark) -> None:
    flow = hass.rest("POST", "/api/config/config_entries/flow", {"handler": "spark_audio"})
    result = hass.rest(
        "POST",
        f"/api/config/config_entries/flow/{flow['flow_id']}",
        {
            "host": sim.host,
            "parakeet_enabled": True,
            "parakeet_port": sim.ports["parakeet"],
            "magpie_enabled": False,
            "magpie_port": sim.ports["magpie"],
            # With WhisperX too, a file sent before its model is spooled on the way (a copy for
            # the case the model says whisperx): BENCH_WITH_WHISPERX=1 measures that cost.
            "whisperx_enabled": os.environ.get("BENCH_WITH_WHISPERX") == "1",
            "whisperx_port": sim.ports["whisperx"],
            "ssh": {"ssh_port": 22},
        },
    )
    assert result["type"] == "create_entry", result


@pytest.fixture
def bare_relay(sim_process: SimulatedSpark, tmp_path: Path) -> Iterator[tuple[str, int]]:  # noqa: F811
    """benchmarks/bare_relay.py in front of the simulated Parakeet: its URL and PID."""
    port_file = tmp_path / "relay_port"
    backend = f"http://{sim_process.host}:{sim_process.ports['parakeet']}/v1/audio/transcriptions"
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bare_relay", backend, str(port_file)],
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            assert proc.poll() is None, "the bare relay exited"
            assert time.monotonic() < deadline, "the bare relay did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text()}/relay", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.timeout(1200)  # both form orders take minutes on a busy machine
def test_gateway_overhead(
    hass_server: HassServer,  # noqa: F811
    sim_process: SimulatedSpark,  # noqa: F811
    bare_relay: tuple[str, int],
) -> None:
    add_spark(hass_server, sim_process)
    asyncio.run(measure(hass_server, sim_process, bare_relay))


ORDERS = (("file last", False), ("file first", True))


async def measure(hass: HassServer, sim: SimulatedSpark, relay: tuple[str, int]) -> None:
    gateway = f"{hass.url}/api/spark_audio/v1/audio/transcriptions"
    direct = f"http://{sim.host}:{sim.ports['parakeet']}/v1/audio/transcriptions"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        async with session.post(
            f"http://{sim.host}:{sim.ports['parakeet']}/_sim/control",
            json={"rtf": 0.0, "max_queue": 64},
        ) as r:  # an instant backend: nothing but transport is left to measure
            assert r.status == 200
        method = os.environ.get("BENCH_GATEWAY_METHOD", "both")
        if method in ("sdk", "both"):
            await measure_sdk(
                session,
                Target("gateway", gateway, hass.token, hass.pid),
                Target("relay", relay[0], pid=relay[1]),
                Target("direct", direct),
                lambda upload: peak_growth(hass.pid, upload),
                Settings.from_env(),
            )
        if method in ("own", "both"):
            print("\n[own method: aiohttp MultipartWriter, 256 KiB chunks, chunked encoding]")
            await measure_own(session, hass, gateway, direct, relay)


async def measure_own(
    session: aiohttp.ClientSession,
    hass: HassServer,
    gateway: str,
    direct: str,
    relay: tuple[str, int],
) -> None:
    """The benchmark's own method (a) to (e), as it was before issue 20."""
    latency_runs, big_runs = (7, 1) if os.environ.get("BENCH_QUICK") == "1" else (21, 3)

    async def via(size: int, first: bool) -> float:
        return await post(session, gateway, size, hass.token, first)

    async def straight(size: int, first: bool) -> float:
        return await post(session, direct, size, None, first)

    print()

    async def relayed(size: int, first: bool) -> float:
        return await post(session, relay[0], size, None, first, direct_fields=True)

    for order, first in ORDERS:
        # (a) interleaved, so drift hits all three alike.
        for _ in range(3):
            await via(MB, first)
            await relayed(MB, first)
            await straight(MB, first)
        gw, rl, dt = [], [], []
        ha_cpu = relay_cpu = 0.0
        for _ in range(latency_runs):
            before = cpu_ms(hass.pid)
            gw.append(await via(MB, first))
            ha_cpu += cpu_ms(hass.pid) - before
            before = cpu_ms(relay[1])
            rl.append(await relayed(MB, first))
            relay_cpu += cpu_ms(relay[1]) - before
            dt.append(await straight(MB, first))
        direct_p50 = statistics.median(dt)
        added = (statistics.median(gw) - direct_p50) * 1000
        bare = (statistics.median(rl) - direct_p50) * 1000
        print(
            f"(a) {order}: 1 MB p50 gateway {statistics.median(gw) * 1000:.1f} ms, direct "
            f"{direct_p50 * 1000:.1f} ms, added {added:+.2f} ms (target <= 1 ms); bare "
            f"aiohttp relay added {bare:+.2f} ms; event-loop CPU per request: HA "
            f"{ha_cpu / latency_runs:.1f} ms, bare relay {relay_cpu / latency_runs:.1f} ms"
        )

    for order, first in ORDERS:
        size = 200 * MB
        t_via = min([await via(size, first) for _ in range(max(1, big_runs - 1))])
        t_direct = min([await straight(size, first) for _ in range(max(1, big_runs - 1))])
        print(
            f"(b) {order}: 200 MB gateway {size / MB / t_via:.0f} MB/s, direct "
            f"{size / MB / t_direct:.0f} MB/s, ratio {t_direct / t_via:.2f} (target >= 0.8)"
        )

    for order, first in ORDERS:
        growth = await peak_growth(hass.pid, via(300 * MB, first))
        print(f"(c) {order}: 300 MB upload, HA RSS growth {growth:.1f} MB (target < 32 MB)")

    ping = f"{hass.url}/api/"
    headers = {"Authorization": f"Bearer {hass.token}"}

    async def ping_once() -> float:
        start = time.perf_counter()
        async with session.get(ping, headers=headers) as response:
            await response.read()
        return time.perf_counter() - start

    idle_median = statistics.median([await ping_once() for _ in range(50)])

    async def wall(send: Any, first: bool) -> float:
        start = time.perf_counter()
        await asyncio.gather(*(send(50 * MB, first) for _ in range(8)))
        return time.perf_counter() - start

    for order, first in ORDERS:
        # Best of two each (one when quick), interleaved; the pings for (e) run in a third
        # round of their own, so they do not slow the gateway's timed rounds.
        walls = [
            (await wall(straight, first), await wall(via, first))
            for _ in range(max(1, big_runs - 1))
        ]
        wall_direct = min(d for d, _ in walls)
        wall_via = min(v for _, v in walls)
        loaded: list[float] = []
        uploads = [asyncio.create_task(via(50 * MB, first)) for _ in range(8)]
        while not all(u.done() for u in uploads):
            loaded.append(await ping_once())
            await asyncio.sleep(0.01)
        await asyncio.gather(*uploads)
        lag = sorted(x - idle_median for x in loaded)
        p99 = lag[int(len(lag) * 0.99) - 1] * 1000 if lag else 0.0
        print(
            f"(d) {order}: 8 x 50 MB wall gateway {wall_via:.2f} s, direct "
            f"{wall_direct:.2f} s, ratio {wall_via / wall_direct:.2f} (target <= 1.3)"
        )
        print(f"(e) {order}: during (d) HA event-loop lag p99 {p99:.1f} ms (target < 20 ms)")


async def peak_growth(pid: int, upload: Any) -> float:
    """MB the process at ``pid`` grew by at its peak while ``upload`` ran."""
    baseline = rss_kb(pid)
    peak = baseline
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_kb(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        await upload
    finally:
        stop.set()
        sampler.join()
    return (peak - baseline) / 1024


def main() -> int:
    """Run this benchmark under pytest with the chosen flags (they travel as environment)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--profile", action="store_true", help="CPU per request by stage")
    parser.add_argument("--method", choices=("own", "sdk", "both"), default="both")
    parser.add_argument("--keep-profiles", type=Path, help="a folder for the cProfile dumps")
    args = parser.parse_args()
    os.environ["BENCH_GATEWAY_METHOD"] = args.method
    if args.quick:
        os.environ["BENCH_QUICK"] = "1"
    with tempfile.TemporaryDirectory(prefix="bench-gateway-profile-") as scratch:
        folder = str((args.keep_profiles or Path(scratch)).resolve())
        if args.profile or args.keep_profiles:
            # Every child (HA, the relay, the simulator) loads profile_hook/sitecustomize.py.
            hook = str(Path(__file__).with_name("profile_hook"))
            os.environ["PYTHONPATH"] = os.pathsep.join(
                filter(None, (hook, os.environ.get("PYTHONPATH")))
            )
            os.environ["SPARK_BENCH_PROFILE_DIR"] = folder
        return pytest.main([__file__, "-s", "-q", "-p", "no:cacheprovider"])


if __name__ == "__main__":
    sys.exit(main())
