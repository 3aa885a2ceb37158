"""Alignment only where words are asked: counted per request kind through the real engine.

A voice command (``json``) or a ``verbose_json`` without ``word`` must run no
wav2vec2 alignment and load no aligner (the first load of a language is a
model-hub download of 0.36 to 1.2 GB). The real ``WhisperXEngine`` runs here
with its ML modules replaced by counting fakes (the ML stack is not in this
venv, and the engine lane, which runs it for real, is another lane), so what
is counted is the engine's and the routes' own decisions.
"""

from __future__ import annotations

import importlib
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

import app.whisperx_engine
from app.whisperx_engine import WhisperXEngine

from .conftest import wav_bytes

TRANSCRIBE = "/v1/audio/transcriptions"
SPOKEN = "Good morning everyone. The weather is fine today."


class FakeWhisperX:
    """whisperX's calls the engine makes, counting alignments and aligner loads."""

    def __init__(self) -> None:
        self.aligner_loads: list[str] = []
        self.alignments: list[str] = []
        self.alignment = SimpleNamespace(
            DEFAULT_ALIGN_MODELS_TORCH={"en": "WAV2VEC2_ASR_BASE_960H"},
            DEFAULT_ALIGN_MODELS_HF={"nl": "jonatasgrosman/wav2vec2-large-xlsr-53-dutch"},
        )

    def load_model(self, *_: Any, **__: Any) -> Pipeline:
        return Pipeline()

    def load_audio(self, path: str) -> bytes:
        with wave.open(path, "rb") as wav:
            return bytes(wav.getnframes())  # one "sample" per frame: only len() is read

    def load_align_model(
        self, language_code: str, device: str, model_name: str | None = None
    ) -> tuple[str, dict[str, str]]:
        self.aligner_loads.append(language_code)
        return f"wav2vec2-{language_code}", {"language": language_code}

    def align(
        self,
        segments: list[dict[str, Any]],
        model: str,
        metadata: dict[str, str],
        audio: Any,
        device: str,
        return_char_alignments: bool = False,
    ) -> dict[str, Any]:
        self.alignments.append(metadata["language"])
        aligned = []
        for segment in segments:
            tokens = segment["text"].split()
            span = (segment["end"] - segment["start"]) / len(tokens)
            words = [
                {
                    "word": t,
                    "start": segment["start"] + i * span,
                    "end": segment["start"] + i * span,
                }
                for i, t in enumerate(tokens)
            ]
            aligned.append({**segment, "words": words})
        return {"segments": aligned}


class Pipeline:
    """faster-whisper's batched pipeline: one segment per sentence, language as told or Dutch."""

    options = SimpleNamespace()

    def transcribe(self, audio: Any, batch_size: int, language: str | None) -> dict[str, Any]:
        sentences = [s.strip() + "." for s in SPOKEN.split(".") if s.strip()]
        return {
            "language": language or "nl",  # detected: a language whose aligner is not cached
            "segments": [
                {"start": 2.0 * i, "end": 2.0 * i + 1.5, "text": s} for i, s in enumerate(sentences)
            ],
        }


@pytest.fixture
def whisperx(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeWhisperX:
    """Counting fakes in place of torch and whisperx (sys.modules stays free of them)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fake = FakeWhisperX()
    torch = SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: False))
    modules = {"torch": torch, "whisperx": fake, "whisperx.alignment": fake.alignment}

    def module(name: str) -> Any:
        # The engine's own decoder hands whisperX numpy samples: the real numpy does that.
        return modules[name] if name in modules else importlib.import_module(name)

    monkeypatch.setattr(app.whisperx_engine, "_module", module)
    return fake


@pytest.fixture
def real_engine(
    whisperx: FakeWhisperX, make_client: Callable[..., TestClient]
) -> tuple[TestClient, WhisperXEngine]:
    engine = WhisperXEngine("tiny", None, env={}, device="cpu")
    return make_client(engine, device="cpu"), engine


def transcribe(client: TestClient, fields: dict[str, Any]) -> Any:
    resp = client.post(
        TRANSCRIBE, files={"file": ("a.wav", wav_bytes(4.0), "audio/wav")}, data=fields
    )
    assert resp.status_code == 200, resp.text
    return resp


@pytest.mark.parametrize(
    "fields",
    [
        {},  # json: what Assist and the gateway's json/text clients ask
        {"language": "nl"},
        {"response_format": "text"},
        {"response_format": "srt", "timestamp_granularities[]": "segment"},
        {"response_format": "vtt"},
        {"response_format": "verbose_json"},
        {"response_format": "verbose_json", "timestamp_granularities[]": "segment"},
        {"response_format": "json", "timestamp_granularities[]": "word"},
    ],
    ids=["json", "json-uncached-language", "text", "srt", "vtt", "verbose", "segment", "json-word"],
)
def test_no_words_asked_no_alignment_no_aligner(
    real_engine: tuple[TestClient, WhisperXEngine], whisperx: FakeWhisperX, fields: dict[str, Any]
) -> None:
    client, engine = real_engine
    for _ in range(2):
        transcribe(client, fields)
    assert whisperx.alignments == []
    assert whisperx.aligner_loads == []
    assert engine.aligners.failures == {}


def test_verbose_json_with_words_aligns_and_loads_each_aligner_once(
    real_engine: tuple[TestClient, WhisperXEngine], whisperx: FakeWhisperX
) -> None:
    client, _ = real_engine
    words = {"response_format": "verbose_json", "timestamp_granularities[]": ["word", "segment"]}
    body = transcribe(client, words | {"language": "en"}).json()
    assert [w["word"] for w in body["words"]] == SPOKEN.split()
    transcribe(client, words | {"language": "en"})
    transcribe(client, {"response_format": "verbose_json", "timestamp_granularities[]": "word"})
    assert whisperx.alignments == ["en", "en", "nl"]  # the last one detected Dutch
    assert whisperx.aligner_loads == ["en", "nl"]  # loaded once per language, then cached


def test_counts_per_request_kind_in_one_service(
    real_engine: tuple[TestClient, WhisperXEngine], whisperx: FakeWhisperX
) -> None:
    """A mixed run, as a busy container sees it: only the word requests align."""
    client, _ = real_engine
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("assist", {"language": "de"}),
        ("captions", {"response_format": "srt", "language": "de"}),
        ("words", {"response_format": "verbose_json", "timestamp_granularities[]": "word"}),
        ("verbose", {"response_format": "verbose_json", "language": "de"}),
    ]
    counts: dict[str, tuple[int, int]] = {}
    for kind, fields in kinds:
        before = len(whisperx.alignments), len(whisperx.aligner_loads)
        transcribe(client, fields)
        counts[kind] = (
            len(whisperx.alignments) - before[0],
            len(whisperx.aligner_loads) - before[1],
        )
    assert counts == {"assist": (0, 0), "captions": (0, 0), "words": (1, 1), "verbose": (0, 0)}
