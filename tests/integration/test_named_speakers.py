"""Transcripts name enrolled people: the speakers view and the transcribe action, on WhisperX.

The simulated WhisperX answers the speaker embeddings the test sets (no model
runs here), so who matches whom is decided by controlled vectors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.spark_audio.const import DOMAIN
from tests.integration.long_audio import collect_events, wait_until
from tests.integration.test_speaker_enrolment import enroll, household, recording
from tests.spark_sim.server import SparkSim

__all__ = ["household"]  # the fixture, shared with the enrolment tests

BASE = "/api/spark_audio/v1"
ANNA = [1.0, 0.0, 0.0, 0.0]
BEN = [0.0, 1.0, 0.0, 0.0]
SPEAKERS_PATH = "/v1/audio/transcribe-with-speakers"


async def enroll_household(hass: HomeAssistant, sim: SparkSim, folder: Path) -> None:
    """Anna and Ben enrolled with one 12 s recording each."""
    whisperx = sim.states["whisperx"]
    for person, voice in (("person.anna", ANNA), ("person.ben", BEN)):
        whisperx.apply({"clip_embedding": voice})
        await enroll(hass, person, await recording(folder, f"{person}.wav", 12.0))
    whisperx.apply({"clip_embedding": None, "transcript": "one two three four five six"})


async def post_speakers(
    hass_client: ClientSessionGenerator, audio: bytes, **fields: str
) -> aiohttp.ClientResponse:
    client = await hass_client()
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", audio, filename="meeting.wav", content_type="audio/wav")
    response: aiohttp.ClientResponse = await client.post(
        f"{BASE}/audio/transcribe-with-speakers", data=form
    )
    return response


def speakers_asked(sim: SparkSim) -> list[dict[str, str]]:
    return [r.fields for r in sim.states["whisperx"].requests if r.path == SPEAKERS_PATH]


async def test_speakers_view_names_the_enrolled_and_keeps_unknown_voices(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    household: Path,
) -> None:
    """Speaker_0 sounds like Anna, Speaker_1 like nobody enrolled: 'Anna' and 'Speaker_1'."""
    await enroll_household(hass, spark_sim, household)
    spark_sim.states["whisperx"].apply(
        {"speaker_embeddings": {"Speaker_0": [0.95, 0.1, 0.0, 0.2], "Speaker_1": [0, 0, 1, 0]}}
    )
    meeting = (await recording(household, "meeting.wav", 6.0)).read_bytes()
    response = await post_speakers(hass_client, meeting, num_speakers="2")
    assert response.status == 200, await response.text()
    body = await response.json()
    assert speakers_asked(spark_sim)[-1]["return_embeddings"] == "true"
    assert "speaker_embeddings" not in body  # biometric data stays inside HA
    assert body["speakers_detected"] == ["Anna", "Speaker_1"]
    labels = {(s["speaker"], s.get("person")) for s in body["segments"]}
    assert labels == {("Anna", "person.anna"), ("Speaker_1", None)}

    srt = await post_speakers(hass_client, meeting, num_speakers="2", response_format="srt")
    assert "[Anna] " in await srt.text()
    vtt = await post_speakers(hass_client, meeting, num_speakers="2", response_format="vtt")
    text = await vtt.text()
    assert "<v Anna>" in text
    assert "<v Speaker_1>" in text


async def test_two_speakers_who_both_resemble_anna_name_only_one(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    household: Path,
) -> None:
    await enroll_household(hass, spark_sim, household)
    spark_sim.states["whisperx"].apply(
        {"speaker_embeddings": {"Speaker_0": [0.9, 0, 0.4, 0], "Speaker_1": [0.95, 0, 0.1, 0]}}
    )
    meeting = (await recording(household, "meeting.wav", 6.0)).read_bytes()
    body = await (await post_speakers(hass_client, meeting, num_speakers="2")).json()
    assert body["speakers_detected"] == ["Speaker_0", "Anna"]
    assert {s["speaker"] for s in body["segments"]} == {"Speaker_0", "Anna"}


async def test_nobody_enrolled_asks_for_no_embeddings_and_keeps_the_shape(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    household: Path,
) -> None:
    meeting = (await recording(household, "meeting.wav", 6.0)).read_bytes()
    body = await (await post_speakers(hass_client, meeting)).json()
    assert "return_embeddings" not in speakers_asked(spark_sim)[-1]
    assert all(set(s) == {"start_ms", "end_ms", "speaker", "text"} for s in body["segments"])
    assert all(s["speaker"].startswith("Speaker_") for s in body["segments"])


async def test_transcribe_action_names_speakers_in_response_and_captions(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, household: Path
) -> None:
    await enroll_household(hass, spark_sim, household)
    spark_sim.states["whisperx"].apply(
        {"speaker_embeddings": {"Speaker_0": BEN, "Speaker_1": ANNA}}
    )
    media = await recording(household, "kitchen.wav", 6.0)
    result: Any = await hass.services.async_call(
        DOMAIN,
        "transcribe",
        {"media": str(media), "speakers": True, "num_speakers": 2, "write": ["srt", "json"]},
        blocking=True,
        return_response=True,
    )
    assert set(result["speakers_detected"]) == {"Ben", "Anna"}
    assert {s["person"] for s in result["segments"]} == {"person.ben", "person.anna"}
    srt = (household / "kitchen.srt").read_text()
    assert "[Ben] " in srt
    assert "[Anna] " in srt
    assert "Speaker_" not in srt
    written = json.loads((household / "kitchen.json").read_text())
    assert written["segments"] == result["segments"]


async def test_parakeet_and_sortformer_keep_speaker_labels(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    without_whisperx: MockConfigEntry,
    household: Path,
) -> None:
    """No WhisperX, no embeddings: even with voiceprints stored, labels stay Speaker_N."""
    await hass.async_block_till_done()
    store = hass.data["spark_audio_voiceprints"]
    await store.async_add("person.anna", [(ANNA, 12.0)])
    spark_sim.states["parakeet"].transcript = "one two three four five six"
    meeting = (await recording(household, "meeting.wav", 6.0)).read_bytes()
    response = await post_speakers(hass_client, meeting)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert all(s["speaker"].startswith("Speaker_") for s in body["segments"])
    assert all("person" not in s for s in body["segments"])


async def test_background_job_names_speakers_in_its_captions(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, household: Path
) -> None:
    """A queued transcription (wait: false) goes the same way: the done event and file name Anna."""
    await enroll_household(hass, spark_sim, household)
    spark_sim.states["whisperx"].apply({"speaker_embeddings": {"Speaker_0": ANNA}})
    media = await recording(household, "call.wav", 6.0)
    done = collect_events(hass, "spark_audio_transcription_done")
    await hass.services.async_call(
        DOMAIN,
        "transcribe",
        {"media": str(media), "num_speakers": 1, "write": ["vtt"], "wait": False},
        blocking=True,
        return_response=True,
    )
    await wait_until(hass, lambda: bool(done))
    assert done[0]["speakers"] == ["Anna"]
    assert "<v Anna>" in (household / "call.vtt").read_text()
