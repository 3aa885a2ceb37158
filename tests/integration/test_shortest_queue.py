"""Several Sparks offer a service: requests go where the queue is shortest, failover stays.

Two simulated Sparks (127.0.0.1 and 127.0.0.2), each with Parakeet. The long
job is a real background transcription whose simulated GPU time is made
endless (a huge real-time factor) and ended by the test (``finish_running``),
so "one Spark is busy" holds for as long as the test needs it, without timing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_socket
from homeassistant.components import stt
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.spark_audio.const import DOMAIN
from custom_components.spark_audio.data import PARAKEET_SLOT
from custom_components.spark_audio.stt import SparkSpeechToTextEntity
from custom_components.spark_audio.transcription.routing import offering, pinned_spark
from tests.integration.conftest import entry_data
from tests.integration.long_audio import collect_events, wait_until
from tests.spark_sim.audio import speak, speak_pcm
from tests.spark_sim.server import SparkSim

TRANSCRIBE = "/v1/audio/transcriptions"
ENDLESS_RTF = 100_000.0
"""Seconds of GPU time per second of audio: the job holds the GPU until the test ends it."""


@pytest.fixture
async def second_spark(socket_enabled: None) -> AsyncIterator[SparkSim]:
    pytest_socket.socket_allow_hosts(["127.0.0.1", "127.0.0.2"])
    sim = SparkSim(host="127.0.0.2", with_whisperx=False)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def two_sparks(
    hass: HomeAssistant, init_integration: MockConfigEntry, second_spark: SparkSim
) -> AsyncIterator[tuple[MockConfigEntry, MockConfigEntry]]:
    second = MockConfigEntry(
        domain=DOMAIN,
        title="127.0.0.2",
        unique_id="127.0.0.2",
        data={**entry_data(second_spark), "host": "127.0.0.2"},
    )
    second.add_to_hass(hass)
    assert await hass.config_entries.async_setup(second.entry_id)
    await hass.async_block_till_done()
    yield init_integration, second
    await hass.config_entries.async_unload(second.entry_id)


@pytest.fixture
async def media(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A short recording in a media folder HA may read."""
    hass.config.media_dirs = {"local": str(tmp_path)}
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    target = tmp_path / "meeting.wav"
    clip = await speak("good morning everyone", "en-US", 16000)
    await hass.async_add_executor_job(target.write_bytes, clip)
    return target


@pytest.fixture
async def speech_pcm() -> bytes:
    return await speak_pcm("turn on the kitchen light", "en-US", 16000)


def commands(sim: SparkSim, size: int) -> list[Any]:
    """The transcription requests of ``sim`` carrying ``size`` bytes (probes have others)."""
    return [
        r for r in sim.states["parakeet"].requests if r.path == TRANSCRIBE and r.file_bytes == size
    ]


async def voice_command(hass: HomeAssistant, entity_id: str, pcm: bytes) -> str | None:
    """What Assist does with a spoken command: stream it to the entity, read the text."""
    entity = stt.async_get_speech_to_text_entity(hass, entity_id)
    assert isinstance(entity, SparkSpeechToTextEntity)

    async def microphone() -> AsyncIterator[bytes]:
        for i in range(0, len(pcm), 320):
            yield pcm[i : i + 320]

    metadata = stt.SpeechMetadata(
        language="en",
        format=stt.AudioFormats.WAV,
        codec=stt.AudioCodecs.PCM,
        bit_rate=stt.AudioBitRates.BITRATE_16,
        sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
        channel=stt.AudioChannels.CHANNEL_MONO,
    )
    result = await entity.async_process_audio_stream(metadata, microphone())
    assert result.result is stt.SpeechResultState.SUCCESS
    return result.text


async def start_long_job(hass: HomeAssistant, sim: SparkSim, media: Path) -> None:
    """A background transcription holding ``sim``'s Parakeet GPU until `end_long_jobs`."""
    sim.states["parakeet"].rtf = ENDLESS_RTF
    await hass.services.async_call(
        DOMAIN,
        "transcribe",
        {"media": "media-source://media_source/local/meeting.wav", "wait": False},
        blocking=True,
        return_response=True,
    )
    size = (await hass.async_add_executor_job(media.stat)).st_size
    await wait_until(hass, lambda: bool(commands(sim, size)) and sim.gpu("parakeet").busy)


async def end_long_jobs(
    hass: HomeAssistant, sims: list[SparkSim], done: list[dict[str, Any]], count: int = 1
) -> None:
    """End whatever holds the GPUs (a deep check's probe may have queued behind) until done."""
    for sim in sims:
        sim.states["parakeet"].rtf = 0.0

    def ended() -> bool:
        for sim in sims:
            sim.gpu("parakeet").finish_running()
        return len(done) >= count

    await wait_until(hass, ended)


FIRST_STT = "stt.127_0_0_1_parakeet_speech_to_text"
SECOND_STT = "stt.127_0_0_2_parakeet_speech_to_text"


async def test_voice_command_picks_the_idle_spark(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    second_spark: SparkSim,
    two_sparks: tuple[MockConfigEntry, MockConfigEntry],
    media: Path,
    speech_pcm: bytes,
) -> None:
    """The entity's own Spark transcribes a long job: the command goes to the idle one."""
    done = collect_events(hass, "spark_audio_transcription_done")
    await start_long_job(hass, spark_sim, media)
    second_spark.states["parakeet"].transcript = "answered by the idle spark"

    text = await voice_command(hass, FIRST_STT, speech_pcm)

    assert text == "answered by the idle spark"
    assert len(commands(second_spark, 44 + len(speech_pcm))) == 1
    assert commands(spark_sim, 44 + len(speech_pcm)) == []
    await end_long_jobs(hass, [spark_sim], done)


async def test_both_idle_the_command_stays_on_its_own_spark(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    second_spark: SparkSim,
    two_sparks: tuple[MockConfigEntry, MockConfigEntry],
    speech_pcm: bytes,
) -> None:
    """Equal queues: each entity uses its own Spark (the second one too, not the first added)."""
    size = 44 + len(speech_pcm)
    await voice_command(hass, FIRST_STT, speech_pcm)
    await voice_command(hass, SECOND_STT, speech_pcm)
    assert len(commands(spark_sim, size)) == 1
    assert len(commands(second_spark, size)) == 1


async def test_gateway_request_goes_where_the_queue_is_shortest(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    second_spark: SparkSim,
    two_sparks: tuple[MockConfigEntry, MockConfigEntry],
    media: Path,
) -> None:
    """The first Spark (first in order, healthy) is busy: the upload goes to the second."""
    done = collect_events(hass, "spark_audio_transcription_done")
    await start_long_job(hass, spark_sim, media)
    second_spark.states["parakeet"].transcript = "answered by the idle spark"
    clip = await speak("hello from the spark", "en-US", 16000)
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("model", "parakeet")
    form.add_field("file", clip, filename="a.wav", content_type="audio/wav")
    client = await hass_client()
    response = await client.post("/api/spark_audio/v1/audio/transcriptions", data=form)
    assert response.status == 200, await response.text()
    assert (await response.json())["text"] == "answered by the idle spark"
    await end_long_jobs(hass, [spark_sim], done)


async def test_jobs_spread_over_the_sparks(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    second_spark: SparkSim,
    two_sparks: tuple[MockConfigEntry, MockConfigEntry],
    media: Path,
) -> None:
    """A second job goes to the Spark without one, and runs there at once."""
    first, second = two_sparks
    done = collect_events(hass, "spark_audio_transcription_done")
    await start_long_job(hass, spark_sim, media)
    await start_long_job(hass, second_spark, media)
    await end_long_jobs(hass, [spark_sim, second_spark], done, count=2)
    assert sorted(event["entry_id"] for event in done) == sorted([first.entry_id, second.entry_id])


async def test_a_pinned_spark_comes_first_while_healthy(
    hass: HomeAssistant,
    second_spark: SparkSim,
    two_sparks: tuple[MockConfigEntry, MockConfigEntry],
) -> None:
    """A job's calls go to its own Spark even where another one's queue is shorter."""
    first, second = two_sparks
    assert first.runtime_data.parakeet is not None
    first.runtime_data.parakeet.client.work_in_flight += 1  # stands for a request in flight
    try:
        assert offering(hass, PARAKEET_SLOT)[0].config_entry is second
        with pinned_spark(first.entry_id):
            assert offering(hass, PARAKEET_SLOT)[0].config_entry is first
    finally:
        first.runtime_data.parakeet.client.work_in_flight -= 1
    assert offering(hass, PARAKEET_SLOT)[0].config_entry is first
