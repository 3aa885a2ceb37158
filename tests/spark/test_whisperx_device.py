"""WhisperX's client reads where the container runs: device, compute type, self-test, CUDA missing.

Against the simulated WhisperX, whose ``device`` knob answers as the real app does
(app_tests check the app itself); one bare aiohttp server stands in for a proxy's 503.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from custom_components.spark_audio.spark import (
    ServiceNotReadyError,
    SparkBackendFaultError,
    WhisperXClient,
)
from custom_components.spark_audio.spark.clients.probes import (
    ProbeResult,
    Verdict,
    deep_probe,
    names_cuda_fault,
)
from custom_components.spark_audio.spark.clients.whisperx import WhisperXDevice
from custom_components.spark_audio.whisperx_container.app.engine import CUDA_MISSING
from tests.spark_sim.server import SparkSim


def client_of(sim: SparkSim, session: aiohttp.ClientSession) -> WhisperXClient:
    return WhisperXClient(session, "127.0.0.1", sim.ports["whisperx"], timeout=5.0)


async def test_on_the_gpu(spark_sim: SparkSim, session: aiohttp.ClientSession) -> None:
    device = WhisperXDevice.of(await client_of(spark_sim, session).health())
    assert device == WhisperXDevice("cuda", "float16", "passed", None)
    assert (device.on_gpu, device.off_gpu) == (True, False)


async def test_on_the_cpu_is_ready_but_off_the_gpu(
    spark_sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    spark_sim.states["whisperx"].apply({"device": "cpu"})
    health = await client_of(spark_sim, session).health()
    assert health.ready
    device = WhisperXDevice.of(health)
    assert device == WhisperXDevice("cpu", "int8", "no_gpu", None)
    assert (device.on_gpu, device.off_gpu) == (False, True)


async def test_cuda_missing_is_not_ready_with_the_reason_and_no_fault(
    spark_sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """The 503's body is read as health: not ready, why, and no 5xx kept for the deep check."""
    spark_sim.states["whisperx"].apply({"device": "cuda_missing"})
    client = client_of(spark_sim, session)
    health = await client.health()
    assert not health.ready
    assert health.problem is not None
    assert health.problem.startswith(CUDA_MISSING)
    assert WhisperXDevice.of(health) == WhisperXDevice("cuda", None, "no_gpu", health.problem)
    with pytest.raises(ServiceNotReadyError) as err:
        await client.fetch_status()
    assert str(err.value) == health.problem
    assert err.value.health == health
    assert client.take_fault() is None
    # Nothing in the reason reads as a broken CUDA context (that would ask for a restart).
    assert not names_cuda_fault(health.problem)


async def test_cuda_missing_is_down_for_the_deep_check_never_wedged(
    spark_sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """Recovery restarts only a wedge: a container without its GPU is down, and left alone."""
    spark_sim.states["whisperx"].apply({"device": "cuda_missing"})
    probed: list[bool] = []

    async def probe() -> ProbeResult:
        probed.append(True)
        return ProbeResult(0.1, "heard")

    result = await deep_probe(client_of(spark_sim, session), probe)
    assert result.verdict is Verdict.DOWN
    assert result.reason is not None
    assert CUDA_MISSING in result.reason
    assert probed == []


@pytest.fixture
async def proxy_503(socket_enabled: None) -> AsyncIterator[TestServer]:
    """A 503 that is not WhisperX's health (a proxy in front of a stopped container)."""

    async def health(_: web.Request) -> web.Response:
        return web.Response(status=503, text="<html>Service Unavailable</html>")

    app = web.Application()
    app.router.add_get("/health", health)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_another_503_stays_a_backend_fault(
    proxy_503: TestServer, session: aiohttp.ClientSession
) -> None:
    client = WhisperXClient(session, "127.0.0.1", proxy_503.port or 0)
    with pytest.raises(SparkBackendFaultError) as err:
        await client.health()
    assert err.value.status == 503
