"""Magpie text-to-speech: live voices, WAV validity and sentence streaming."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncGenerator

import pytest
from homeassistant.components import tts
from homeassistant.components.tts.entity import TTSAudioRequest
from homeassistant.components.tts.helper import get_engine_instance
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.spark.clients.probes import PROBE_PHRASE
from custom_components.spark_audio.tts import MagpieTextToSpeechEntity
from tests.spark_sim.faults import Fault
from tests.spark_sim.server import SparkSim

SYNTH_PATHS = ("/v1/audio/synthesize", "/v1/audio/synthesize_online")


def entity(hass: HomeAssistant) -> MagpieTextToSpeechEntity:
    found = get_engine_instance(hass, "tts.127_0_0_1_magpie_text_to_speech")
    assert isinstance(found, MagpieTextToSpeechEntity)
    return found


def read_wav(data: bytes) -> tuple[wave._wave_params, bytes]:
    """Parse with the standard library, as any player would."""
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getparams(), wav.readframes(wav.getnframes())


def synth_requests(sim: SparkSim) -> list[dict[str, str]]:
    """What Magpie was asked to say, leaving out the integration's own deep probes."""
    return [
        r.fields
        for r in sim.states["magpie"].requests
        if r.path in SYNTH_PATHS and r.fields.get("text") != PROBE_PHRASE
    ]


async def test_languages_and_voices_come_from_the_nim(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Languages are the voice list's locales; voices are listed per language."""
    magpie = entity(hass)
    assert magpie.supported_languages == ["en-US", "es-US", "fr-FR", "de-DE"]
    assert magpie.default_language == "en-US"
    spanish = magpie.async_get_supported_voices("es-US")
    assert spanish is not None
    assert [v.voice_id for v in spanish] == [
        "Magpie-Multilingual.ES-US.Diego",
        "Magpie-Multilingual.ES-US.Isabela",
    ]
    english = magpie.async_get_supported_voices("en-us")
    assert english is not None
    assert "Magpie-Multilingual.EN-US.Mia.Happy" in [v.voice_id for v in english]
    assert {"Mia", "Mia (Happy)"} <= {v.name for v in english}
    assert magpie.async_get_supported_voices("ja-JP") is None
    assert magpie.supported_options == ["voice"]


async def test_voice_list_refreshes(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """A NIM upgrade that adds a language shows up at the next health poll."""
    spark_sim.states["magpie"].voices = [
        "Magpie-Multilingual.EN-US.Mia",
        "Magpie-Multilingual.IT-IT.Isabella",
    ]
    await init_integration.runtime_data.coordinators["magpie"].async_refresh()
    magpie = entity(hass)
    assert magpie.supported_languages == ["en-US", "it-IT"]
    voices = magpie.async_get_supported_voices("it-IT")
    assert voices is not None
    assert [v.voice_id for v in voices] == ["Magpie-Multilingual.IT-IT.Isabella"]


async def test_get_tts_audio_is_one_valid_wav(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """Several sentences (one past Magpie's 2,000-character cap) make one WAV."""
    long_sentence = "This sentence goes on and on, " * 80 + "and ends here."
    assert len(long_sentence) > 2000
    message = f"Hello there. {long_sentence} Goodbye!"
    extension, data = await entity(hass).async_get_tts_audio(message, "en-US", {})
    assert extension == "wav"
    assert data is not None
    params, frames = read_wav(data)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 22050)
    assert params.nframes * 2 == len(frames) > 22050  # real audio, sized header
    assert data.count(b"RIFF") == 1
    requests = synth_requests(spark_sim)
    assert len(requests) >= 4
    assert all(len(r["text"]) <= 2000 for r in requests)
    assert {r["voice"] for r in requests} == {"Magpie-Multilingual.EN-US.Mia"}
    assert {r["language"] for r in requests} == {"en-US"}


async def test_voice_option_and_language_default(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """An asked voice wins; otherwise a voice of the asked language is chosen."""
    magpie = entity(hass)
    await magpie.async_get_tts_audio(
        "Hola.", "es-US", {"voice": "Magpie-Multilingual.ES-US.Isabela"}
    )
    await magpie.async_get_tts_audio("Hola.", "es-US", {"voice": "Magpie-Multilingual.EN-US.Mia"})
    requests = synth_requests(spark_sim)
    assert [(r["voice"], r["language"]) for r in requests] == [
        ("Magpie-Multilingual.ES-US.Isabela", "es-US"),
        ("Magpie-Multilingual.ES-US.Diego", "es-US"),
    ]


async def test_unknown_voice_names_the_available_ones(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """A voice the NIM does not offer is a clear error, before any request is made."""
    with pytest.raises(HomeAssistantError) as err:
        await entity(hass).async_get_tts_audio(
            "Hi.", "fr-FR", {"voice": "Magpie-Multilingual.FR-FR.Nobody"}
        )
    assert err.value.translation_key == "unknown_voice"
    assert err.value.translation_placeholders is not None
    assert "Magpie-Multilingual.FR-FR.Pascal" in err.value.translation_placeholders["available"]
    assert str(err.value) == (
        "Voice Magpie-Multilingual.FR-FR.Nobody is not available for fr-FR. Available voices: "
        "Magpie-Multilingual.FR-FR.Pascal, Magpie-Multilingual.FR-FR.Louise"
    )
    assert synth_requests(spark_sim) == []


async def test_stream_speaks_first_sentence_before_text_ends(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """Audio for sentence one is yielded while the LLM is still writing sentence two.

    The text generator will not finish until the first audio has been
    received; an entity that waited for the whole text would deadlock here.
    """
    first_audio = asyncio.Event()

    async def llm_text() -> AsyncGenerator[str]:
        for piece in ("Hello ", "there. ", "How are"):
            yield piece
        await asyncio.wait_for(first_audio.wait(), timeout=5)
        yield " you today? Fine."

    response = await entity(hass).async_stream_tts_audio(
        TTSAudioRequest(language="en-US", options={}, message_gen=llm_text())
    )
    assert response.extension == "wav"
    received = bytearray()
    async for chunk in response.data_gen:
        received += chunk
        if len(received) > 44:
            first_audio.set()
    params, frames = read_wav(bytes(received))
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 22050)
    assert len(frames) > 22050
    assert received.count(b"RIFF") == 1
    assert [r["text"] for r in synth_requests(spark_sim)] == [
        "Hello there.",
        "How are you today?",
        "Fine.",
    ]


async def test_stream_through_home_assistant(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """HA's own TTS stream (what Assist plays) carries our one WAV untouched."""
    stream = tts.async_create_stream(
        hass, "tts.127_0_0_1_magpie_text_to_speech", "de-DE", {"preferred_format": "wav"}
    )
    stream.async_set_message("Guten Tag. Wie geht es dir?")
    data = b"".join([chunk async for chunk in stream.async_stream_result()])
    assert stream.extension == "wav"
    params, frames = read_wav(data)
    assert params.framerate == 22050
    assert len(frames) > 0
    assert {r["voice"] for r in synth_requests(spark_sim)} == {"Magpie-Multilingual.DE-DE.Jason"}


async def test_streamed_wav_converts_with_ffmpeg(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """HA's default MP3 output: ffmpeg reads our unknown-length WAV stream."""
    stream = tts.async_create_stream(hass, "tts.127_0_0_1_magpie_text_to_speech", "en-US", {})
    stream.async_set_message("One. Two. Three.")
    data = b"".join([chunk async for chunk in stream.async_stream_result()])
    assert stream.extension == "mp3"
    assert data[:3] == b"ID3" or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
    assert len(data) > 2000


@pytest.mark.parametrize(
    ("fault", "key"),
    [(Fault.WEDGE, "service_fault"), (Fault.DOWN, "service_error"), (Fault.RESET, "service_error")],
)
async def test_backend_failure_is_a_translated_error(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    fault: Fault,
    key: str,
) -> None:
    """Both the one-shot and the streaming paths raise a translated HA error."""
    spark_sim.states["magpie"].fault = fault
    magpie = entity(hass)
    with pytest.raises(HomeAssistantError) as err:
        await magpie.async_get_tts_audio("Hello.", "en-US", {})
    assert err.value.translation_key == key

    async def text() -> AsyncGenerator[str]:
        yield "Hello. World."

    response = await magpie.async_stream_tts_audio(TTSAudioRequest("en-US", {}, text()))
    with pytest.raises(HomeAssistantError) as err:
        async for _ in response.data_gen:
            pass
    assert err.value.translation_key == key


async def test_slow_backend_times_out(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """A NIM that stops answering ends in a timeout error, not a hang."""
    magpie = entity(hass)
    magpie.coordinator.client.timeout = 0.5
    spark_sim.states["magpie"].fault = Fault.SLOW
    with pytest.raises(HomeAssistantError) as err:
        await asyncio.wait_for(magpie.async_get_tts_audio("Hello.", "en-US", {}), timeout=5)
    assert err.value.translation_key == "service_timeout"
