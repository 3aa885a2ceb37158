"""WhisperXClient's voice embeddings against the simulated container."""

from __future__ import annotations

import aiohttp
import pytest

from custom_components.spark_audio.spark import SparkResponseError, WhisperXClient
from custom_components.spark_audio.spark.clients.whisperx import parse_speaker_transcript
from tests.spark_sim.audio import tone, wav_bytes
from tests.spark_sim.server import SparkSim


def whisperx(sim: SparkSim, session: aiohttp.ClientSession) -> WhisperXClient:
    return WhisperXClient(session, "127.0.0.1", sim.ports["whisperx"], timeout=5.0)


def clip(seconds: float) -> bytes:
    return wav_bytes(tone(seconds, 16000), 16000)


async def test_embedding_of_a_clip(spark_sim: SparkSim, session: aiohttp.ClientSession) -> None:
    spark_sim.states["whisperx"].apply({"clip_embedding": [0.5, 0.5, 0.0]})
    result = await whisperx(spark_sim, session).embedding(clip(4.0))
    assert result.vector == (0.5, 0.5, 0.0)
    assert result.duration == pytest.approx(4.0)
    assert spark_sim.states["whisperx"].requests[-1].path == "/v1/audio/embeddings"


async def test_embedding_without_diarizer_is_a_503(
    spark_sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    spark_sim.states["whisperx"].apply({"diarizer": False})
    with pytest.raises(SparkResponseError) as caught:
        await whisperx(spark_sim, session).embedding(clip(1.0))
    assert caught.value.status == 503


async def test_speaker_embeddings_only_when_asked(
    spark_sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    state = spark_sim.states["whisperx"]
    state.apply({"rtf": 0.0, "speaker_embeddings": {"Speaker_0": [1.0, 0.0]}})
    client = whisperx(spark_sim, session)
    plain = await client.transcribe_with_speakers(clip(4.0))
    assert plain.speaker_embeddings == {}
    assert "return_embeddings" not in state.requests[-1].fields
    named = await client.transcribe_with_speakers(clip(4.0), return_embeddings=True)
    assert state.requests[-1].fields["return_embeddings"] == "true"
    assert set(named.speaker_embeddings) == set(named.speakers_detected)
    assert named.speaker_embeddings["Speaker_0"] == (1.0, 0.0)


@pytest.mark.parametrize("bad", [[], ["x"], [float("nan")], "vector", {"a": 1}])
def test_malformed_speaker_embeddings_are_a_response_error(bad: object) -> None:
    body = {"segments": [], "speaker_embeddings": {"Speaker_0": bad}}
    with pytest.raises(SparkResponseError, match="speaker embeddings"):
        parse_speaker_transcript(body)
