"""The gateway's cost: latency, throughput, memory and event-loop lag, against going direct.

Runs a real ``hass`` process (the development configuration) and the simulated
Spark as another process, adds the Spark through the config flow over REST,
then measures, each as a ratio against the same request sent straight to the
simulated Parakeet in the same run:

(a) /audio/transcriptions p50 latency for a 1 MB upload (target <= 1.05x direct)
(b) throughput of a 200 MB upload (target >= 0.8x direct)
(c) peak RSS growth of the HA process while it proxies a 500 MB upload (target < 32 MB)
(e) HA event-loop lag p99 while 8 transcriptions of 50 MB run at once (target < 20 ms),
    estimated from an HA endpoint's response time under load minus its idle median.

Uploads are generated on the fly (a WAV header, then silence), never held in memory.

Run: .venv/bin/python -m pytest benchmarks/bench_gateway.py -s -q -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import statistics
import struct
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

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


def form(size: int) -> aiohttp.MultipartWriter:
    writer = aiohttp.MultipartWriter("form-data")
    writer.append("parakeet-tdt-0.6b-v3").set_content_disposition("form-data", name="model")
    part = writer.append(wav_body(size), {"Content-Type": "audio/wav"})
    part.set_content_disposition("form-data", name="file", filename="bench.wav")
    return writer


async def post(session: aiohttp.ClientSession, url: str, size: int, token: str | None) -> float:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    start = time.perf_counter()
    async with session.post(url, data=form(size), headers=headers) as response:
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
            "whisperx_enabled": False,
            "whisperx_port": sim.ports["whisperx"],
            "ssh": {"ssh_port": 22},
        },
    )
    assert result["type"] == "create_entry", result


def test_gateway_overhead(hass_server: HassServer, sim_process: SimulatedSpark) -> None:  # noqa: F811
    add_spark(hass_server, sim_process)
    asyncio.run(measure(hass_server, sim_process))


async def measure(hass: HassServer, sim: SimulatedSpark) -> None:
    gateway = f"{hass.url}/api/spark_audio/v1/audio/transcriptions"
    direct = f"http://{sim.host}:{sim.ports['parakeet']}/v1/audio/transcriptions"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:

        async def set_rtf(rtf: float) -> None:
            async with session.post(
                f"http://{sim.host}:{sim.ports['parakeet']}/_sim/control", json={"rtf": rtf}
            ) as r:
                assert r.status == 200

        # (a) 1 MB latency, interleaved so drift hits both alike: first with the simulated
        # Parakeet at its realistic speed (RTF 0.02: 1 MB is 33 s of audio), then instant,
        # which leaves nothing but transport and shows the gateway's own cost.
        print()
        for label, rtf in (("realistic backend (RTF 0.02)", 0.02), ("instant backend", 0.0)):
            await set_rtf(rtf)
            via, straight = [], []
            for _ in range(3):
                await post(session, gateway, MB, hass.token)
                await post(session, direct, MB, None)
            for _ in range(15):
                via.append(await post(session, gateway, MB, hass.token))
                straight.append(await post(session, direct, MB, None))
            a_via, a_direct = statistics.median(via) * 1000, statistics.median(straight) * 1000
            print(
                f"(a) 1 MB p50, {label}: gateway {a_via:.1f} ms, direct {a_direct:.1f} ms, "
                f"ratio {a_via / a_direct:.3f} (target <= 1.05), +{a_via - a_direct:.1f} ms"
            )

        # (b) 200 MB throughput.
        size = 200 * MB
        t_via = await post(session, gateway, size, hass.token)
        t_direct = await post(session, direct, size, None)
        print(
            f"(b) 200 MB: gateway {size / MB / t_via:.0f} MB/s, direct "
            f"{size / MB / t_direct:.0f} MB/s, ratio {t_direct / t_via:.3f} (target >= 0.8)"
        )

        # (c) RSS of the HA process while it proxies 500 MB.
        baseline = rss_kb(hass.pid)
        peak = baseline
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, rss_kb(hass.pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            await post(session, gateway, 500 * MB, hass.token)
        finally:
            stop.set()
            sampler.join()
        print(
            f"(c) 500 MB upload: HA RSS {baseline / 1024:.0f} MB -> peak {peak / 1024:.0f} MB, "
            f"growth {(peak - baseline) / 1024:.1f} MB (target < 32 MB)"
        )

        # (e) Event-loop lag under 8 concurrent 50 MB transcriptions.
        ping = f"{hass.url}/api/"
        headers = {"Authorization": f"Bearer {hass.token}"}

        async def ping_once() -> float:
            start = time.perf_counter()
            async with session.get(ping, headers=headers) as response:
                await response.read()
            return time.perf_counter() - start

        idle = [await ping_once() for _ in range(50)]
        idle_median = statistics.median(idle)
        loaded: list[float] = []
        uploads = [
            asyncio.create_task(post(session, gateway, 50 * MB, hass.token)) for _ in range(8)
        ]
        while not all(u.done() for u in uploads):
            loaded.append(await ping_once())
            await asyncio.sleep(0.01)
        await asyncio.gather(*uploads)
        lag = sorted(x - idle_median for x in loaded)
        p99 = lag[int(len(lag) * 0.99) - 1] * 1000 if lag else 0.0
        print(
            f"(e) 8 x 50 MB: {len(loaded)} pings, idle median {idle_median * 1000:.1f} ms, "
            f"lag p99 {p99:.1f} ms (target < 20 ms)"
        )
