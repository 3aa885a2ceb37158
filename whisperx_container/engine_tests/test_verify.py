"""``python -m app.verify`` with the real probe: whisperX, CTranslate2 and the tiny models on CPU.

On CPU the CUDA check reports "skipped: no GPU" (not a failure) and the
transcription checks run in CTranslate2's CPU types, float32 and int8 (the
Spark runs float16 and int8_float16). The lane leaves torchcodec out (its
wheels are CUDA builds, engine_tests/overrides.txt), so that check fails here
with the import error, which is also what it would say in a broken image.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.config import Settings
from app.verify import run_checks
from app.verify_engine import WhisperXProbe

from .conftest import OFFLINE, ROOT
from .tiny_models import SPOKEN

# The tiny Whisper always hears this (tiny_models.py steers it).
HEARD = SPOKEN.strip()


def lane_env(models: Path, **extra: str) -> dict[str, str]:
    """The service's environment as the image sets it, with the tiny models and no GPU."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHISPERX_", "HF_TOKEN"))}
    return {
        **env,
        **OFFLINE,
        "WHISPERX_MODEL": "tiny",
        "WHISPERX_MODEL_DIR": str(models / "whisper"),
        "WHISPERX_ALIGN_MODELS": f"en={models / 'aligner'}",
        "WHISPERX_DEVICE": "cpu",
        "WHISPERX_BATCH_SIZE": "4",
        "NLTK_DATA": str(models / "nltk_data"),
        **extra,
    }


def test_verify_command_on_cpu(models: Path) -> None:
    """The command as ``docker exec`` runs it: one JSON object, every check's verdict."""
    child = subprocess.run(
        [sys.executable, "-m", "app.verify", "--json"],
        cwd=ROOT,
        env=lane_env(models),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(child.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert list(checks) == [
        "cuda_kernels",
        "transcribe_float32",
        "transcribe_int8",
        "alignment",
        "diarization",
        "torchcodec",
    ], child.stderr[-2000:]
    assert report["device"] == "cpu"
    assert checks["cuda_kernels"]["status"] == "skipped"
    assert checks["cuda_kernels"]["detail"] == "skipped: no GPU"
    for compute_type in ("float32", "int8"):
        check = checks[f"transcribe_{compute_type}"]
        assert check["status"] == "passed", check
        assert HEARD in check["detail"]
    assert checks["alignment"]["status"] == "passed", checks["alignment"]
    assert checks["alignment"]["detail"].startswith("4 words, 'hello'")
    assert checks["diarization"]["detail"] == "skipped: no HF token configured"
    assert checks["torchcodec"]["status"] == "failed"
    assert "No module named 'torchcodec'" in checks["torchcodec"]["detail"]
    assert all(check["seconds"] >= 0 for check in checks.values())
    assert report["passed"] is False
    assert child.returncode == 1


def test_verify_with_a_token_whose_diarizer_cannot_load(models: Path) -> None:
    """With a token, the diarizer must really load: an unreachable model fails the check."""
    env = lane_env(models, HF_TOKEN="hf_offline_token_for_the_engine_lane")
    settings = Settings.from_env(env)
    report = run_checks(WhisperXProbe(settings, env), "test")
    checks = {check.name: check for check in report.checks}
    assert checks["diarization"].status == "failed"
    assert "diarization model failed to load" in checks["diarization"].detail
    assert checks["transcribe_float32"].status == "passed"
    assert "hf_offline_token" not in report.as_text()
