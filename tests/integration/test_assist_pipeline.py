"""A whole Assist pipeline: spoken audio -> Parakeet -> conversation -> Magpie -> audio."""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator

from homeassistant.components import stt
from homeassistant.components.assist_pipeline import (
    PipelineEvent,
    PipelineEventType,
    async_pipeline_from_audio_stream,
)
from homeassistant.components.assist_pipeline.pipeline import async_create_default_pipeline
from homeassistant.core import Context, HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.spark_audio.spark.clients.probes import PROBE_PHRASE
from tests.spark_sim.audio import speak_pcm
from tests.spark_sim.server import SparkSim


async def test_assist_pipeline_end_to_end(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
) -> None:
    """Speech made with espeak-ng goes through our STT, HA's agent and our TTS.

    Faked: the simulated Parakeet cannot recognise speech (no ASR model runs
    here), so it answers with the transcript the test configures; everything
    else (Assist, the default conversation agent, the light service call, HA's
    TTS stream and our WAV) is real.
    """
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "intent", {})
    assert await async_setup_component(hass, "conversation", {})
    assert await async_setup_component(hass, "assist_pipeline", {})
    hass.states.async_set("light.kitchen", "off", {"friendly_name": "Kitchen light"})
    turn_on = async_mock_service(hass, "light", "turn_on")

    pipeline = await async_create_default_pipeline(
        hass,
        stt_engine_id="stt.127_0_0_1_parakeet_speech_to_text",
        tts_engine_id="tts.127_0_0_1_magpie_text_to_speech",
        pipeline_name="Spark",
    )
    assert pipeline is not None
    assert pipeline.stt_language == "en"
    assert pipeline.tts_language == "en-US"

    spark_sim.states["parakeet"].transcript = "turn on the kitchen light"
    pcm = await speak_pcm("turn on the kitchen light", "en-US", 16000)

    async def microphone() -> AsyncIterator[bytes]:
        for i in range(0, len(pcm), 320):
            yield pcm[i : i + 320]

    events: list[PipelineEvent] = []
    await async_pipeline_from_audio_stream(
        hass,
        context=Context(),
        event_callback=events.append,
        stt_metadata=stt.SpeechMetadata(
            language="",
            format=stt.AudioFormats.WAV,
            codec=stt.AudioCodecs.PCM,
            bit_rate=stt.AudioBitRates.BITRATE_16,
            sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
            channel=stt.AudioChannels.CHANNEL_MONO,
        ),
        stt_stream=microphone(),
        pipeline_id=pipeline.id,
        tts_audio_output="wav",
    )
    by_type = {e.type: e for e in events}
    assert PipelineEventType.ERROR not in by_type, by_type.get(PipelineEventType.ERROR)
    stt_end = by_type[PipelineEventType.STT_END].data
    assert stt_end is not None
    assert stt_end["stt_output"]["text"] == "turn on the kitchen light"
    assert len(turn_on) == 1
    assert turn_on[0].data["entity_id"] == ["light.kitchen"]

    intent_end = by_type[PipelineEventType.INTENT_END].data
    assert intent_end is not None
    speech = intent_end["intent_output"]["response"]["speech"]["plain"]["speech"]
    assert speech

    tts_end = by_type[PipelineEventType.TTS_END].data
    assert tts_end is not None
    # Fetch it the way a satellite or the browser does: HA's TTS proxy URL.
    client = await hass_client()
    response = await client.get(tts_end["tts_output"]["url"])
    assert response.status == 200
    audio = await response.read()
    with wave.open(io.BytesIO(audio)) as wav:
        # Assist asks for 16 kHz WAV; HA's ffmpeg resamples our 22.05 kHz stream.
        assert wav.getframerate() == 16000
        seconds = len(wav.readframes(wav.getnframes())) / 2 / 16000
    assert seconds > 0.5
    magpie_texts = [
        r.fields["text"]
        for r in spark_sim.states["magpie"].requests
        if r.path.startswith("/v1/audio/synthesize") and r.fields["text"] != PROBE_PHRASE
    ]
    assert " ".join(magpie_texts) == speech
