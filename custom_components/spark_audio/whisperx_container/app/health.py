"""``GET /health``: models, GPU check, queue; open without a key (Docker's probe uses it)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request

from .engine import is_cuda_fault
from .service import FAULT_EXIT_CODE, service_of

_LOGGER = logging.getLogger("whisperx_app")
GPU_CHECK_TIMEOUT_S = 10.0
router = APIRouter()


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """Readiness; a CUDA fault in the GPU check exits for a restart."""
    svc = service_of(request)
    eng = svc.engine
    gpu_ok = svc.last_gpu_ok
    if not svc.faulted and not svc.gate.busy:
        try:
            gpu_ok = await asyncio.wait_for(
                asyncio.to_thread(eng.gpu_check), timeout=GPU_CHECK_TIMEOUT_S
            )
        except Exception as err:
            gpu_ok = False
            if is_cuda_fault(err) and not svc.faulted:
                svc.faulted = True
                _LOGGER.critical("CUDA fault in the GPU check, exiting: %s", err)
                asyncio.get_running_loop().call_later(0.1, svc.exit_fn, FAULT_EXIT_CODE)
        svc.last_gpu_ok = gpu_ok
    return {
        "status": "error" if svc.faulted else "ok",
        "whisper_loaded": eng.whisper_loaded,
        "diarizer_loaded": eng.diarizer_loaded,
        "diarizer_off_reason": eng.diarizer_off_reason,
        "model": eng.model,
        "device": eng.device,
        "gpu_ok": bool(gpu_ok),
        "version": svc.version,
        "busy": svc.gate.busy,
        "queue": svc.gate.waiting,
        "auth": svc.settings.api_key is not None,
    }
