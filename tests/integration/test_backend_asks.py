"""Each caller asks the backend for exactly what it uses (issue 20): the table of asks.

Word timing is a wav2vec2 alignment on WhisperX (and the first time in a
language, a download of its aligner), so it is asked only where words are
used. What the simulated backends recorded is what a real one would have
received; the gateway's answers stay what they were when it asked for
everything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from homeassistant.components import stt
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.spark_audio.const import DOMAIN
from custom_components.spark_audio.spark import ParakeetClient, WhisperXClient
from custom_components.spark_audio.spark.clients.transcription import (
    BackendAsk,
    TranscriptionOptions,
)
from custom_components.spark_audio.spark.transcripts.formats import render_transcription
from tests.integration.gateway_harness import BASE, Client, body, form_type, part
from tests.integration.test_stt import chunks, entity, metadata
from tests.spark_sim.audio import speak, speak_pcm
from tests.spark_sim.faults import RecordedRequest
from tests.spark_sim.server import SparkSim

TRANSCRIBE = "/v1/audio/transcriptions"
TEXT = "good morning everyone and welcome"
JSON = [("response_format", "json")]
SEGMENTS = [("response_format", "verbose_json"), ("timestamp_granularities[]", "segment")]
WORDS = [("response_format", "verbose_json"), ("timestamp_granularities[]", "word")]
BOTH = [*WORDS, ("timestamp_granularities[]", "segment")]
EVERYTHING = BackendAsk("verbose_json", ("word", "segment"))
"""What every gateway request asked before issue 20, whatever the client wanted."""

# (the client's response_format, its timestamp_granularities[]) -> what the backend received
GATEWAY_TABLE: list[tuple[str, list[str], list[tuple[str, str]]]] = [
    ("json", [], JSON),
    ("text", [], JSON),
    ("json", ["word"], JSON),  # OpenAI: granularities count only with verbose_json
    ("srt", [], SEGMENTS),
    ("vtt", [], SEGMENTS),
    ("vtt", ["word"], SEGMENTS),
    ("verbose_json", [], SEGMENTS),  # OpenAI's default granularity
    ("verbose_json", ["segment"], SEGMENTS),
    ("verbose_json", ["word"], WORDS),
    ("verbose_json", ["word", "segment"], BOTH),
]
SERVICES = {"parakeet-tdt-0.6b-v3": "parakeet", "whisperx": "whisperx"}


def asked(record: RecordedRequest) -> list[tuple[str, str]]:
    """The format and timing fields a backend received, in the order it received them."""
    names = ("response_format", "timestamp_granularities[]")
    return [(name, value) for name, value in record.field_list if name in names]


def received(sim: SparkSim, service: str, file_name: str) -> RecordedRequest:
    """The one answered transcription request that carried ``file_name``."""
    (record,) = [
        r
        for r in sim.states[service].requests
        if r.path == TRANSCRIBE and r.file_name == file_name and r.status == 200
    ]
    return record


@pytest.fixture
async def clip() -> bytes:
    return await speak(TEXT, "en-US", 16000)


def gateway_form(
    order: str, model: str, fmt: str, granularities: list[str], clip: bytes, name: str
) -> bytes:
    """The client's form with its fields before the file, or some or all after it."""
    model_part = part("model", model)
    options = [
        part("response_format", fmt),
        *(part("timestamp_granularities[]", g) for g in granularities),
        part("language", "en"),
    ]
    file_part = part("file", clip, filename=name, headers={"Content-Type": "audio/wav"})
    if order == "fields first":
        return body(model_part, *options, file_part)
    if order == "model first":  # the OpenAI SDK's order; curl's -F options after -F file
        return body(model_part, file_part, *options)
    return body(file_part, model_part, *options)


@pytest.mark.parametrize("order", ["fields first", "model first", "file first"])
@pytest.mark.parametrize("model", list(SERVICES))
async def test_gateway_asks_what_the_format_needs(
    hass: HomeAssistant,
    gateway: Client,
    spark_sim: SparkSim,
    clip: bytes,
    order: str,
    model: str,
) -> None:
    """Each (format, granularities) -> the backend's ask, wherever the fields come in the form.

    The answers are the ones the gateway rendered when it asked for words and
    segments every time: the minimal ask changes nothing a client sees.
    """
    service = SERVICES[model]
    spark_sim.states[service].transcript = TEXT
    session = aiohttp.ClientSession()
    port = spark_sim.ports[service]
    direct = (ParakeetClient if service == "parakeet" else WhisperXClient)(
        session, "127.0.0.1", port
    )
    table: list[tuple[str, list[str], list[tuple[str, str]]]] = []
    try:
        full = await direct.transcribe_raw(clip, TranscriptionOptions(EVERYTHING, language="en"))
        for row, (fmt, granularities, _) in enumerate(GATEWAY_TABLE):
            name = f"ask-{row}.wav"
            response = await gateway.post(
                f"{BASE}/audio/transcriptions",
                data=gateway_form(order, model, fmt, granularities, clip, name),
                headers={"Content-Type": form_type()},
            )
            assert response.status == 200, await response.text()
            content_type, expected = render_transcription(full, fmt, granularities)
            assert response.headers["Content-Type"] == content_type
            assert await response.read() == expected, (fmt, granularities)
            table.append((fmt, granularities, asked(received(spark_sim, service, name))))
    finally:
        await session.close()
    assert table == GATEWAY_TABLE


@pytest.mark.parametrize("service", ["parakeet", "whisperx"])
async def test_assist_asks_for_text_only(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, service: str
) -> None:
    """A voice command needs its words, not their timing: no alignment for Assist on WhisperX."""
    spark_sim.states[service].transcript = "turn on the kitchen light"
    pcm = await speak_pcm("turn on the kitchen light", "en-US", 16000)
    found = entity(hass, f"stt.127_0_0_1_{service}_speech_to_text")
    result = await found.async_process_audio_stream(metadata("en"), chunks(pcm))
    assert result.result is stt.SpeechResultState.SUCCESS
    assert result.text == "turn on the kitchen light"
    (record,) = [
        r
        for r in spark_sim.states[service].requests
        if r.path == TRANSCRIBE and r.file_bytes == 44 + len(pcm)
    ]
    assert asked(record) == JSON


async def transcribe_action(hass: HomeAssistant, tmp_path: Path, clip: bytes, **data: Any) -> Any:
    """The ``spark_audio.transcribe`` action on a file under HA's media folder."""
    hass.config.media_dirs = {"local": str(tmp_path)}
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    media = tmp_path / "note.wav"
    await hass.async_add_executor_job(media.write_bytes, clip)
    return await hass.services.async_call(
        DOMAIN, "transcribe", {"media": str(media), **data}, blocking=True, return_response=True
    )


@pytest.mark.parametrize("model", ["parakeet", "whisperx"])
async def test_transcribe_action_asks_for_segments_not_words(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    tmp_path: Path,
    clip: bytes,
    model: str,
) -> None:
    """The plain action reports language and duration (verbose_json), never words."""
    spark_sim.states[model].transcript = TEXT
    result = await transcribe_action(hass, tmp_path, clip, model=model, language="en")
    assert (result["text"], result["language"]) == (TEXT, "en")
    assert result["duration"] == pytest.approx((len(clip) - 44) / 32000, abs=0.01)
    assert asked(received(spark_sim, model, "audio")) == SEGMENTS


async def test_speakers_on_parakeet_ask_for_words(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    without_whisperx: MockConfigEntry,
    tmp_path: Path,
    clip: bytes,
) -> None:
    """The merge with Sortformer's turns places words: the speakers path asks for them."""
    spark_sim.states["parakeet"].transcript = TEXT
    client = await hass_client()
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("file", clip, filename="meeting.wav", content_type="audio/wav")
    response = await client.post(f"{BASE}/audio/transcribe-with-speakers", data=form)
    assert response.status == 200, await response.text()
    assert " ".join(s["text"] for s in (await response.json())["segments"]) == TEXT
    assert asked(received(spark_sim, "parakeet", "meeting.wav")) == WORDS

    result = await transcribe_action(hass, tmp_path, clip, speakers=True, write=["srt"])
    assert result["segments"]
    assert asked(received(spark_sim, "parakeet", "note.wav")) == WORDS
