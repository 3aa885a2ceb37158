"""The real engine (whisperX on CPU torch) behind the real app, with tiny models made here.

Nothing is downloaded: the hub is switched offline, so anything that would
fetch a model fails fast and shows the documented degraded behaviour.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The image's build context, whose app/ these tests import as the image does ("app").
ROOT = Path(__file__).resolve().parents[2] / "custom_components/spark_audio/whisperx_container"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from app.main import create_app  # noqa: E402

from .tiny_models import build_aligner, build_punkt, build_whisper  # noqa: E402

API_KEY = "engine-lane-key-0123456789"
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "PYANNOTE_METRICS_ENABLED": "false",
    "TOKENIZERS_PARALLELISM": "false",
}
# huggingface_hub reads HF_HUB_OFFLINE once, when it is first imported.
os.environ.update(OFFLINE)


class Exits:
    """Records exit codes instead of leaving."""

    def __init__(self) -> None:
        self.codes: list[int] = []

    def __call__(self, code: int) -> None:
        self.codes.append(code)


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny Whisper (CTranslate2), untrained wav2vec2 and empty punkt, built once."""
    root = tmp_path_factory.mktemp("models")
    build_whisper(root / "whisper")
    build_aligner(root / "aligner")
    build_punkt(root / "nltk_data")
    return root


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Real speech from espeak-ng (22.05 kHz WAV: the engine resamples it with ffmpeg)."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is needed for the engine lane (scripts/setup installs it)")
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(path), "Hello from the spark. This is the real engine."],
        check=True,
        capture_output=True,
    )
    return path.read_bytes()


@pytest.fixture(scope="session")
def exits() -> Exits:
    """The app's exit function: a CUDA fault must not end the test run."""
    return Exits()


@pytest.fixture(scope="session")
def client(models: Path, exits: Exits) -> Iterator[TestClient]:
    """The app with WHISPERX_ENGINE unset (the real engine), configured like the image."""
    env = {
        **OFFLINE,
        "WHISPERX_MODEL": "tiny",
        "WHISPERX_MODEL_DIR": str(models / "whisper"),
        "WHISPERX_ALIGN_MODELS": f"en={models / 'aligner'}",
        "WHISPERX_DEVICE": "cpu",
        "WHISPERX_COMPUTE_TYPE": "int8",
        "WHISPERX_BATCH_SIZE": "4",
        "NLTK_DATA": str(models / "nltk_data"),
        # A token with no reachable model: diarization must degrade, not break the app.
        "HF_TOKEN": "hf_offline_token_for_the_engine_lane",
        "WHISPERX_API_KEY": API_KEY,
    }
    saved = {name: os.environ.get(name) for name in [*env, "WHISPERX_ENGINE"]}
    os.environ.update(env)
    os.environ.pop("WHISPERX_ENGINE", None)
    try:
        with TestClient(
            create_app(exit_fn=exits), headers={"Authorization": f"Bearer {API_KEY}"}
        ) as started:
            yield started
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
