"""FastAPI app: health, diarized transcription and OpenAI-style transcription.

Run with ``uvicorn app.main:app``. One GPU job at a time with a bounded queue
(a full queue is refused from the headers, before the upload is read); every
path but /health needs the API key when one is configured.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import embeddings, health, routes
from .admission import AdmissionMiddleware
from .auth import BearerAuthMiddleware
from .config import ConfigError, Settings, read_version
from .engine import Engine
from .gate import GpuGate
from .service import ExitFn, Service, build_engine, hard_exit

_LOGGER = logging.getLogger("whisperx_app")


def create_app(
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    exit_fn: ExitFn = hard_exit,
) -> FastAPI:
    """The app; tests inject an engine, settings and an exit function."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            config = settings or Settings.from_env()
        except ConfigError as err:
            _LOGGER.critical("Invalid configuration: %s", err)
            raise
        chosen = engine or build_engine(config)
        _LOGGER.info("Loading models (engine=%s, model=%s)", config.engine, config.model)
        await asyncio.to_thread(chosen.load)
        gpu_ok = await asyncio.to_thread(chosen.gpu_check)
        if config.api_key is None:
            _LOGGER.warning("No API key configured: every client on the network may submit jobs")
        if (problem := chosen.device_error) is not None:
            _LOGGER.critical("Not serving: %s (/health and every job answer 503)", problem)
        else:
            _LOGGER.info(
                "Ready (device=%s, compute_type=%s, gpu_ok=%s)",
                chosen.device,
                chosen.compute_type,
                gpu_ok,
            )
        app.state.service = Service(
            settings=config,
            engine=chosen,
            gate=GpuGate(config.max_queue),
            version=read_version(),
            exit_fn=exit_fn,
            last_gpu_ok=gpu_ok,
        )
        yield

    app = FastAPI(title="WhisperX speech service", version=read_version(), lifespan=lifespan)
    app.include_router(health.router)
    app.include_router(routes.router)
    app.include_router(embeddings.router)
    # The last added runs first: the key is checked before the queue is.
    app.add_middleware(AdmissionMiddleware)
    app.add_middleware(BearerAuthMiddleware)
    return app


app = create_app()
