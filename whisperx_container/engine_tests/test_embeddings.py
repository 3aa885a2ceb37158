"""Voice embeddings from the real engine: no diarizer -> 503, auth, bad input, shapes.

Offline the gated community-1 pipeline cannot load, so the 503 path is the real
one. For the shapes, the engine's diarizer is swapped for whisperX's own
``DiarizationPipeline`` around a stand-in for pyannote's pipeline whose
embedding model is pyannote's real WeSpeaker ResNet34 (random weights: nothing
to download). What runs for real: pyannote's embedding wrapper, whisperX's
``return_embeddings`` code, our windowing and the app's label renaming.
"""

from __future__ import annotations

import io
import math
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.whisperx_engine import WhisperXEngine

EMBEDDINGS = "/v1/audio/embeddings"
SPEAKERS = "/v1/audio/transcribe-with-speakers"


def post(client: TestClient, audio: bytes, path: str = EMBEDDINGS, **data: Any) -> Any:
    return client.post(path, files={"file": ("speech.wav", audio, "audio/wav")}, data=data)


def engine_of(client: TestClient) -> WhisperXEngine:
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
    assert isinstance(engine, WhisperXEngine)
    return engine


def silent_wav(seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(b"\0\0" * int(seconds * 16_000))
    return buf.getvalue()


class TwoSpeakerPipeline:
    """pyannote's SpeakerDiarization as whisperX calls it: halves the audio between two voices.

    The first half is SPEAKER_01, the second SPEAKER_00, so pyannote's sorted
    labels and the app's order of first appearance disagree; each speaker's
    embedding is the real model's over that speaker's half.
    """

    def __init__(self, embedding: Any) -> None:
        self._embedding = embedding

    def __call__(self, audio: dict[str, Any], **_: Any) -> Any:
        from pyannote.audio.pipelines.speaker_diarization import DiarizeOutput
        from pyannote.core import Annotation, Segment

        waveform = audio["waveform"]
        half = waveform.shape[-1] // 2
        seconds = waveform.shape[-1] / audio["sample_rate"]
        turns = Annotation()
        turns[Segment(0.0, seconds / 2)] = "SPEAKER_01"
        turns[Segment(seconds / 2, seconds)] = "SPEAKER_00"
        vectors = {
            "SPEAKER_01": self._embedding(waveform[None, :, :half])[0],
            "SPEAKER_00": self._embedding(waveform[None, :, half:])[0],
        }
        centroids = np.vstack([vectors[label] for label in turns.labels()])
        return DiarizeOutput(turns, turns, centroids)


@pytest.fixture(scope="module")
def embedding_model() -> Any:
    """pyannote's wrapper around a WeSpeaker ResNet34, random weights (community-1's kind)."""
    from pyannote.audio.models.embedding import WeSpeakerResNet34
    from pyannote.audio.pipelines.speaker_verification import PretrainedSpeakerEmbedding

    return PretrainedSpeakerEmbedding(WeSpeakerResNet34())


@pytest.fixture
def diarizer(
    client: TestClient, embedding_model: Any, monkeypatch: pytest.MonkeyPatch
) -> TwoSpeakerPipeline:
    """The engine's diarizer for one test: whisperX's pipeline class around the stand-in."""
    from whisperx.diarize import DiarizationPipeline

    pipeline = object.__new__(DiarizationPipeline)
    pipeline.model = TwoSpeakerPipeline(embedding_model)
    monkeypatch.setattr(engine_of(client), "_diarizer", pipeline)
    return pipeline.model  # type: ignore[no-any-return]


def test_no_diarizer_is_503_with_the_reason(client: TestClient, speech: bytes) -> None:
    for path, data in ((EMBEDDINGS, {}), (SPEAKERS, {"return_embeddings": "true"})):
        resp = post(client, speech, path, **data)
        assert resp.status_code == 503
        assert resp.json()["detail"].startswith("Diarization is off: diarization model failed")


def test_key_required(client: TestClient, speech: bytes) -> None:
    resp = client.post(
        EMBEDDINGS,
        files={"file": ("speech.wav", speech, "audio/wav")},
        headers={"Authorization": "Bearer wrong"},
    )
    assert resp.status_code == 401


def test_missing_file_is_400(client: TestClient) -> None:
    resp = client.post(EMBEDDINGS, data={})
    assert resp.status_code == 400
    assert resp.json()["detail"] == "file is required"


@pytest.mark.usefixtures("diarizer")
def test_clip_embedding_is_the_models(
    client: TestClient, speech: bytes, embedding_model: Any, tmp_path: Path
) -> None:
    import torch

    resp = post(client, speech)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"embedding", "dim", "duration"}
    assert body["dim"] == len(body["embedding"]) == embedding_model.dimension == 256
    path = tmp_path / "speech.wav"
    path.write_bytes(speech)
    audio = engine_of(client)._audio(str(path))
    assert body["duration"] == pytest.approx(len(audio) / 16_000, abs=1e-3)
    direct = embedding_model(torch.from_numpy(audio)[None, None, :])[0]
    np.testing.assert_allclose(body["embedding"], direct / np.linalg.norm(direct), atol=1e-5)
    assert math.isclose(float(np.linalg.norm(body["embedding"])), 1.0, abs_tol=1e-5)


@pytest.mark.usefixtures("diarizer")
@pytest.mark.parametrize(
    ("audio", "status", "detail"),
    [
        (silent_wav(0.01), 400, "too short for a voice embedding"),
        (b"this is not audio at all", 400, "Could not decode"),
        (b"", 400, "empty"),
    ],
    ids=["too-short", "not-audio", "empty"],
)
def test_bad_clip(client: TestClient, audio: bytes, status: int, detail: str) -> None:
    resp = post(client, audio)
    assert resp.status_code == status
    assert detail in resp.json()["detail"]


def test_speakers_return_each_speakers_embedding(
    client: TestClient, speech: bytes, diarizer: TwoSpeakerPipeline, tmp_path: Path
) -> None:
    import torch

    body = post(client, speech, SPEAKERS, return_embeddings="true").json()
    vectors = body["speaker_embeddings"]
    assert set(vectors) == set(body["speakers_detected"]) <= {"Speaker_0", "Speaker_1"}
    path = tmp_path / "speech.wav"
    path.write_bytes(speech)
    audio = torch.from_numpy(engine_of(client)._audio(str(path)))
    half = len(audio) // 2
    expected = {  # Speaker_0 is the one heard first: pyannote's SPEAKER_01
        "Speaker_0": diarizer._embedding(audio[None, None, :half])[0],
        "Speaker_1": diarizer._embedding(audio[None, None, half:])[0],
    }
    for label, vector in vectors.items():
        assert len(vector) == 256
        np.testing.assert_allclose(vector, expected[label], rtol=1e-4, atol=1e-5)
    assert "speaker_embeddings" not in post(client, speech, SPEAKERS).json()
