"""The real engine cuts a background job into batches of VAD chunks and lets a command in between.

``WhisperXEngine`` runs here with whisperX replaced by a recording fake (the ML
stack is not in this venv; the engine lane runs the real one): what is checked
is the engine's own cutting, time shifting and hand-over, in the order the
fake pipeline was called, steered by an event, not by timing.
"""

from __future__ import annotations

import importlib
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

import app.whisperx_engine
from app.decoder import SAMPLE_RATE
from app.units import shifted, unit_spans
from app.whisperx_engine import WhisperXEngine

from .conftest import wav_bytes

TRANSCRIBE = "/v1/audio/transcriptions"
# What the fake VAD finds in the 40 s recording: five stretches of speech.
CHUNKS = [(1.0, 5.0), (7.0, 12.0), (15.0, 20.0), (22.0, 30.0), (32.0, 38.0)]


class Vad:
    """whisperX's VAD base class (``whisperx.vads.Vad``): finds CHUNKS, merges nothing."""

    @staticmethod
    def preprocess_audio(audio: Any) -> Any:
        return audio

    @staticmethod
    def merge_chunks(segments: Any, chunk_size: int, onset: float, offset: float) -> Any:
        return [{"start": start, "end": end} for start, end in segments]

    def __call__(self, data: dict[str, Any]) -> list[tuple[float, float]]:
        return CHUNKS


class Pipeline:
    """The batched pipeline: records each call's audio length and language; can hold a call."""

    options = SimpleNamespace()

    def __init__(self) -> None:
        self._vad_params = {"vad_onset": 0.5, "vad_offset": 0.363}
        self.vad_model = Vad()
        self.calls: list[tuple[float, str | None]] = []
        self.hold: threading.Event | None = None
        self.holding = threading.Event()

    def transcribe(self, audio: Any, batch_size: int, language: str | None) -> dict[str, Any]:
        self.calls.append((round(len(audio) / SAMPLE_RATE, 3), language))
        if self.hold is not None and len(self.calls) == 1:
            self.holding.set()
            self.hold.wait(10)
        return {
            "language": language or "de",
            "segments": [{"start": 0.5, "end": 2.0, "text": f"call {len(self.calls)}"}],
        }


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Pipeline:
    """The fake pipeline, reached through the engine's module loader."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fake = Pipeline()
    modules = {
        "torch": SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: False)),
        "whisperx": SimpleNamespace(load_model=lambda *_, **__: fake),
        "whisperx.vads": SimpleNamespace(Vad=Vad, Pyannote=Vad),
    }

    def module(name: str) -> Any:
        return modules[name] if name in modules else importlib.import_module(name)

    monkeypatch.setattr(app.whisperx_engine, "_module", module)
    return fake


def _post(client: TestClient, seconds: float, data: dict[str, str]) -> Any:
    files = {"file": ("a.wav", wav_bytes(seconds), "audio/wav")}
    return client.post(TRANSCRIBE, files=files, data=data | {"response_format": "verbose_json"})


def test_background_job_runs_in_units_with_a_command_between(
    pipeline: Pipeline, make_client: Callable[..., TestClient]
) -> None:
    """Batch size 2: five chunks make three units, cut in the gaps; the command runs after the
    first unit; the later units keep the language the first detected; times are the recording's."""
    engine = WhisperXEngine("tiny", None, env={"WHISPERX_BATCH_SIZE": "2"}, device="cpu")
    client = make_client(engine, device="cpu")
    gate = client.app.state.service.gate  # type: ignore[attr-defined]
    pipeline.hold = threading.Event()
    answers: dict[str, Any] = {}
    job = threading.Thread(
        target=lambda: answers.update(job=_post(client, 40.0, {"priority": "background"}))
    )
    job.start()
    try:
        assert pipeline.holding.wait(10)
        command = threading.Thread(target=lambda: answers.update(command=_post(client, 4.0, {})))
        command.start()
        deadline = time.monotonic() + 10
        while not gate.interactive_waiting:
            assert time.monotonic() < deadline, "the command never queued"
            time.sleep(0.01)
    finally:
        pipeline.hold.set()
    job.join(10)
    command.join(10)
    assert pipeline.calls == [(13.5, None), (4.0, None), (17.5, "de"), (9.0, "de")]
    body = answers["job"].json()
    assert [(s["start"], s["text"]) for s in body["segments"]] == [
        (0.5, "call 1"),
        (14.0, "call 3"),
        (31.5, "call 4"),
    ]
    assert body["language"] == "de"
    assert answers["command"].json()["text"] == "call 2"


def test_interactive_request_is_one_call(
    pipeline: Pipeline, make_client: Callable[..., TestClient]
) -> None:
    engine = WhisperXEngine("tiny", None, env={"WHISPERX_BATCH_SIZE": "2"}, device="cpu")
    client = make_client(engine, device="cpu")
    assert _post(client, 40.0, {}).status_code == 200
    assert pipeline.calls == [(40.0, None)]


def test_unit_spans() -> None:
    assert unit_spans(CHUNKS, 2, 40.0) == [(0.0, 13.5), (13.5, 31.0), (31.0, 40.0)]
    assert unit_spans(CHUNKS, 16, 40.0) == [(0.0, 40.0)]
    assert unit_spans([], 2, 9.0) == [(0.0, 9.0)]
    assert unit_spans(None, 2, 9.0) == [(0.0, 9.0)]
    with pytest.raises(ValueError, match="at least one"):
        unit_spans(CHUNKS, 0, 40.0)


def test_shifted_moves_segment_and_words() -> None:
    segment = {
        "start": 1.0,
        "end": 2.5,
        "text": "hi there",
        "words": [{"word": "hi", "start": 1.0, "end": 1.4}, {"word": "there"}],
    }
    assert shifted(segment, 10.0) == {
        "start": 11.0,
        "end": 12.5,
        "text": "hi there",
        "words": [{"word": "hi", "start": 11.0, "end": 11.4}, {"word": "there"}],
    }
    assert segment["start"] == 1.0  # the unit's own dict is left as it was
