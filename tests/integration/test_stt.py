"""Assist speech-to-text: streaming upload, language handling and failures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from homeassistant.components import stt
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.stt import SparkSpeechToTextEntity, backend_language
from tests.spark_sim.audio import speak_pcm
from tests.spark_sim.faults import Fault
from tests.spark_sim.server import SparkSim

CHUNK = 320  # 10 ms of 16 kHz 16-bit mono: what Assist sends


def metadata(language: str = "en") -> stt.SpeechMetadata:
    """What Assist declares for its microphone stream."""
    return stt.SpeechMetadata(
        language=language,
        format=stt.AudioFormats.WAV,
        codec=stt.AudioCodecs.PCM,
        bit_rate=stt.AudioBitRates.BITRATE_16,
        sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
        channel=stt.AudioChannels.CHANNEL_MONO,
    )


def entity(
    hass: HomeAssistant, entity_id: str = "stt.127_0_0_1_parakeet_speech_to_text"
) -> SparkSpeechToTextEntity:
    found = stt.async_get_speech_to_text_entity(hass, entity_id)
    assert isinstance(found, SparkSpeechToTextEntity)
    return found


@pytest.fixture
async def speech_pcm() -> bytes:
    """Real speech (espeak-ng) as Assist would capture it: 16 kHz mono PCM."""
    return await speak_pcm("turn on the kitchen light", "en-US", 16000)


async def chunks(pcm: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(pcm), CHUNK):
        yield pcm[i : i + CHUNK]


async def test_audio_streams_while_user_speaks(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, speech_pcm: bytes
) -> None:
    """The backend has received audio before the last chunk is even produced.

    The generator refuses to produce its last chunk until the simulated
    Parakeet reports audio bytes arrived; an entity that buffered the stream
    would never reach that point and the test would time out.
    """
    state = spark_sim.states["parakeet"]
    state.reset_records()
    backend_had_audio_before_last_chunk = False

    async def assist_microphone() -> AsyncIterator[bytes]:
        nonlocal backend_had_audio_before_last_chunk
        pieces = [speech_pcm[i : i + CHUNK] for i in range(0, len(speech_pcm), CHUNK)]
        for piece in pieces[:-1]:
            yield piece
            await asyncio.sleep(0)
        await asyncio.wait_for(state.audio_started.wait(), timeout=5)
        backend_had_audio_before_last_chunk = True
        yield pieces[-1]

    result = await entity(hass).async_process_audio_stream(metadata(), assist_microphone())
    assert result.result is stt.SpeechResultState.SUCCESS
    assert result.text == "turn on the kitchen light"
    assert backend_had_audio_before_last_chunk
    request = next(r for r in state.requests if r.path == "/v1/audio/transcriptions")
    assert request.transfer_encoding == "chunked"
    assert request.fields["language"] == "en"
    assert request.file_bytes == 44 + len(speech_pcm)


@pytest.mark.parametrize(
    ("requested", "expected"),
    [("en-US", "en"), ("de", "de"), ("pt_BR", "pt"), ("UK", "uk"), ("ja", "fr"), ("", "fr")],
)
def test_backend_language_is_never_empty(requested: str, expected: str) -> None:
    """Assist's language tag is reduced to what Parakeet knows, else the default."""
    from custom_components.spark_audio.spark.clients import parakeet

    assert backend_language(requested, parakeet.LANGUAGES, "fr") == expected


async def test_default_language_option_is_used(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    mock_config_entry: MockConfigEntry,
    speech_pcm: bytes,
) -> None:
    """A language Parakeet does not know falls back to the configured default."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(mock_config_entry, options={"stt_language": "nl"})
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    result = await entity(hass).async_process_audio_stream(metadata("ja"), chunks(speech_pcm))
    assert result.result is stt.SpeechResultState.SUCCESS
    # Background deep checks also transcribe (their probe clip): pick ours by its size.
    ours = [
        r
        for r in spark_sim.states["parakeet"].requests
        if r.path == "/v1/audio/transcriptions" and r.file_bytes == 44 + len(speech_pcm)
    ]
    assert len(ours) == 1
    assert ours[0].fields["language"] == "nl"
    await hass.config_entries.async_unload(mock_config_entry.entry_id)


@pytest.mark.parametrize(
    ("options", "parakeet_default", "whisperx_default"),
    [
        ({"stt_language": "nl", "whisperx_stt_language": "ja"}, "nl", "ja"),
        # Entries from before WhisperX had its own default: it shares Parakeet's.
        ({"stt_language": "nl"}, "nl", "nl"),
        ({}, "en", "en"),
    ],
)
async def test_each_engine_has_its_own_default_language(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    mock_config_entry: MockConfigEntry,
    speech_pcm: bytes,
    options: dict[str, str],
    parakeet_default: str,
    whisperx_default: str,
) -> None:
    """Assist asks in a language neither knows ("xx"): each engine gets its own default."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(mock_config_entry, options=options)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    for service, expected in (("parakeet", parakeet_default), ("whisperx", whisperx_default)):
        stt_entity = entity(hass, f"stt.127_0_0_1_{service}_speech_to_text")
        result = await stt_entity.async_process_audio_stream(metadata("xx"), chunks(speech_pcm))
        assert result.result is stt.SpeechResultState.SUCCESS
        ours = [
            r
            for r in spark_sim.states[service].requests
            if r.path == "/v1/audio/transcriptions" and r.file_bytes == 44 + len(speech_pcm)
        ]
        assert [r.fields["language"] for r in ours] == [expected]
    await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_the_options_offer_each_engine_its_own_languages(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    schema = result["data_schema"].schema  # type: ignore[union-attr]
    offered = {
        str(key): value.config["languages"]
        for key, value in schema.items()
        if str(key) in ("stt_language", "whisperx_stt_language")
    }
    assert len(offered["stt_language"]) == 25
    assert "ja" not in offered["stt_language"]
    assert "ja" in offered["whisperx_stt_language"]
    assert len(offered["whisperx_stt_language"]) > 90
    hass.config_entries.options.async_abort(result["flow_id"])


async def test_whisperx_stt(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, speech_pcm: bytes
) -> None:
    """WhisperX is a second STT engine with Whisper's languages."""
    spark_sim.states["whisperx"].transcript = "what time is it"
    whisperx = entity(hass, "stt.127_0_0_1_whisperx_speech_to_text")
    assert "ja" in whisperx.supported_languages
    result = await whisperx.async_process_audio_stream(metadata("ja"), chunks(speech_pcm))
    assert result.result is stt.SpeechResultState.SUCCESS
    assert result.text == "what time is it"
    request = next(
        r for r in spark_sim.states["whisperx"].requests if r.file_bytes == 44 + len(speech_pcm)
    )
    assert request.fields["language"] == "ja"
    # A home with no names to teach sends no (empty) prompt field.
    assert "prompt" not in request.fields
    # A voice command: interactive, the container's default (only background jobs say so).
    assert "priority" not in request.fields


@pytest.mark.parametrize(
    ("fault", "log_fragment"),
    [
        (Fault.WEDGE, "-> 500"),
        (Fault.DOWN, "failed"),
        (Fault.RESET, "failed"),
        (Fault.MALFORMED, "invalid JSON"),
        (Fault.SLOW, "timed out"),
    ],
)
async def test_backend_failures_end_in_error_result(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    speech_pcm: bytes,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
    log_fragment: str,
) -> None:
    """Wedge, drop, reset, garbage or silence: an error result and a log line, no hang."""
    stt_entity = entity(hass)
    stt_entity.coordinator.client.timeout = 1.0
    spark_sim.states["parakeet"].fault = fault
    with caplog.at_level(logging.WARNING):
        result = await asyncio.wait_for(
            stt_entity.async_process_audio_stream(metadata(), chunks(speech_pcm)), timeout=10
        )
    assert result.result is stt.SpeechResultState.ERROR
    assert result.text is None
    lines = [r.getMessage() for r in caplog.records if "speech-to-text failed" in r.getMessage()]
    assert len(lines) == 1
    assert log_fragment in lines[0]


async def test_stopped_backend_is_an_error_result(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, speech_pcm: bytes
) -> None:
    """Connection refused mid-session is reported, not raised."""
    await spark_sim.stop_service("parakeet")
    result = await entity(hass).async_process_audio_stream(metadata(), chunks(speech_pcm))
    assert result.result is stt.SpeechResultState.ERROR


async def test_supported_formats(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Parakeet advertises its 25 languages and Assist's PCM format."""
    parakeet_entity = entity(hass)
    assert len(parakeet_entity.supported_languages) == 25
    assert parakeet_entity.check_metadata(metadata())
    assert not parakeet_entity.check_metadata(metadata("ja"))
