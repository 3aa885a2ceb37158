"""Simulated speaker embeddings: what the WhisperX diarizer's embedding model would say.

No embedding model runs here, so tests decide who sounds like whom:
``clip_embedding`` is the vector ``/v1/audio/embeddings`` answers for the next
clips, ``speaker_embeddings`` the vector per detected speaker label on the
speakers endpoint. Without them a vector is derived from the audio's digest,
so different recordings are different, unknown voices. ``diarizer`` false is a
container whose diarization pipeline did not load: both endpoints answer 503.
"""

from __future__ import annotations

import hashlib
import math
import random

from aiohttp import web

from .faults import STATE_KEY, ServiceState
from .forms import missing_field, read_form
from .transcript import decode_upload

EMBEDDING_DIM = 256
"""pyannote community-1's WeSpeaker ResNet34 embeddings have 256 dimensions."""
EMBEDDINGS_PATH = "/v1/audio/embeddings"
NO_DIARIZER = {"detail": "diarization pipeline not loaded (no Hugging Face token?)"}


def derived_embedding(*parts: bytes) -> list[float]:
    """A fixed pseudo-random unit vector per input: the same audio, the same voice."""
    seed = hashlib.sha256(b"\0".join(parts)).digest()
    rng = random.Random(seed)
    vector = [rng.gauss(0.0, 1.0) for _ in range(EMBEDDING_DIM)]
    norm = math.sqrt(sum(v * v for v in vector))
    return [round(v / norm, 6) for v in vector]


def speaker_embeddings(
    state: ServiceState, pcm: bytes, labels: list[str]
) -> dict[str, list[float]]:
    """One embedding per detected speaker: the test's vector, else derived from audio + label."""
    return {
        label: list(state.speaker_embeddings.get(label) or derived_embedding(pcm, label.encode()))
        for label in labels
    }


async def embeddings(request: web.Request) -> web.Response:
    """POST /v1/audio/embeddings: the speaker embedding of one clip."""
    state = request.app[STATE_KEY]
    form = await read_form(request)
    if not state.diarizer:
        return web.json_response(NO_DIARIZER, status=503)
    if form.file is None:
        return missing_field("file")
    info = decode_upload(form.file.data)
    if isinstance(info, web.Response):
        return info
    vector = state.clip_embedding or derived_embedding(info.pcm)
    return web.json_response(
        {"embedding": list(vector), "dim": len(vector), "duration": round(info.duration, 3)}
    )
