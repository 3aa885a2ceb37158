"""Health tells the truth about the device: CUDA expected and missing is a 503, never a CPU run.

The stub engine stands in for whisperX (no ML stack here): ``cuda=False`` is what
the real engine sees when torch.cuda.is_available() is false, and it answers
the same way (nothing loaded, ``device_error`` set); the engine lane checks the
real engine against real CPU torch.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

import app.whisperx_engine
from app.config import ConfigError, Settings
from app.engine import CUDA_MISSING
from app.stub_engine import StubEngine
from app.whisperx_engine import WhisperXEngine

from .conftest import wav_bytes


def _transcribe(client: TestClient) -> tuple[int, dict[str, object]]:
    resp = client.post(
        "/v1/audio/transcriptions", files={"file": ("a.wav", wav_bytes(1.0), "audio/wav")}
    )
    return resp.status_code, resp.json()


def test_cuda_expected_and_missing_answers_503_with_the_reason(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    engine = StubEngine(hf_token="x", cuda=False)
    client = make_client(engine)
    assert any(
        r.levelname == "CRITICAL" and r.getMessage().startswith(f"Not serving: {CUDA_MISSING}")
        for r in caplog.records
    )
    resp = client.get("/health")
    assert resp.status_code == 503
    body = resp.json()
    assert body["detail"] == body["device_error"]
    assert body["detail"].startswith(CUDA_MISSING)
    assert body["status"] == "error"
    assert (body["device"], body["compute_type"]) == ("cuda", None)
    assert (body["whisper_loaded"], body["diarizer_loaded"]) == (False, False)
    assert (body["self_test"], body["gpu_ok"]) == ("no_gpu", False)
    assert body["diarizer_off_reason"] == body["device_error"]
    # Nothing runs on the CPU behind the 503: jobs are refused with the same reason.
    status, answer = _transcribe(client)
    assert status == 503
    assert answer["detail"] == body["device_error"]
    assert engine.jobs == []
    assert engine.loaded is False


def test_cpu_asked_for_by_name_runs_on_cpu(make_client: Callable[..., TestClient]) -> None:
    client = make_client(StubEngine(device="cpu", cuda=False), device="cpu")
    resp = client.get("/health")
    assert resp.status_code == 200
    body = resp.json()
    assert (body["device"], body["compute_type"], body["device_error"]) == ("cpu", "int8", None)
    assert body["self_test"] == "no_gpu"
    assert _transcribe(client)[0] == 200


def test_gpu_reports_device_compute_type_and_self_test(client: TestClient) -> None:
    body = client.get("/health").json()
    assert (body["device"], body["compute_type"], body["device_error"]) == ("cuda", "float16", None)
    assert body["self_test"] == "passed"


def test_device_setting_defaults_to_cuda_and_is_checked() -> None:
    assert Settings.from_env({}).device == "cuda"
    assert Settings.from_env({"WHISPERX_DEVICE": " CPU "}).device == "cpu"
    with pytest.raises(ConfigError, match="WHISPERX_DEVICE"):
        Settings.from_env({"WHISPERX_DEVICE": "gpu"})


def test_stub_knob_hides_the_gpu() -> None:
    engine = StubEngine.from_env("medium", None, {"WHISPERX_STUB_CUDA": "0"})
    engine.load()
    assert engine.device_error is not None
    assert StubEngine.from_env("medium", None, {}).device_error is None


def test_image_expects_cuda() -> None:
    """The Dockerfile says so too, so `docker inspect` shows what the image expects."""
    from .conftest import ROOT

    assert "WHISPERX_DEVICE=cuda" in (ROOT / "Dockerfile").read_text(encoding="utf-8")


class _Torch:
    """What the engine reads of torch: its CUDA build and whether a GPU is visible."""

    def __init__(self, *, build: str | None, visible: bool) -> None:
        self.version = SimpleNamespace(cuda=build)
        self.cuda = SimpleNamespace(is_available=lambda: visible)


class _Ct2:
    def __init__(self, devices: int) -> None:
        self.devices = devices

    def get_cuda_device_count(self) -> int:
        return self.devices


@pytest.mark.parametrize(
    ("torch", "ct2", "reason"),
    [
        (_Torch(build=None, visible=False), _Ct2(0), "CPU-only build"),
        (_Torch(build="13.0", visible=False), _Ct2(0), "--gpus all"),
        (_Torch(build="13.0", visible=True), _Ct2(0), "CTranslate2 sees no CUDA device"),
    ],
    ids=["cpu-torch", "no-gpu-visible", "ct2-without-cuda"],
)
def test_the_real_engine_loads_nothing_without_the_gpu(
    monkeypatch: pytest.MonkeyPatch,
    make_client: Callable[..., TestClient],
    torch: _Torch,
    ct2: _Ct2,
    reason: str,
) -> None:
    """whisperX's engine with fake torch/CTranslate2 (no ML stack here): what each says is missing.

    A whisperx module that fails when touched proves no model loads on the CPU instead.
    """
    modules: dict[str, Any] = {"torch": torch, "ctranslate2": ct2, "whisperx": _Untouchable()}
    monkeypatch.setattr(app.whisperx_engine, "_module", modules.__getitem__)
    engine = WhisperXEngine("tiny", "hf_x", env={})
    client = make_client(engine)
    resp = client.get("/health")
    assert resp.status_code == 503
    body = resp.json()
    assert body["device_error"].startswith(CUDA_MISSING)
    assert reason in body["device_error"]
    assert (body["device"], body["compute_type"], body["whisper_loaded"]) == ("cuda", None, False)
    assert body["self_test"] == "no_gpu"
    assert _transcribe(client)[0] == 503


def test_the_real_engine_on_a_visible_gpu_loads_float16(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[tuple[str, str]] = []

    class _WhisperX:
        def load_model(self, _source: str, device: str, *, compute_type: str, **_: Any) -> str:
            loads.append((device, compute_type))
            return "model"

    modules: dict[str, Any] = {
        "torch": _Torch(build="13.0", visible=True),
        "ctranslate2": _Ct2(1),
        "whisperx": _WhisperX(),
    }
    monkeypatch.setattr(app.whisperx_engine, "_module", modules.__getitem__)
    engine = WhisperXEngine("tiny", None, env={})
    engine.load()
    assert loads == [("cuda", "float16")]
    assert (engine.device_error, engine.compute_type) == (None, "float16")


class _Untouchable:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"whisperx.{name} used although CUDA is missing")
