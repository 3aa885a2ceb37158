"""`deep_probe`'s verdicts, case by case, against a scripted client.

Faked, and why: the races that matter here (a job that starts between the
health look and the probe, a health that stops answering after a failed probe)
cannot be arranged deterministically against a live service, so the client's
answers are scripted; the integration tests run the same code on the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import aiohttp
import pytest

from custom_components.spark_audio.spark.clients.http import SparkServiceClient
from custom_components.spark_audio.spark.clients.probes import (
    ProbeResult,
    Verdict,
    deep_probe,
    names_cuda_fault,
)
from custom_components.spark_audio.spark.errors import (
    SparkBackendFaultError,
    SparkConnectionError,
    SparkError,
    SparkResponseError,
    SparkTimeoutError,
)
from custom_components.spark_audio.spark.models import ServiceHealth, ServiceStatus

IDLE = ServiceHealth(ready=True, busy=False, queue=0, self_test="passed")
SILENT = ServiceHealth(ready=True)  # a service that does not report its queue
BUSY = ServiceHealth(ready=True, busy=True, queue=0, self_test="passed")
BROKEN = ServiceHealth(
    ready=True, busy=True, queue=2, self_test="failed", self_test_error="CUDA error: launch failure"
)
CUBLAS_500 = SparkBackendFaultError(
    "POST /v1/audio/transcriptions -> 500: CUDA error: CUBLAS_STATUS_EXECUTION_FAILED", status=500
)
OOM_500 = SparkBackendFaultError(
    "POST /v1/audio/diarize -> 500: CUDA out of memory. Tried to allocate 9.54 GiB", status=500
)
PLAIN_500 = SparkBackendFaultError("POST /v1/audio/transcriptions -> 500: oops", status=500)
QUEUE_FULL = SparkResponseError("POST /v1/audio/transcriptions -> 429: GPU busy", status=429)
TIMEOUT = SparkTimeoutError("POST /v1/audio/transcriptions timed out after 60 s")
REFUSED = SparkConnectionError("GET /health failed: connection refused")


@dataclass
class Script:
    """What the service answers, in order: health looks, then the probe."""

    healths: list[ServiceHealth | SparkError]
    probe: ProbeResult | SparkError
    in_flight: int = 0
    fault: str | None = None
    probes: list[str] = field(default_factory=list)


class ScriptedClient(SparkServiceClient):
    """A client whose health answers come from a script (no network)."""

    def __init__(self, script: Script) -> None:
        super().__init__(cast(aiohttp.ClientSession, object()), "spark", 1)  # never used
        self.script = script
        self.work_in_flight = script.in_flight
        self.last_fault = script.fault

    async def status(self) -> ServiceStatus:
        answer = self.script.healths.pop(0)
        if isinstance(answer, SparkError):
            raise answer
        return ServiceStatus(answer)


@pytest.mark.parametrize(
    ("script", "verdict", "probed"),
    [
        (Script([IDLE], ProbeResult(0.1, "ok")), Verdict.OK, True),
        (Script([REFUSED], ProbeResult(0.1, "ok")), Verdict.DOWN, False),
        (Script([BUSY], ProbeResult(0.1, "ok")), Verdict.BUSY, False),
        (Script([SILENT], ProbeResult(0.1, "ok"), in_flight=1), Verdict.BUSY, False),
        (Script([BROKEN], ProbeResult(0.1, "ok")), Verdict.WEDGED, False),
        (Script([BUSY], ProbeResult(0.1, "ok"), fault=str(CUBLAS_500)), Verdict.WEDGED, False),
        (Script([BUSY], ProbeResult(0.1, "ok"), fault=str(OOM_500)), Verdict.BUSY, False),
        (Script([SILENT], QUEUE_FULL), Verdict.BUSY, True),
        # A job started between the health look and the probe: the timeout is busy.
        (Script([IDLE, BUSY], TIMEOUT), Verdict.BUSY, True),
        (Script([IDLE, IDLE], TIMEOUT), Verdict.WEDGED, True),
        # No queue reported: the probe may have waited behind another client's job.
        (Script([SILENT, SILENT], TIMEOUT), Verdict.BUSY, True),
        (Script([SILENT, SILENT], PLAIN_500), Verdict.WEDGED, True),
        (Script([IDLE, IDLE], PLAIN_500), Verdict.WEDGED, True),
        (Script([IDLE, BUSY], CUBLAS_500), Verdict.WEDGED, True),
        (Script([IDLE, BUSY], PLAIN_500), Verdict.BUSY, True),
        # Our container answers its CUDA fault, then exits: down, Docker restarts it.
        (Script([IDLE, REFUSED], CUBLAS_500), Verdict.DOWN, True),
        (Script([IDLE, BROKEN], PLAIN_500), Verdict.WEDGED, True),
    ],
)
async def test_verdicts(script: Script, verdict: Verdict, probed: bool) -> None:
    client = ScriptedClient(script)

    async def probe() -> ProbeResult:
        script.probes.append("sent")
        if isinstance(script.probe, SparkError):
            raise script.probe
        return script.probe

    result = await deep_probe(client, probe)
    assert result.verdict is verdict
    assert bool(script.probes) is probed
    assert script.healths == []  # every scripted health look was taken, no more
    assert client.last_fault is None  # the evidence is weighed once


def test_names_cuda_fault() -> None:
    assert names_cuda_fault(str(CUBLAS_500))
    assert names_cuda_fault("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR")
    assert names_cuda_fault("GPU fault, the service restarts: an illegal memory access")
    assert not names_cuda_fault(str(OOM_500))
    assert not names_cuda_fault("CUDA error: out of memory")
    assert not names_cuda_fault(str(PLAIN_500))
