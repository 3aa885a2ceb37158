"""The real engine runs a background job in units (batches of VAD chunks), a command between.

The test's speech on a 100 s track makes three merged VAD chunks
(`test_progress`); with a batch size of 1 each is a unit. The engine offers the
GPU before each unit (the first time after decoding and its VAD pass); at the
offer between units 1 and 2 the test starts a voice command and waits (an
event, not a timing) until it queues. The engine must then hand the GPU over:
whisperX's calls, recorded in order, show the command's audio between the
first and the second unit. The units' transcript is the one the whole
recording gives.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

import app.whisperx_engine
from app.decoder import SAMPLE_RATE

from .test_engine import HEARD, engine_of, post, wav_seconds
from .test_progress import STARTS_S, TOTAL_S, placed

VERBOSE = {"response_format": "verbose_json", "language": "en"}


@pytest.fixture(scope="module")
def long_speech(speech: bytes) -> bytes:
    """100 s: speech in three VAD chunks, then silence."""
    return placed(speech, STARTS_S, TOTAL_S)


def test_background_job_runs_in_units_with_a_command_between(
    client: TestClient, long_speech: bytes, speech: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_of(client)
    monkeypatch.setattr(engine, "_batch_size", 1)
    whole = post(client, long_speech, **VERBOSE)
    assert whole.status_code == 200, whole.text
    gate = client.app.state.service.gate  # type: ignore[attr-defined]
    pipeline: Any = engine._whisper
    calls: list[float] = []
    transcribe = pipeline.transcribe

    @functools.wraps(transcribe)  # keeps its signature: the engine looks for progress_callback
    def recorded(audio: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(audio) / SAMPLE_RATE)
        return transcribe(audio, *args, **kwargs)

    monkeypatch.setattr(pipeline, "transcribe", recorded)
    answers: list[Any] = []
    command = threading.Thread(target=lambda: answers.append(post(client, speech)))
    boundaries: list[int] = []
    real_between = app.whisperx_engine.between_units

    def boundary() -> None:
        boundaries.append(len(calls))
        if len(boundaries) == 2:  # the first comes before unit 1 (after the VAD pass)
            command.start()
            deadline = time.monotonic() + 60
            while not gate.interactive_waiting:
                assert time.monotonic() < deadline, "the command never queued"
                time.sleep(0.01)
        real_between()

    monkeypatch.setattr(app.whisperx_engine, "between_units", boundary)
    job = post(client, long_speech, priority="background", **VERBOSE)
    command.join(120)
    assert job.status_code == 200, job.text
    assert answers[0].status_code == 200
    assert answers[0].json() == {"text": HEARD}
    assert len(calls) == 4
    assert calls[1] == pytest.approx(wav_seconds(speech), abs=0.01)  # the command, after unit 1
    assert boundaries == [0, 1, 3]  # before each unit; the command ran after the second
    assert sum(calls) - calls[1] == pytest.approx(TOTAL_S, abs=0.01)  # units cover the track
    units, together = job.json()["segments"], whole.json()["segments"]
    assert [s["text"] for s in units] == [s["text"] for s in together] == [HEARD] * 3
    for unit, one in zip(units, together, strict=True):
        assert unit["start"] == pytest.approx(one["start"], abs=0.2)
        assert unit["end"] == pytest.approx(one["end"], abs=0.2)
