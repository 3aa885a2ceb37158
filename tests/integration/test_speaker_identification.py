"""Who gave the voice command: event and last-speaker sensor, beside the transcription.

The simulated WhisperX answers the embedding the test sets for the command's
audio (no model runs here), so matches are decided by controlled vectors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.components import stt
from homeassistant.core import HomeAssistant, ServiceCall, State
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_mock_service,
    mock_restore_cache_with_extra_data,
)

from custom_components.spark_audio.const import DOMAIN, SparkService
from custom_components.spark_audio.device_trigger import async_get_trigger_capabilities
from custom_components.spark_audio.recent_commands import MAX_COMMAND_BYTES
from custom_components.spark_audio.spark import WhisperXClient
from custom_components.spark_audio.spark.clients.whisperx import ClipEmbedding
from custom_components.spark_audio.speaker_identification import (
    EVENT_SPEAKER_IDENTIFIED,
    CommandIdentification,
)
from custom_components.spark_audio.voiceprint_store import VOICEPRINTS_KEY
from tests.integration.long_audio import collect_events, wait_until
from tests.integration.test_automation_hooks import device_id
from tests.integration.test_stt import chunks, entity, metadata
from tests.integration.test_translations import untranslated_attributes
from tests.spark_sim.audio import remember_speech, speak_pcm
from tests.spark_sim.faults import Fault
from tests.spark_sim.server import SparkSim

ANNA = [1.0, 0.0, 0.0, 0.0]
PARAKEET_STT = "stt.127_0_0_1_parakeet_speech_to_text"
WHISPERX_STT = "stt.127_0_0_1_whisperx_speech_to_text"


@pytest.fixture
async def anna_enrolled(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Anna's voiceprint, put in the store directly (enrolment has its own tests)."""
    assert await async_setup_component(hass, "person", {"person": [{"id": "anna", "name": "Anna"}]})
    await hass.data[VOICEPRINTS_KEY].async_add("person.anna", [(ANNA, 12.0)])


@pytest.fixture
async def command() -> bytes:
    return await speak_pcm("turn on the kitchen light", "en-US", 16000)


def embedding_requests(sim: SparkSim) -> list[Any]:
    return [r for r in sim.states["whisperx"].requests if r.path == "/v1/audio/embeddings"]


@pytest.mark.usefixtures("anna_enrolled")
@pytest.mark.parametrize("stt_entity", [PARAKEET_STT, WHISPERX_STT])
async def test_command_speaker_is_named_in_event_and_sensor(
    hass: HomeAssistant, spark_sim: SparkSim, command: bytes, stt_entity: str
) -> None:
    spark_sim.states["whisperx"].apply({"clip_embedding": [0.9, 0.1, 0.0, 0.1]})
    seen = collect_events(hass, EVENT_SPEAKER_IDENTIFIED)
    result = await entity(hass, stt_entity).async_process_audio_stream(metadata(), chunks(command))
    assert result.result is stt.SpeechResultState.SUCCESS
    assert result.text == "turn on the kitchen light"
    await wait_until(hass, lambda: bool(seen))
    assert seen[0]["entity_id"] == stt_entity
    assert (seen[0]["person"], seen[0]["name"]) == ("person.anna", "Anna")
    assert seen[0]["score"] == pytest.approx(0.9 / (0.83**0.5), abs=1e-3)
    assert untranslated_attributes(hass) == {}  # the last speaker sensor's details too
    # The whole command went to the embeddings endpoint, streamed like the transcription.
    request = embedding_requests(spark_sim)[-1]
    assert request.file_bytes == 44 + len(command)
    sensor = hass.states.get(
        stt_entity.replace("stt.", "sensor.").replace("speech_to_text", "last_speaker")
    )
    assert sensor is not None
    assert sensor.state == "Anna"
    assert sensor.attributes["person"] == "person.anna"


@pytest.mark.usefixtures("anna_enrolled")
async def test_unknown_voice_is_reported_as_unknown(
    hass: HomeAssistant, spark_sim: SparkSim, command: bytes
) -> None:
    spark_sim.states["whisperx"].apply({"clip_embedding": [0.0, 0.0, 1.0, 0.0]})
    seen = collect_events(hass, EVENT_SPEAKER_IDENTIFIED)
    await entity(hass).async_process_audio_stream(metadata(), chunks(command))
    await wait_until(hass, lambda: bool(seen))
    assert (seen[0]["person"], seen[0]["name"], seen[0]["score"]) == (None, None, 0.0)
    sensor = hass.states.get("sensor.127_0_0_1_parakeet_last_speaker")
    assert sensor is not None
    assert sensor.state == "unknown"
    assert sensor.attributes["person"] is None


async def test_nobody_enrolled_sends_nothing_to_identify(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, command: bytes
) -> None:
    seen = collect_events(hass, EVENT_SPEAKER_IDENTIFIED)
    result = await entity(hass).async_process_audio_stream(metadata(), chunks(command))
    assert result.text == "turn on the kitchen light"
    await hass.async_block_till_done()
    assert embedding_requests(spark_sim) == []
    assert seen == []


@pytest.mark.usefixtures("anna_enrolled")
async def test_text_does_not_wait_for_identification(hass: HomeAssistant, command: bytes) -> None:
    """The text is answered while identification is still held back.

    The embedding call is replaced by one that waits for the test's go (the
    simulator answers too fast to catch it pending): the STT result arrives
    first, the event only once the test lets identification finish.
    """
    go = asyncio.Event()
    started = asyncio.Event()

    async def held_embedding(self: WhisperXClient, audio: Any, **_: Any) -> ClipEmbedding:
        started.set()
        total = 0.0
        async for piece in audio:
            total += len(piece) / 32000
        await go.wait()
        return ClipEmbedding(vector=tuple(ANNA), duration=total)

    seen = collect_events(hass, EVENT_SPEAKER_IDENTIFIED)
    with patch.object(WhisperXClient, "embedding", held_embedding):
        result = await entity(hass).async_process_audio_stream(metadata(), chunks(command))
        assert result.text == "turn on the kitchen light"
        assert started.is_set()
        await hass.async_block_till_done()
        assert seen == []
        go.set()
        await wait_until(hass, lambda: bool(seen))
    assert seen[0]["person"] == "person.anna"


@pytest.mark.usefixtures("anna_enrolled")
async def test_failed_transcription_drops_the_identification(
    hass: HomeAssistant, spark_sim: SparkSim
) -> None:
    """Parakeet resets the connection mid-command: error result, no event, no task left over."""
    spark_sim.states["parakeet"].fault = Fault.DOWN
    seen = collect_events(hass, EVENT_SPEAKER_IDENTIFIED)

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"\0" * 320
            await asyncio.sleep(0)

    with patch.object(
        CommandIdentification, "start", autospec=True, side_effect=CommandIdentification.start
    ) as start:
        result = await entity(hass).async_process_audio_stream(metadata(), endless())
    assert result.result is stt.SpeechResultState.ERROR
    assert start.call_count == 1  # identification did begin, and was dropped
    await hass.async_block_till_done()
    assert seen == []
    assert not [
        t for t in asyncio.all_tasks() if "speaker identification" in t.get_name() and not t.done()
    ]


@pytest.mark.usefixtures("anna_enrolled")
@pytest.mark.parametrize("stt_entity", [PARAKEET_STT, WHISPERX_STT])
async def test_a_stream_longer_than_a_command_is_transcribed_not_identified(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    monkeypatch: pytest.MonkeyPatch,
    stt_entity: str,
) -> None:
    """Anybody may post endless audio to the STT entity: its copy stops at the bound.

    The text comes as usual; no identification runs; the copy held in memory
    (read at every chunk from the command's identification) never passes
    ``MAX_COMMAND_BYTES`` and is let go past it.
    """
    pcm = bytes(MAX_COMMAND_BYTES + 64 * 1024)  # silence: about 67 s at 16 kHz
    remember_speech(pcm, "turn on the kitchen light")  # what the simulated services hear
    spark_sim.states["whisperx"].apply({"clip_embedding": ANNA})
    seen = collect_events(hass, EVENT_SPEAKER_IDENTIFIED)
    made: list[CommandIdentification] = []
    begin = CommandIdentification.begin.__func__  # type: ignore[attr-defined]

    def capturing_begin(cls: type[CommandIdentification], *args: Any) -> CommandIdentification:
        identification: CommandIdentification = begin(cls, *args)
        made.append(identification)
        return identification

    monkeypatch.setattr(CommandIdentification, "begin", classmethod(capturing_begin))
    held: list[int] = []

    async def watched() -> AsyncIterator[bytes]:
        async for chunk in chunks(pcm):
            yield chunk
            held.append(made[0].held_bytes)

    result = await entity(hass, stt_entity).async_process_audio_stream(metadata(), watched())
    assert result.result is stt.SpeechResultState.SUCCESS
    assert result.text == "turn on the kitchen light"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert seen == []
    # Parakeet's copy streams to WhisperX as it comes: that upload is abandoned (499).
    assert [r.status for r in embedding_requests(spark_sim) if r.status != 499] == []
    assert max(held) <= MAX_COMMAND_BYTES
    assert held[-1] == 0  # the copy was dropped, not kept to the end
    if stt_entity == WHISPERX_STT:  # nothing reads it before the text: it filled to the bound
        assert max(held) > MAX_COMMAND_BYTES - 64 * 1024


async def test_no_last_speaker_sensor_without_whisperx(
    hass: HomeAssistant, without_whisperx: MockConfigEntry
) -> None:
    await hass.async_block_till_done()
    assert hass.states.get("sensor.127_0_0_1_parakeet_last_speaker") is None


@pytest.mark.usefixtures("anna_enrolled")
async def test_device_trigger_runs_for_the_named_person_only(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    command: bytes,
) -> None:
    """A device automation on Parakeet's device, narrowed to Anna: runs for her, not for others."""
    calls: list[ServiceCall] = async_mock_service(hass, "test", "automation")
    parakeet = device_id(hass, init_integration, SparkService.PARAKEET)
    capabilities = await async_get_trigger_capabilities(
        hass, {"domain": DOMAIN, "device_id": parakeet, "type": "speaker_identified"}
    )
    assert "person" in capabilities["extra_fields"].schema
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "trigger": {
                    "platform": "device",
                    "domain": DOMAIN,
                    "device_id": parakeet,
                    "type": "speaker_identified",
                    "person": "person.anna",
                },
                "action": {
                    "service": "test.automation",
                    "data_template": {"score": "{{ trigger.event.data.score }}"},
                },
            }
        },
    )
    seen = collect_events(hass, EVENT_SPEAKER_IDENTIFIED)
    spark_sim.states["whisperx"].apply({"clip_embedding": [0.0, 1.0, 0.0, 0.0]})  # not Anna
    await entity(hass).async_process_audio_stream(metadata(), chunks(command))
    await wait_until(hass, lambda: len(seen) == 1)
    assert calls == []
    spark_sim.states["whisperx"].apply({"clip_embedding": ANNA})
    await entity(hass, WHISPERX_STT).async_process_audio_stream(metadata(), chunks(command))
    await wait_until(hass, lambda: len(seen) == 2)
    assert calls == []  # Anna, but on WhisperX's STT entity: another device
    await entity(hass).async_process_audio_stream(metadata(), chunks(command))
    await wait_until(hass, lambda: len(seen) == 3)
    assert [c.data for c in calls] == [{"score": 1.0}]


@pytest.mark.usefixtures("anna_enrolled")
async def test_whisperx_stt_sends_the_embedding_only_after_the_text(
    hass: HomeAssistant, spark_sim: SparkSim, command: bytes
) -> None:
    """One GPU job at a time in the container: the text must not queue behind the embedding."""
    spark_sim.states["whisperx"].apply({"clip_embedding": ANNA})
    seen = collect_events(hass, EVENT_SPEAKER_IDENTIFIED)
    result = await entity(hass, WHISPERX_STT).async_process_audio_stream(
        metadata(), chunks(command)
    )
    assert result.text == "turn on the kitchen light"
    await wait_until(hass, lambda: bool(seen))
    requests = spark_sim.states["whisperx"].requests
    text = next(r for r in requests if r.path == "/v1/audio/transcriptions")
    voice = embedding_requests(spark_sim)[-1]
    assert text.finished_at is not None
    assert voice.started_at > text.finished_at
    assert voice.file_bytes == 44 + len(command)


async def test_last_speaker_is_restored_after_a_restart(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    sensor = "sensor.127_0_0_1_parakeet_last_speaker"
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(sensor, "Anna", {"person": "person.anna", "score": 0.91}),
                {"native_value": "Anna", "native_unit_of_measurement": None},
            )
        ],
    )
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    state = hass.states.get(sensor)
    assert state is not None
    assert state.state == "Anna"
    assert (state.attributes["person"], state.attributes["score"]) == ("person.anna", 0.91)
    await hass.config_entries.async_unload(mock_config_entry.entry_id)
