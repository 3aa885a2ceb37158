"""The WhisperX app with the stub engine: endpoints, formats, limits, faults."""

from __future__ import annotations

import sys
import tempfile
import threading
import time
import tracemalloc
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import UploadFile
from fastapi.testclient import TestClient
from starlette.datastructures import UploadFile as StarletteUpload

import app.whisperx_engine
from app import health as health_module
from app import main, uploads
from app.config import ConfigError, Settings, read_version
from app.engine import CudaFault, Engine, Turn, Word, is_cuda_fault
from app.formats import render_srt, render_vtt
from app.main import create_app
from app.merge import normalise_speakers, speaker_blocks
from app.stub_engine import NO_TOKEN_REASON, StubEngine

from .conftest import Exits, wav_bytes

SPEAKERS = "/v1/audio/transcribe-with-speakers"
TRANSCRIBE = "/v1/audio/transcriptions"
WAV9 = wav_bytes(9.0)


def post(
    client: TestClient, path: str, data: dict[str, Any] | None = None, body: bytes = WAV9
) -> Any:
    return client.post(path, files={"file": ("a.wav", body, "audio/wav")}, data=data or {})


@pytest.fixture(autouse=True)
def _own_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spooled uploads land in tmp_path so tests can see them go."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def spooled_files(tmp_path: Path) -> list[Path]:
    return list(tmp_path.glob("whisperx-*"))


def test_no_ml_stack_imported() -> None:
    assert "torch" not in sys.modules
    assert "whisperx" not in sys.modules
    assert isinstance(StubEngine(), Engine)
    assert isinstance(app.whisperx_engine.WhisperXEngine("tiny", None), Engine)
    assert "torch" not in sys.modules


def test_module_app_exists() -> None:
    assert main.app.title == "WhisperX speech service"


def test_health(client: TestClient, engine: StubEngine) -> None:
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.json() == {
        "status": "ok",
        "whisper_loaded": True,
        "diarizer_loaded": True,
        "diarizer_off_reason": None,
        "model": "medium",
        "device": "cuda",
        "compute_type": "float16",
        "device_error": None,
        "gpu_ok": True,
        "self_test": "passed",
        "self_test_error": None,
        "version": read_version(),
        "busy": False,
        "queue": 0,
        "auth": False,
    }
    assert read_version() == (Path(main.__file__).parent.parent / "VERSION").read_text().strip()


def test_health_without_token_says_why(make_client: Callable[..., TestClient]) -> None:
    client = make_client(StubEngine("small", gpu_ok=False))
    body = client.get("/health").json()
    assert body["whisper_loaded"] is True
    assert body["diarizer_loaded"] is False
    assert "HF_TOKEN" in body["diarizer_off_reason"]
    assert body["gpu_ok"] is False
    assert body["model"] == "small"
    resp = post(client, SPEAKERS)
    assert resp.status_code == 503
    assert NO_TOKEN_REASON in resp.json()["detail"]
    # Transcription still works without a token.
    assert post(client, TRANSCRIBE).status_code == 200


def test_transcribe_with_speakers(client: TestClient, engine: StubEngine, tmp_path: Path) -> None:
    resp = post(client, SPEAKERS, {"language": "de"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"duration", "language", "speakers_detected", "segments", "models"}
    assert body["duration"] == 9.0
    assert body["language"] == "de"
    assert body["speakers_detected"] == ["Speaker_0", "Speaker_1"]
    assert body["models"] == {
        "transcription": "whisperx-medium",
        "diarization": "pyannote/speaker-diarization-community-1",
    }
    segments = body["segments"]
    assert [s["speaker"] for s in segments] == ["Speaker_0", "Speaker_1", "Speaker_0"]
    for seg in segments:
        assert set(seg) == {"start_ms", "end_ms", "speaker", "text"}
        assert 0 <= seg["start_ms"] < seg["end_ms"] <= 9000
    assert " ".join(s["text"] for s in segments) == engine.text
    assert engine.released == 1
    assert engine.jobs == ["transcribe", "diarize"]
    assert spooled_files(tmp_path) == []


def test_speaker_counts(client: TestClient) -> None:
    body = post(client, SPEAKERS, {"num_speakers": "1"}).json()
    assert body["speakers_detected"] == ["Speaker_0"]
    assert len(body["segments"]) == 1
    body = post(client, SPEAKERS, {"min_speakers": "3", "max_speakers": "4"}).json()
    assert body["speakers_detected"] == ["Speaker_0", "Speaker_1", "Speaker_2"]


@pytest.mark.parametrize(
    ("data", "body", "detail"),
    [
        ({}, b"", "empty"),
        ({}, b"this is not audio at all", "Could not decode"),
        ({}, wav_bytes(0), "no samples"),
        ({"min_speakers": "3", "max_speakers": "2"}, WAV9, "min_speakers must be <="),
        ({"num_speakers": "two"}, WAV9, "num_speakers must be an integer"),
        ({"max_speakers": "1.5"}, WAV9, "max_speakers must be an integer"),
        ({"min_speakers": "0"}, WAV9, "min_speakers must be >= 1"),
        ({"language": " "}, WAV9, "language must not be empty"),
    ],
    ids=["empty", "not-audio", "no-samples", "min>max", "nan", "float", "zero", "language"],
)
def test_speakers_bad_input(
    client: TestClient, data: dict[str, str], body: bytes, detail: str, tmp_path: Path
) -> None:
    resp = post(client, SPEAKERS, data, body)
    assert resp.status_code == 400
    assert detail in resp.json()["detail"]
    assert spooled_files(tmp_path) == []


@pytest.mark.parametrize("path", [SPEAKERS, TRANSCRIBE])
def test_missing_file(client: TestClient, path: str) -> None:
    resp = client.post(path, data={"language": "en"})
    assert resp.status_code == 400
    assert resp.json()["detail"] == "file is required"


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("json", "application/json"),
        ("text", "text/plain; charset=utf-8"),
        ("verbose_json", "application/json"),
        ("srt", "text/plain; charset=utf-8"),
        ("vtt", "text/vtt; charset=utf-8"),
    ],
)
def test_transcription_formats(
    client: TestClient, engine: StubEngine, fmt: str, content_type: str
) -> None:
    data = {"response_format": fmt, "model": "whisper-1", "timestamp_granularities[]": "word"}
    resp = post(client, TRANSCRIBE, data)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == content_type
    text = engine.text
    match fmt:
        case "json":
            assert resp.json() == {"text": text}
        case "text":
            assert resp.text == text
        case "srt":
            assert resp.text.startswith("1\n00:00:00,000 --> 00:00:")
            assert "\n\n2\n" in resp.text
        case "vtt":
            assert resp.text.startswith("WEBVTT\n\n00:00:00.000 --> ")
        case "verbose_json":
            body = resp.json()
            assert body["task"] == "transcribe"
            assert body["language"] == "en"
            assert body["duration"] == 9.0
            assert body["text"] == text
            assert [w["word"] for w in body["words"]] == text.split()
            assert set(body["words"][0]) == {"word", "start", "end"}
            assert body["words"][-1]["end"] <= 9.0
            assert [s["id"] for s in body["segments"]] == list(range(len(body["segments"])))
            assert " ".join(s["text"] for s in body["segments"]) == text
    assert engine.released == 1


def test_transcription_options_reach_engine(client: TestClient, engine: StubEngine) -> None:
    resp = post(
        client,
        TRANSCRIBE,
        {
            "language": "FR",
            "prompt": "Spark",
            "temperature": "0",
            "timestamp_granularities[]": ["word", "segment"],
            "response_format": "verbose_json",
        },
    )
    assert resp.status_code == 200
    assert resp.json()["language"] == "fr"
    assert engine.last_options == {"language": "fr", "prompt": "Spark", "words": True}


@pytest.mark.parametrize(
    ("data", "body", "detail"),
    [
        ({"response_format": "xml"}, WAV9, "Unsupported response_format"),
        ({"temperature": "hot"}, WAV9, "temperature must be a number"),
        ({"temperature": "3"}, WAV9, "between 0 and 1"),
        ({"timestamp_granularities[]": "char"}, WAV9, "timestamp_granularities"),
        ({"language": " "}, WAV9, "language must not be empty"),
        ({}, b"", "empty"),
        ({}, b"ID3\x04not a wav", "Could not decode"),
    ],
    ids=["format", "temp-nan", "temp-range", "granularity", "language", "empty", "not-wav"],
)
def test_transcription_bad_input(
    client: TestClient, data: dict[str, str], body: bytes, detail: str
) -> None:
    resp = post(client, TRANSCRIBE, data, body)
    assert resp.status_code == 400
    assert detail in resp.json()["detail"]


def _in_thread(client: TestClient, results: list[int]) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.append(post(client, TRANSCRIBE).status_code))
    thread.start()
    return thread


def _wait_for(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_queue_full_gives_429(make_client: Callable[..., TestClient]) -> None:
    hold = threading.Event()
    engine = StubEngine(hf_token="x", hold=hold)
    client = make_client(engine, max_queue=1, retry_after_s=7)
    results: list[int] = []
    first = _in_thread(client, results)
    try:
        assert engine.started.wait(5)
        second = _in_thread(client, results)
        _wait_for(lambda: client.get("/health").json()["queue"] == 1)
        health = client.get("/health").json()
        assert health["busy"] is True
        assert health["self_test"] == "passed"
        resp = post(client, TRANSCRIBE)
        assert resp.status_code == 429
        assert resp.headers["retry-after"] == "7"
        assert "busy" in resp.json()["detail"]
    finally:
        hold.set()
    first.join(5)
    second.join(5)
    assert results == [200, 200]
    assert engine.released == 2
    assert client.get("/health").json()["busy"] is False


def test_self_test_runs_beside_a_job(make_client: Callable[..., TestClient]) -> None:
    """While a job holds the GPU, /health still runs the self-test and reports its verdict."""
    hold = threading.Event()
    engine = StubEngine(hf_token="x", hold=hold)
    client = make_client(engine)
    results: list[int] = []
    job = _in_thread(client, results)
    try:
        assert engine.started.wait(5)
        before = engine.self_tests
        engine.gpu_ok = False  # the GPU breaks under the job
        health = client.get("/health").json()
        assert engine.self_tests == before + 1
        assert (health["busy"], health["self_test"], health["gpu_ok"]) == (True, "failed", False)
        assert "wrong answer" in health["self_test_error"]
        engine.gpu_ok = True
        assert client.get("/health").json()["self_test"] == "passed"
    finally:
        hold.set()
    job.join(5)
    assert results == [200]


@pytest.mark.parametrize(("busy", "verdict"), [(True, "passed"), (False, "failed")])
def test_slow_self_test_fails_only_while_idle(
    make_client: Callable[..., TestClient],
    monkeypatch: pytest.MonkeyPatch,
    *,
    busy: bool,
    verdict: str,
) -> None:
    """A self-test past its timeout keeps the last verdict under a job; idle, it has failed."""
    hold, slow = threading.Event(), threading.Event()
    engine = StubEngine(hf_token="x", hold=hold)
    client = make_client(engine)  # its startup self-test passed
    monkeypatch.setattr(health_module, "GPU_CHECK_TIMEOUT_S", 0.05)
    results: list[int] = []
    job = _in_thread(client, results) if busy else None
    try:
        if job is not None:
            assert engine.started.wait(5)
        engine.self_test_hold = slow
        body = client.get("/health").json()
        assert body["self_test"] == verdict
        if verdict == "failed":
            assert "did not finish" in body["self_test_error"]
    finally:
        slow.set()
        hold.set()
    if job is not None:
        job.join(5)


def test_no_queue_rejects_while_busy(make_client: Callable[..., TestClient]) -> None:
    hold = threading.Event()
    engine = StubEngine(hf_token="x", hold=hold)
    client = make_client(engine, max_queue=0)
    results: list[int] = []
    first = _in_thread(client, results)
    try:
        assert engine.started.wait(5)
        assert post(client, SPEAKERS).status_code == 429
    finally:
        hold.set()
    first.join(5)
    assert results == [200]


@pytest.mark.parametrize("path", [SPEAKERS, TRANSCRIBE])
def test_cuda_fault_exits(
    make_client: Callable[..., TestClient], exits: Exits, path: str, tmp_path: Path
) -> None:
    engine = StubEngine(hf_token="x", cuda_fault=True)
    client = make_client(engine)
    resp = post(client, path)
    assert resp.status_code == 500
    assert "CUDA" in resp.json()["detail"]
    assert exits.codes == [3]
    assert engine.released == 1
    assert spooled_files(tmp_path) == []
    again = post(client, path)
    assert again.status_code == 503
    assert "retry-after" in again.headers
    assert client.get("/health").json()["status"] == "error"


@pytest.mark.parametrize(
    ("error", "exit_codes"),
    [
        (RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED when calling cublasSgemm"), [3]),
        (RuntimeError("CUDA error: an illegal memory access was encountered"), [3]),
        (ValueError("something else broke"), []),
    ],
)
def test_fault_detection(
    make_client: Callable[..., TestClient],
    exits: Exits,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    exit_codes: list[int],
) -> None:
    engine = StubEngine(hf_token="x")

    def broken(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(engine, "transcribe", broken)
    client = make_client(engine)
    resp = post(client, TRANSCRIBE)
    assert resp.status_code == 500
    assert exits.codes == exit_codes
    assert engine.released == 1


def test_gpu_check_fault_exits(
    make_client: Callable[..., TestClient], exits: Exits, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = StubEngine(hf_token="x")
    client = make_client(engine)

    def wedged() -> bool:
        raise CudaFault("CUDA error: unspecified launch failure")

    monkeypatch.setattr(engine, "gpu_check", wedged)
    body = client.get("/health").json()
    assert body["gpu_ok"] is False
    assert body["status"] == "error"
    _wait_for(lambda: exits.codes == [3])


def test_is_cuda_fault() -> None:
    assert is_cuda_fault(CudaFault("x"))
    assert is_cuda_fault(RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR"))
    assert not is_cuda_fault(RuntimeError("file not found"))


def _big_wav(path: Path, size: int) -> None:
    """A WAV of about `size` bytes written in chunks (never whole in memory)."""
    chunk = b"\0" * (1024 * 1024)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        for _ in range(size // len(chunk)):
            wav.writeframesraw(chunk)


async def test_spooling_keeps_memory_flat(tmp_path: Path) -> None:
    source = tmp_path / "big.wav"
    _big_wav(source, 50 * 1024 * 1024)
    size = source.stat().st_size

    async def spool() -> int:
        with source.open("rb") as handle:
            upload = UploadFile(handle, filename="big.wav")
            async with uploads.spooled(upload) as path:
                assert path.suffix == ".upload"  # never the client's
                return path.stat().st_size

    tracemalloc.start()
    try:
        copied = await spool()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert copied == size
    assert peak < 8 * 1024 * 1024, peak  # a few chunks, not 50 MB


def test_large_upload_is_streamed(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "big.wav"
    _big_wav(source, 50 * 1024 * 1024)
    reads: list[int] = []
    original = StarletteUpload.read

    async def recording_read(self: StarletteUpload, size: int = -1) -> bytes:
        reads.append(size)
        return await original(self, size)

    monkeypatch.setattr(StarletteUpload, "read", recording_read)
    with source.open("rb") as handle:
        resp = client.post(SPEAKERS, files={"file": ("big.wav", handle, "audio/wav")})
    assert resp.status_code == 200, resp.text
    assert resp.json()["duration"] == pytest.approx(50 * 1024 * 1024 / 32_000, abs=0.01)
    assert len(reads) > 40
    assert all(0 < size <= uploads.CHUNK_SIZE for size in reads)
    assert spooled_files(tmp_path) == []


def test_invalid_model_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="WHISPERX_MODEL='huge' is not supported"):
        Settings.from_env({"WHISPERX_MODEL": "huge"})
    with pytest.raises(ConfigError, match="WHISPERX_MAX_QUEUE"):
        Settings.from_env({"WHISPERX_MAX_QUEUE": "many"})
    with pytest.raises(ConfigError, match="WHISPERX_ENGINE"):
        Settings.from_env({"WHISPERX_ENGINE": "magic"})
    monkeypatch.setenv("WHISPERX_MODEL", "large-v2")
    with pytest.raises(ConfigError, match="large-v3"), TestClient(create_app()):
        pass


def test_settings_from_env() -> None:
    settings = Settings.from_env(
        {"WHISPERX_MODEL": "large-v3", "HF_TOKEN": " hf_x ", "WHISPERX_MAX_QUEUE": "2"}
    )
    assert settings == Settings(model="large-v3", hf_token="hf_x", max_queue=2)
    assert Settings.from_env({}) == Settings()


def test_stub_selected_and_steered_by_env(
    monkeypatch: pytest.MonkeyPatch, exits: Exits, tmp_path: Path
) -> None:
    monkeypatch.setenv("WHISPERX_ENGINE", "stub")
    monkeypatch.setenv("WHISPERX_MODEL", "tiny")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("WHISPERX_STUB_TEXT", "one two three")
    monkeypatch.setenv("WHISPERX_STUB_DELAY_S", "0.01")
    with TestClient(create_app(exit_fn=exits)) as client:
        health = client.get("/health").json()
        assert health["model"] == "tiny"
        assert health["diarizer_loaded"] is False
        assert post(client, TRANSCRIBE, {"response_format": "text"}).text == "one two three"
    monkeypatch.setenv("WHISPERX_STUB_CUDA_FAULT", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    with TestClient(create_app(exit_fn=exits)) as client:
        assert post(client, SPEAKERS).status_code == 500
    assert exits.codes == [3]
    assert "torch" not in sys.modules


def test_merge_breaks_on_silence_and_speaker() -> None:
    turns = normalise_speakers([Turn(5.0, 9.0, "SPEAKER_07"), Turn(0.0, 5.0, "SPEAKER_03")])
    assert [t.speaker for t in turns] == ["Speaker_0", "Speaker_1"]
    words = [
        Word(0.0, 0.5, "Hello"),
        Word(0.6, 0.9, ","),
        Word(1.0, 1.4, "there"),
        Word(3.5, 4.0, "again"),  # > 1.5 s gap: new block, same speaker
        Word(6.0, 6.5, "Hi"),
        Word(20.0, 20.5, "late"),  # outside every turn
    ]
    blocks = speaker_blocks(words, turns)
    assert blocks == [
        {"start_ms": 0, "end_ms": 1400, "speaker": "Speaker_0", "text": "Hello, there"},
        {"start_ms": 3500, "end_ms": 4000, "speaker": "Speaker_0", "text": "again"},
        {"start_ms": 6000, "end_ms": 6500, "speaker": "Speaker_1", "text": "Hi"},
        {"start_ms": 20000, "end_ms": 20500, "speaker": "Speaker_unknown", "text": "late"},
    ]
    # A word straddling a turn edge goes to the turn it overlaps most.
    straddle = speaker_blocks([Word(4.0, 10.0, "x")], [Turn(4.5, 6.0, "A"), Turn(6.5, 9.9, "B")])
    assert straddle[0]["speaker"] == "B"


def test_caption_clock() -> None:
    from app.engine import Segment

    segs = (Segment(3661.5, 3662.25, " hi "),)
    assert render_srt(segs) == "1\n01:01:01,500 --> 01:01:02,250\nhi\n"
    assert render_vtt(segs) == "WEBVTT\n\n01:01:01.500 --> 01:01:02.250\nhi\n"
