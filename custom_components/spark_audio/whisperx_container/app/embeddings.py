"""``POST /v1/audio/embeddings``: a clip's voice embedding, for naming enrolled speakers.

The vector comes from the diarization pipeline's own embedding model (no other
download), so the endpoint needs the diarizer: without it, 503 with the reason.
Same auth, queue, upload limits and error shapes as the job endpoints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from .admission import EMBEDDINGS_PATH
from .engine import DiarizationUnavailable
from .service import Service, guarded, run_job, service_of

router = APIRouter()


@router.post(EMBEDDINGS_PATH, response_model=None)
async def clip_embedding(
    request: Request, file: Annotated[UploadFile | None, File()] = None
) -> Response:
    """``{"embedding": [...], "dim": N, "duration": seconds}`` for the uploaded clip."""
    svc = service_of(request)

    def validate() -> None:
        if not svc.engine.diarizer_loaded:
            raise DiarizationUnavailable(svc.engine.diarizer_off_reason or "not loaded")

    async def work(svc: Service, path: Path) -> Response:
        found = await run_job(svc, lambda: svc.engine.embedding(str(path)))
        return JSONResponse(
            {
                "embedding": list(found.vector),
                "dim": len(found.vector),
                "duration": round(found.duration, 3),
            }
        )

    return await guarded(svc, file, validate, work)
