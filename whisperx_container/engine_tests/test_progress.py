"""The real engine's job progress: transcribing percent by audio time, cancel between chunks.

The recording is the test's speech placed on a 100 s silent track so that whisperX's
VAD merges it into three chunks of unequal span with unequal silence around them:
by chunk count the percents would be 33, 67, 100; by audio time they are the chunk
ends (about 23, 63, 73).
"""

from __future__ import annotations

import io
import wave
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.progress import JobRegistry, JobState

from .test_engine import HEARD, engine_of, wav_seconds

TRANSCRIBE = "/v1/audio/transcriptions"
TOTAL_S = 100.0
# Speech starts: chunk 1 is the first two, chunk 2 the five from 40 s (under 30 s of
# span), chunk 3 the last (adding it to chunk 2 would pass 30 s); silence after 73 s.
STARTS_S = (0.0, 20.0, 40.0, 45.0, 50.0, 55.0, 60.0, 70.0)
CHUNK_LAST_STARTS_S = (20.0, 60.0, 70.0)


def placed(speech: bytes, starts: tuple[float, ...], total: float) -> bytes:
    """`speech` at each of `starts` (s) on a silent track of `total` seconds, same format."""
    with wave.open(io.BytesIO(speech)) as wav:
        params = wav.getparams()
        frames = wav.readframes(wav.getnframes())
    width = params.sampwidth * params.nchannels
    track = bytearray(int(total * params.framerate) * width)
    for start in starts:
        at = int(start * params.framerate) * width
        track[at : at + len(frames)] = frames
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setparams(params)
        wav.writeframes(bytes(track))
    return out.getvalue()


@pytest.fixture(scope="module")
def long_speech(speech: bytes) -> bytes:
    """100 s: speech in three VAD chunks, then silence."""
    return placed(speech, STARTS_S, TOTAL_S)


class Reports:
    """Every (phase, phase_percent) the engine reports to the app's registry."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, float | None]] = []

    def transcribing(self) -> list[float | None]:
        """The `transcribing` percents, in order."""
        return [percent for phase, percent in self.seen if phase == "transcribing"]


@pytest.fixture
def reports(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> Reports:
    """A spy on the app's job registry (restored after the test)."""
    jobs: JobRegistry = client.app.state.service.jobs  # type: ignore[attr-defined]
    original = jobs.update
    seen = Reports()

    def spy(state: JobState, phase: str, phase_percent: float | None) -> None:
        seen.seen.append((phase, phase_percent))
        original(state, phase, phase_percent)

    monkeypatch.setattr(jobs, "update", spy)
    return seen


def post(client: TestClient, audio: bytes, job_id: str, **data: Any) -> Any:
    return client.post(
        TRANSCRIBE,
        files={"file": ("long.wav", audio, "audio/wav")},
        data={"response_format": "verbose_json", "language": "en", **data},
        headers={"X-Job-Id": job_id},
    )


def test_transcribing_percent_follows_audio_time(
    client: TestClient, long_speech: bytes, speech: bytes, reports: Reports
) -> None:
    """Each merged chunk done reports its end over the duration, not its index over the count."""
    resp = post(client, long_speech, "progress-by-time")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    ends = [segment["end"] for segment in body["segments"]]  # whisperX: the chunks' ends
    assert [segment["text"] for segment in body["segments"]] == [HEARD] * 3
    percents = reports.transcribing()
    assert percents[0] == 0
    assert percents[-1] == 100
    between = [p for p in percents if p is not None and 0 < p < 100]
    assert between == sorted(set(between))  # distinct, rising
    assert between == pytest.approx([100 * end / body["duration"] for end in ends], abs=0.01)
    speech_s = wav_seconds(speech)
    by_layout = [100 * (start + speech_s) / TOTAL_S for start in CHUNK_LAST_STARTS_S]
    assert between == pytest.approx(by_layout, abs=1.0)  # ~23, 63, 73; by count: 33, 67, 100
    assert client.get("/v1/jobs/progress-by-time").json()["phase"] == "done"


def test_cancel_stops_whisper_between_chunks(
    client: TestClient,
    long_speech: bytes,
    speech: bytes,
    reports: Reports,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancelled after the first chunk: the second's report stops it, the third is never run.

    Batch size 1 so each chunk is decoded only after the previous one's report.
    The prompt and the VAD's merge_chunks are restored all the same.
    """
    engine = engine_of(client)
    pipeline: Any = engine._whisper
    monkeypatch.setattr(engine, "_batch_size", 1)
    decoded: list[int] = []
    forward = pipeline._forward

    def counted(*args: Any, **kwargs: Any) -> Any:
        decoded.append(1)
        return forward(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_forward", counted)
    jobs: JobRegistry = client.app.state.service.jobs  # type: ignore[attr-defined]
    spy = jobs.update

    def cancel_after_first_chunk(state: JobState, phase: str, percent: float | None) -> None:
        spy(state, phase, percent)
        if phase == "transcribing" and percent is not None and 0 < percent < 100:
            jobs.cancel(state.job_id)

    monkeypatch.setattr(jobs, "update", cancel_after_first_chunk)
    resp = post(client, long_speech, "cancel-between-chunks", prompt="a")
    assert resp.status_code == 409, resp.text
    assert len(decoded) == 2
    assert [p for p in reports.transcribing() if p is not None and 0 < p < 100] == [
        pytest.approx(100 * (20.0 + wav_seconds(speech)) / TOTAL_S, abs=1.0)
    ]
    assert client.get("/v1/jobs/cancel-between-chunks").json()["phase"] == "cancelled"
    assert pipeline.options.initial_prompt is None
    assert "merge_chunks" not in vars(pipeline.vad_model)


class OpaqueVad:
    """A VAD whisperX cannot see as its own: it merges the chunks where the engine cannot look."""

    def __init__(self, vad: Any) -> None:
        self._vad = vad

    def __call__(self, audio: Any, **kwargs: Any) -> Any:
        return self._vad(audio, **kwargs)


def test_without_the_chunks_only_the_phase_boundaries(
    client: TestClient, long_speech: bytes, reports: Reports, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whisperX whose merged chunks the engine cannot see: 0 and 100, the same transcript."""
    pipeline: Any = engine_of(client)._whisper
    monkeypatch.setattr(pipeline, "vad_model", OpaqueVad(pipeline.vad_model))
    resp = post(client, long_speech, "progress-unseen")
    assert resp.status_code == 200, resp.text
    assert [segment["text"] for segment in resp.json()["segments"]] == [HEARD] * 3
    assert reports.transcribing() == [0, 100]
