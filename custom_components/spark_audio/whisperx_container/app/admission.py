"""Queue-full 429 from the headers alone: a refused upload is never read or stored."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

SPEAKERS_PATH = "/v1/audio/transcribe-with-speakers"
TRANSCRIBE_PATH = "/v1/audio/transcriptions"
EMBEDDINGS_PATH = "/v1/audio/embeddings"
JOB_PATHS = frozenset({SPEAKERS_PATH, TRANSCRIBE_PATH, EMBEDDINGS_PATH})
BUSY_DETAIL = "GPU busy: too many jobs waiting, retry later"


def queue_full_response(retry_after_s: int) -> JSONResponse:
    """The 429 a full queue answers, with ``Retry-After``."""
    return JSONResponse(
        {"detail": BUSY_DETAIL}, status_code=429, headers={"Retry-After": str(retry_after_s)}
    )


class AdmissionMiddleware:
    """Refuses a job when the GPU queue is full, before its body is received."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap `app`; the gate is read from the started service."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """429 for a job that could not even queue; everything else passes."""
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in JOB_PATHS:
            service = getattr(scope["app"].state, "service", None)
            if service is not None and service.gate.full:
                await queue_full_response(service.settings.retry_after_s)(scope, receive, send)
                return
        await self.app(scope, receive, send)
