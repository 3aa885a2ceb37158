"""``GET /health``: models, device, GPU self-test, queue; open without a key (Docker's probe).

Where CUDA is expected and missing the answer is 503 with the reason (``detail``
and ``device_error``), so Docker, Home Assistant and anyone with curl see a
service that cannot run on its GPU instead of one that quietly runs on the CPU.

The self-test runs on every call, beside whatever job holds the GPU, never
through the job queue: clients (Home Assistant's deep checks) read ``busy`` and
``queue`` to see work, and ``self_test`` to tell a busy GPU from a broken one
without queueing an inference behind an hour of work.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .engine import is_cuda_fault
from .service import FAULT_EXIT_CODE, Service, service_of

_LOGGER = logging.getLogger("whisperx_app")
GPU_CHECK_TIMEOUT_S = 10.0
PASSED, FAILED, NO_GPU = "passed", "failed", "no_gpu"
router = APIRouter()


@dataclass(slots=True)
class SelfTest:
    """The latest GPU self-test and the one running now (at most one at a time)."""

    result: str | None = None
    error: str | None = None
    running: asyncio.Future[bool | None] | None = None

    def record(self, outcome: bool | None) -> None:
        """Keep a finished test's answer."""
        if outcome is None:
            self.result, self.error = NO_GPU, None
        elif outcome:
            self.result, self.error = PASSED, None
        else:
            self.result, self.error = FAILED, "the GPU computed a wrong answer"

    async def run(self, svc: Service) -> None:
        """Run the test (or join the one running), in its own thread, bounded in time.

        A test that outlasts the timeout while a job runs keeps the last result (a
        GPU under load may be slow); while idle it has failed. A CUDA fault ends
        the process for a restart, as a job's does.
        """
        if self.running is None or self.running.done():
            self.running = asyncio.ensure_future(asyncio.to_thread(svc.engine.gpu_check))
        try:
            outcome = await asyncio.wait_for(asyncio.shield(self.running), GPU_CHECK_TIMEOUT_S)
        except TimeoutError:
            if not svc.gate.busy:
                self.result = FAILED
                self.error = f"the GPU self-test did not finish within {GPU_CHECK_TIMEOUT_S:g} s"
            return
        except Exception as err:
            self.result, self.error = FAILED, f"{type(err).__name__}: {err}"
            if is_cuda_fault(err) and not svc.faulted:
                svc.faulted = True
                _LOGGER.critical("CUDA fault in the GPU self-test, exiting: %s", err)
                asyncio.get_running_loop().call_later(0.1, svc.exit_fn, FAULT_EXIT_CODE)
            return
        self.record(outcome)


def self_test_of(request: Request, svc: Service) -> SelfTest:
    """The app's self-test state, seeded with the check the startup ran."""
    test: SelfTest | None = getattr(request.app.state, "self_test", None)
    if test is None:
        test = SelfTest()
        test.record(svc.last_gpu_ok)
        request.app.state.self_test = test
    return test


@router.get("/health", response_model=None)
async def health(request: Request) -> dict[str, Any] | JSONResponse:
    """Readiness, device, the self-test's verdict and the queue; 503 without the expected GPU.

    A CUDA fault exits for a restart.
    """
    svc = service_of(request)
    eng = svc.engine
    test = self_test_of(request, svc)
    if not svc.faulted:
        await test.run(svc)
        svc.last_gpu_ok = test.result == PASSED
    body = _body(svc, test)
    if (problem := eng.device_error) is not None:
        return JSONResponse({**body, "detail": problem}, status_code=503)
    return body


def _body(svc: Service, test: SelfTest) -> dict[str, Any]:
    """The same fields whatever the status code, so clients read one shape."""
    eng = svc.engine
    problem = eng.device_error
    return {
        "status": "error" if svc.faulted or problem else "ok",
        "whisper_loaded": eng.whisper_loaded,
        "diarizer_loaded": eng.diarizer_loaded,
        "diarizer_off_reason": eng.diarizer_off_reason,
        "model": eng.model,
        "device": eng.device,
        "compute_type": eng.compute_type,
        "device_error": problem,
        "gpu_ok": test.result == PASSED and not svc.faulted,
        "self_test": FAILED if svc.faulted else test.result,
        "self_test_error": test.error or ("a CUDA fault: restarting" if svc.faulted else None),
        "version": svc.version,
        "busy": svc.gate.busy,
        "queue": svc.gate.waiting,
        "auth": svc.settings.api_key is not None,
    }
