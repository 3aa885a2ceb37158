"""The vocabulary prompt reaches the engine intact (Home Assistant's Assist vocabulary).

The integration sends the names of the entities, areas and floors exposed to
Assist as OpenAI's ``prompt``; faster-whisper gets it as ``initial_prompt``.
The stub engine records what it was handed.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.stub_engine import StubEngine

from .conftest import Exits, wav_bytes

TRANSCRIBE = "/v1/audio/transcriptions"
# A home's words as the integration joins them: non-ASCII, apostrophes, commas, ~500 bytes.
PROMPT = ", ".join(
    ["Temperaturfühler Keller", "Deckenlampe Flur", "Küchenlicht", "Hue Go", "Leselampe"] * 10
    + ["Bartholomew's room", "Кухня", "リビング", "Erdgeschoss"]
)


def _multipart_chunks(fields: dict[str, str], wav: bytes, boundary: str) -> Iterator[bytes]:
    """Text fields first, then the WAV in 320-byte pieces: the integration's chunked upload."""
    for name, value in fields.items():
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    yield (
        f"--{boundary}\r\nContent-Disposition: form-data; "
        'name="file"; filename="audio.wav"\r\nContent-Type: audio/wav\r\n\r\n'
    ).encode()
    for i in range(0, len(wav), 320):
        yield wav[i : i + 320]
    yield f"\r\n--{boundary}--\r\n".encode()


def test_streamed_prompt_reaches_engine_verbatim(client: TestClient, engine: StubEngine) -> None:
    """A chunked upload carrying a long multilingual prompt hands the engine that exact text."""
    boundary = "vocabularyboundary"
    resp = client.post(
        TRANSCRIBE,
        content=_multipart_chunks(
            {"response_format": "verbose_json", "language": "de", "prompt": PROMPT},
            wav_bytes(2.0),
            boundary,
        ),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert resp.status_code == 200, resp.text
    assert engine.last_options["prompt"] == PROMPT
    assert engine.last_options["language"] == "de"


def test_no_prompt_means_none_not_empty(client: TestClient, engine: StubEngine) -> None:
    """Without a prompt (vocabulary off, Parakeet-style clients) the engine gets None."""
    resp = client.post(
        TRANSCRIBE,
        files={"file": ("a.wav", wav_bytes(1.0), "audio/wav")},
        data={"prompt": ""},
    )
    assert resp.status_code == 200
    assert engine.last_options["prompt"] is None


def test_integration_client_prompt_reaches_engine(
    request: pytest.FixtureRequest, engine: StubEngine, exits: Exits
) -> None:
    """The integration's own WhisperX client, streaming over real HTTP, delivers the prompt.

    Needs the integration's dependencies (Home Assistant's venv) and a real
    loopback socket; skipped where only the container's requirements exist.
    """
    pytest.importorskip("homeassistant")
    uvicorn = pytest.importorskip("uvicorn")
    request.getfixturevalue("socket_enabled")  # HA's test plugin blocks sockets otherwise
    from custom_components.spark_audio.spark.clients.whisperx import WhisperXClient
    from custom_components.spark_audio.spark.wav import wav_stream

    app = create_app(engine=engine, settings=Settings(engine="stub"), exit_fn=exits)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        started = threading.Event()
        for _ in range(200):  # wait for startup without a fixed sleep deciding the outcome
            if server.started:
                started.set()
                break
            started.wait(0.05)
        assert server.started
        text = asyncio.run(_transcribe(port, WhisperXClient, wav_stream))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert text  # the stub's text came back through the client
    assert (engine.last_options["language"], engine.last_options["prompt"]) == ("de", PROMPT)


async def _transcribe(port: int, client_cls: Any, wav_stream: Any) -> str:
    """Stream 2 s of PCM in Assist's 10 ms chunks, as the STT entity does."""
    import aiohttp

    pcm = wav_bytes(2.0)[44:]

    async def microphone() -> Any:
        for i in range(0, len(pcm), 320):
            yield pcm[i : i + 320]

    from custom_components.spark_audio.spark.clients.transcription import TranscriptionOptions

    async with aiohttp.ClientSession() as session:
        client = client_cls(session, "127.0.0.1", port)
        result = await client.transcribe(
            wav_stream(microphone(), 16000), TranscriptionOptions(language="de", prompt=PROMPT)
        )
    return str(result.text)
