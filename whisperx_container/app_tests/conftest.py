"""Fixtures: WAV files, a stub engine and a TestClient around the app."""

from __future__ import annotations

import io
import sys
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The image's build context, whose app/ these tests import as the image does ("app").
ROOT = Path(__file__).resolve().parents[2] / "custom_components/spark_audio/whisperx_container"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from app.config import Settings  # noqa: E402
from app.main import create_app  # noqa: E402
from app.stub_engine import StubEngine  # noqa: E402


def wav_bytes(seconds: float, rate: int = 16_000) -> bytes:
    """Silent 16-bit mono WAV of `seconds`."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\0\0" * int(seconds * rate))
    return buf.getvalue()


class Exits:
    """Records exit codes instead of leaving."""

    def __init__(self) -> None:
        self.codes: list[int] = []

    def __call__(self, code: int) -> None:
        self.codes.append(code)


@pytest.fixture
def exits() -> Exits:
    """The injected exit function."""
    return Exits()


@pytest.fixture
def engine() -> StubEngine:
    """A stub engine with diarization on."""
    return StubEngine("medium", hf_token="hf_test")


@pytest.fixture
def make_client(
    exits: Exits,
) -> Iterator[Callable[..., TestClient]]:
    """Build a started TestClient for an engine and settings."""
    clients: list[TestClient] = []

    def make(engine: StubEngine, **settings: object) -> TestClient:
        config = Settings(engine="stub", hf_token=engine._hf_token, **settings)  # type: ignore[arg-type]
        client = TestClient(create_app(engine=engine, settings=config, exit_fn=exits))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient], engine: StubEngine) -> TestClient:
    """A started client around the default stub engine."""
    return make_client(engine)


@pytest.fixture(autouse=True)
def verify_cleanup() -> None:
    """Replace Home Assistant's leak check: these tests run no Home Assistant.

    The HA test plugin is installed in the same venv and fails any test that
    leaves a thread behind; AnyIO's worker threads (Starlette's TestClient)
    idle for seconds after a request by design.
    """
