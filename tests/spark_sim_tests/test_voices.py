"""The simulated WhisperX's speaker embeddings: shapes, test-controlled vectors, 503, bad input."""

from __future__ import annotations

import math

import aiohttp
import pytest

from tests.spark_sim.server import SparkSim
from tests.spark_sim.voices import EMBEDDING_DIM
from tests.spark_sim_tests.test_sim import clip, post_json, upload


async def test_clip_embedding_is_deterministic_per_audio_until_a_test_sets_one(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """Same audio, same unit vector; other audio, another; a set vector wins."""
    url = f"{sim.url('whisperx')}/v1/audio/embeddings"
    status, first = await post_json(session, url, upload(clip(2.0)))
    assert status == 200
    assert set(first) == {"embedding", "dim", "duration"}
    assert first["dim"] == len(first["embedding"]) == EMBEDDING_DIM
    assert first["duration"] == pytest.approx(2.0)
    assert math.fsum(v * v for v in first["embedding"]) == pytest.approx(1.0, abs=1e-4)
    _, again = await post_json(session, url, upload(clip(2.0)))
    _, other = await post_json(session, url, upload(clip(3.0)))
    assert again["embedding"] == first["embedding"]
    assert other["embedding"] != first["embedding"]
    sim.states["whisperx"].apply({"clip_embedding": [0.0, 2.0, 0.0]})
    _, chosen = await post_json(session, url, upload(clip(2.0)))
    assert chosen == {"embedding": [0.0, 2.0, 0.0], "dim": 3, "duration": 2.0}


async def test_speakers_endpoint_returns_one_embedding_per_speaker_when_asked(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    state = sim.states["whisperx"]
    state.apply(
        {
            "transcript": "one two three four five six",
            "rtf": 0.0,
            "speaker_embeddings": {"Speaker_1": [1.0, 0.0]},
        }
    )
    url = f"{sim.url('whisperx')}/v1/audio/transcribe-with-speakers"
    _, plain = await post_json(session, url, upload(clip(6.0)))
    assert "speaker_embeddings" not in plain
    status, body = await post_json(session, url, upload(clip(6.0), return_embeddings="true"))
    assert status == 200
    assert set(body["speaker_embeddings"]) == set(body["speakers_detected"])
    assert body["speaker_embeddings"]["Speaker_1"] == [1.0, 0.0]
    assert len(body["speaker_embeddings"]["Speaker_0"]) == EMBEDDING_DIM
    status, bad = await post_json(session, url, upload(clip(1.0), return_embeddings="maybe"))
    assert status == 422
    assert bad["detail"][0]["loc"] == ["body", "return_embeddings"]


async def test_no_diarizer_answers_503_on_both(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    sim.states["whisperx"].apply({"diarizer": False})
    base = sim.url("whisperx")
    for path in ("/v1/audio/embeddings", "/v1/audio/transcribe-with-speakers"):
        status, body = await post_json(session, f"{base}{path}", upload(clip(1.0)))
        assert status == 503, path
        assert "diarization" in body["detail"]


async def test_embeddings_input_errors_and_key(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """Missing file 422, undecodable audio 400, the bearer key like every endpoint."""
    url = f"{sim.url('whisperx')}/v1/audio/embeddings"
    form = aiohttp.FormData()
    form.add_field("language", "en")
    status, _ = await post_json(session, url, form)
    assert status == 422
    status, _ = await post_json(session, url, upload(b"not audio at all"))
    assert status == 400
    sim.states["whisperx"].api_key = "sim-key"
    status, _ = await post_json(session, url, upload(clip(1.0)))
    assert status == 401


@pytest.mark.parametrize(
    "changes",
    [
        {"clip_embedding": []},
        {"clip_embedding": [0.0, 0.0]},
        {"clip_embedding": ["a"]},
        {"clip_embedding": [True]},
        {"speaker_embeddings": [1.0]},
        {"speaker_embeddings": {"Speaker_0": "x"}},
        {"diarizer": "no"},
    ],
)
async def test_voice_knobs_are_validated(
    sim: SparkSim, session: aiohttp.ClientSession, changes: dict[str, object]
) -> None:
    async with session.post(f"{sim.url('whisperx')}/_sim/control", json=changes) as resp:
        assert resp.status == 400
    async with session.get(f"{sim.url('whisperx')}/_sim/state") as resp:
        state = await resp.json()
    assert (state["clip_embedding"], state["speaker_embeddings"], state["diarizer"]) == (
        None,
        {},
        True,
    )
