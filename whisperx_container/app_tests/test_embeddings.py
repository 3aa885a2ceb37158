"""Voice embeddings with the stub engine: the clip endpoint and the speakers' embeddings.

The stub derives its vectors from the uploaded bytes (no model runs here): what
these tests check is the HTTP contract the integration relies on (the shape the
simulator answers), the errors, and that labels match ``speakers_detected``.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.engine import Diarization, Turn
from app.merge import speaker_names
from app.stub_engine import EMBEDDING_DIM, NO_TOKEN_REASON, StubEngine
from app.voice_embedding import clip_windows, finite_vectors

from .conftest import wav_bytes

EMBEDDINGS = "/v1/audio/embeddings"
SPEAKERS = "/v1/audio/transcribe-with-speakers"
WAV4 = wav_bytes(4.0)


@pytest.fixture(autouse=True)
def _own_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spooled uploads land in tmp_path so tests can see them go."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def post(client: TestClient, path: str, body: bytes = WAV4, **data: str) -> Any:
    return client.post(path, files={"file": ("a.wav", body, "audio/wav")}, data=data)


def test_clip_embedding_shape(client: TestClient, engine: StubEngine, tmp_path: Path) -> None:
    resp = post(client, EMBEDDINGS)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"embedding", "dim", "duration"}
    assert body["dim"] == len(body["embedding"]) == EMBEDDING_DIM
    assert body["duration"] == 4.0
    assert math.isclose(math.hypot(*body["embedding"]), 1.0, abs_tol=1e-4)
    assert engine.jobs == ["embedding"]
    assert engine.released == 1
    assert list(tmp_path.glob("whisperx-*")) == []


def test_same_clip_same_voice_other_clip_other_voice(client: TestClient) -> None:
    first = post(client, EMBEDDINGS).json()["embedding"]
    again = post(client, EMBEDDINGS).json()["embedding"]
    other = post(client, EMBEDDINGS, wav_bytes(5.0)).json()["embedding"]
    assert first == again
    assert first != other


def test_no_diarizer_is_503_with_the_reason(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    engine = StubEngine("small")
    client = make_client(engine)
    for path in (EMBEDDINGS, SPEAKERS):
        resp = post(client, path, return_embeddings="true")
        assert resp.status_code == 503
        assert NO_TOKEN_REASON in resp.json()["detail"]
    assert engine.jobs == []
    assert list(tmp_path.glob("whisperx-*")) == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "empty"),
        (b"this is not audio at all", "Could not decode"),
        (wav_bytes(0), "no samples"),
        (wav_bytes(0.2), "too short for a voice embedding"),
    ],
    ids=["empty", "not-audio", "no-samples", "too-short"],
)
def test_clip_bad_input(client: TestClient, body: bytes, detail: str, tmp_path: Path) -> None:
    resp = post(client, EMBEDDINGS, body)
    assert resp.status_code == 400
    assert detail in resp.json()["detail"]
    assert list(tmp_path.glob("whisperx-*")) == []


def test_clip_missing_file_and_too_long(make_client: Callable[..., TestClient]) -> None:
    client = make_client(StubEngine(hf_token="x", max_audio_s=3))
    resp = client.post(EMBEDDINGS, data={})
    assert resp.status_code == 400
    assert resp.json()["detail"] == "file is required"
    assert post(client, EMBEDDINGS).status_code == 413


def test_speakers_return_one_embedding_per_detected_speaker(
    client: TestClient, engine: StubEngine
) -> None:
    body = post(client, SPEAKERS, wav_bytes(9.0), return_embeddings="true").json()
    assert body["speakers_detected"] == ["Speaker_0", "Speaker_1"]
    vectors = body["speaker_embeddings"]
    assert set(vectors) == set(body["speakers_detected"])
    assert all(len(v) == EMBEDDING_DIM for v in vectors.values())
    assert vectors["Speaker_0"] != vectors["Speaker_1"]
    plain = post(client, SPEAKERS, wav_bytes(9.0)).json()
    assert "speaker_embeddings" not in plain


def test_speakers_bad_return_embeddings_is_422(client: TestClient, engine: StubEngine) -> None:
    resp = post(client, SPEAKERS, return_embeddings="maybe")
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "return_embeddings"]
    assert engine.jobs == []


def test_embeddings_follow_the_renamed_labels(
    client: TestClient, engine: StubEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyannote's labels are renamed by first appearance; each vector must follow its speaker.

    The stub's diarization is replaced by one whose labels appear out of order,
    and a speaker heard under no word is left out (speakers_detected lists only
    speakers with words).
    """
    found = Diarization(
        (Turn(0.0, 4.5, "SPEAKER_07"), Turn(4.5, 9.0, "SPEAKER_02"), Turn(20.0, 21.0, "X")),
        {"SPEAKER_02": (0.0, 1.0), "SPEAKER_07": (1.0, 0.0), "X": (0.5, 0.5)},
    )
    monkeypatch.setattr(engine, "diarize_with_embeddings", lambda *_: found)
    body = post(client, SPEAKERS, wav_bytes(9.0), return_embeddings="true").json()
    assert body["speakers_detected"] == ["Speaker_0", "Speaker_1"]
    assert body["speaker_embeddings"] == {"Speaker_0": [1.0, 0.0], "Speaker_1": [0.0, 1.0]}


def test_speaker_names_by_first_appearance() -> None:
    turns = [Turn(5.0, 6.0, "B"), Turn(0.0, 1.0, "A"), Turn(7.0, 8.0, "B")]
    assert speaker_names(turns) == {"A": "Speaker_0", "B": "Speaker_1"}


def test_clip_windows_cover_the_clip_and_drop_a_short_tail() -> None:
    assert clip_windows(25, 10, 3) == [(0, 10), (10, 20), (20, 25)]
    assert clip_windows(21, 10, 3) == [(0, 10), (10, 20)]
    assert clip_windows(2, 10, 3) == []


def test_finite_vectors_leave_out_what_json_cannot_carry() -> None:
    raw = {"A": [0.5, 0.5], "B": [float("nan"), 1.0], "C": [], "D": [float("inf")]}
    assert finite_vectors(raw) == {"A": (0.5, 0.5)}
