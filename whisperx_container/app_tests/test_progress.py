"""Job progress: ``X-Job-Id`` on a transcription request, polled at ``GET /v1/jobs/{id}``."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.progress import JobRegistry, current_job, report
from app.stub_engine import StubEngine

from .conftest import wav_bytes

SPEAKERS = "/v1/audio/transcribe-with-speakers"


def _post(client: TestClient, job_id: str, results: list[Any]) -> threading.Thread:
    def send() -> None:
        response = client.post(
            SPEAKERS,
            files={"file": ("a.wav", wav_bytes(30.0), "audio/wav")},
            headers={"X-Job-Id": job_id},
        )
        results.append(response)

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def test_a_running_job_reports_its_phase_then_done(make_client: Any) -> None:
    """Held inside the engine: the poll says which phase; released: done at 100 %."""
    hold = threading.Event()
    engine = StubEngine(hf_token="x", hold=hold)
    client = make_client(engine)
    results: list[Any] = []
    thread = _post(client, "meeting-1", results)
    try:
        assert engine.started.wait(10)
        polled = client.get("/v1/jobs/meeting-1").json()
        assert polled["phase"] == "loading_audio"
        assert polled["percent"] < 100
    finally:
        hold.set()
        thread.join(30)
    assert results[0].status_code == 200
    assert client.get("/v1/jobs/meeting-1").json() == {
        "job_id": "meeting-1",
        "phase": "done",
        "phase_percent": 100,
        "percent": 100,
    }
    assert client.get("/v1/jobs/unknown").status_code == 404


def test_a_bad_job_id_is_refused(client: TestClient) -> None:
    response = client.post(
        SPEAKERS,
        files={"file": ("a.wav", wav_bytes(1.0), "audio/wav")},
        headers={"X-Job-Id": "../../etc"},
    )
    assert response.status_code == 400
    assert "X-Job-Id" in response.json()["detail"]


def test_the_stub_engine_reports_every_phase_in_order(tmp_path: Any) -> None:
    """Transcribing rises in ten steps; the overall percent never goes back."""
    registry = JobRegistry()
    state = registry.start("j")
    seen: list[tuple[str, float]] = []
    original = registry.update

    def spy(job: Any, phase: str, phase_percent: float | None) -> None:
        original(job, phase, phase_percent)
        seen.append((phase, job.percent))

    registry.update = spy  # type: ignore[method-assign]
    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes(60.0))
    engine = StubEngine(hf_token="x")
    engine.load()
    token = current_job.set((registry, state))
    try:
        engine.transcribe(str(path), None, words=True)
        engine.diarize(str(path))
    finally:
        current_job.reset(token)
    phases = [phase for phase, _ in seen]
    assert phases[0] == "loading_audio"
    assert phases.count("transcribing") == 10
    assert phases.index("aligning") > phases.index("transcribing")
    assert phases[-1] == "diarizing"
    percents = [percent for _, percent in seen]
    assert percents == sorted(percents)
    assert percents[-1] == pytest.approx(99)


def test_report_outside_a_job_does_nothing() -> None:
    report("transcribing", 50)  # no job in this context: nothing to update, no error
    assert current_job.get() is None


def test_a_cancelled_job_stops_at_its_next_report(make_client: Any) -> None:
    """DELETE while held: the engine stops before diarizing; the request answers 409."""
    hold = threading.Event()
    engine = StubEngine(hf_token="x", hold=hold)
    client = make_client(engine)
    results: list[Any] = []
    thread = _post(client, "meeting-2", results)
    try:
        assert engine.started.wait(10)
        assert client.delete("/v1/jobs/meeting-2").json()["cancelled"] is True
    finally:
        hold.set()
        thread.join(30)
    assert results[0].status_code == 409
    assert engine.jobs == ["transcribe"]  # never diarized
    assert client.get("/v1/jobs/meeting-2").json()["phase"] == "cancelled"
    assert client.delete("/v1/jobs/unknown").status_code == 404
