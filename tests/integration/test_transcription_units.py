"""Background work goes to the GPU in units: a voice command waits for one unit at most.

A 25-minute recording (8 kHz WAV: a sentence, then silence) is a background
job on the simulated Parakeet, whose one GPU serves requests first come first
served (tests/spark_sim/gpu.py). The job's first unit is made to hold the GPU
until the test ends it (a huge real-time factor, then ``finish_running``), so
"a voice command arrives mid-job" holds by construction, not by timing; the
order of events is read from the simulator's records.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components import stt
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN
from custom_components.spark_audio.spark.wav import wav_header
from custom_components.spark_audio.stt import SparkSpeechToTextEntity
from custom_components.spark_audio.transcription.units import UNIT_S
from tests.integration.long_audio import (
    CAP_S,
    MINUTES_25,
    RATE,
    collect_events,
    wait_until,
)
from tests.spark_sim.audio import speak, speak_pcm
from tests.spark_sim.server import SparkSim

TRANSCRIBE = "/v1/audio/transcriptions"
ENDLESS_RTF = 100_000.0
LATER = "the meeting goes on"
UNIT_BYTES = 44 + int(UNIT_S) * RATE * 2


def transcriptions(sim: SparkSim) -> list[Any]:
    return [r for r in sim.states["parakeet"].requests if r.path == TRANSCRIBE]


async def transcribe(hass: HomeAssistant, media: str, *, wait: bool) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        "transcribe",
        {"media": f"media-source://media_source/local/{media}", "wait": wait},
        blocking=True,
        return_response=True,
    )


async def poll_until(condition: Callable[[], bool]) -> None:
    """Like ``wait_until`` without waiting for HA's tasks (the command runs beside them)."""
    async with asyncio.timeout(CAP_S):
        while not condition():
            await asyncio.sleep(0.05)


async def voice_command(hass: HomeAssistant, pcm: bytes) -> str | None:
    entity = stt.async_get_speech_to_text_entity(hass, "stt.127_0_0_1_parakeet_speech_to_text")
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
    return result.text


async def test_voice_command_waits_for_one_unit_at_most(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, recording: Path
) -> None:
    """Submitted while the job's first unit holds the GPU: answered before its next unit."""
    state, gpu = spark_sim.states["parakeet"], spark_sim.gpu("parakeet")
    state.transcript = LATER
    done = collect_events(hass, "spark_audio_transcription_done")
    state.rtf = ENDLESS_RTF
    await transcribe(hass, recording.name, wait=False)
    await wait_until(
        hass, lambda: any(r.file_bytes == UNIT_BYTES for r in transcriptions(spark_sim))
    )
    await wait_until(hass, lambda: gpu.busy)
    state.rtf = 0.0  # what comes now is quick: only the first unit (and probes before it) hold

    pcm = await speak_pcm("turn on the kitchen light", "en-US", 16000)
    # Not a task HA tracks: waiting for HA's tasks to finish would wait for the command too.
    command = asyncio.create_task(voice_command(hass, pcm))
    size = 44 + len(pcm)
    await poll_until(
        lambda: (
            any(
                r.file_bytes == size and r.upload_done_at is not None
                for r in transcriptions(spark_sim)
            )
            and gpu.waiting > 0
        ),
    )

    def ended() -> bool:
        gpu.finish_running()  # the unit on the GPU now (or a probe queued before it)
        return bool(done)

    await poll_until(ended)
    assert await command == LATER  # the simulator's answer for speech it does not recall

    units = [r for r in transcriptions(spark_sim) if (r.file_name or "").startswith("unit")]
    assert [r.file_bytes for r in units] == [UNIT_BYTES, UNIT_BYTES, 44 + 300 * RATE * 2]
    voice = next(r for r in transcriptions(spark_sim) if r.file_bytes == size)
    assert voice.finished_at is not None
    # Served after the unit it found running, before the next one (queued behind it) and long
    # before the job's last unit was sent.
    assert voice.finished_at < units[1].finished_at
    assert voice.finished_at < units[-1].started_at
    assert done[0]["text"] == f"{LATER} {LATER} {LATER}"  # three units, joined in order
    assert done[0]["duration"] == MINUTES_25


async def test_short_file_goes_whole(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, media_dir: Path
) -> None:
    """One unit or less: the file is sent as it is, one request, the backend's own answer."""
    clip = await speak("good morning everyone", "en-US", 16000)
    await hass.async_add_executor_job((media_dir / "short.wav").write_bytes, clip)
    result = await transcribe(hass, "short.wav", wait=True)
    # The action's requests only (it names the file "audio"): a deep check's probe
    # ("audio.wav") may reach the backend at any moment.
    (sent,) = [r for r in transcriptions(spark_sim) if r.file_name == "audio"]
    assert sent.file_bytes == len(clip)
    assert result["duration"] == pytest.approx(sent.file_bytes / 32000, abs=0.01)


async def test_long_compressed_file_is_decoded_into_units(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    media_dir: Path,
    spool: Path,
) -> None:
    """25 minutes of FLAC: decoded to a 16 kHz WAV, cut into three units, the WAV removed."""
    target = media_dir / "silence.flac"
    process = await asyncio.create_subprocess_exec(
        "ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono",
        "-t", str(MINUTES_25), "-c:a", "flac", str(target),
    )  # fmt: skip
    assert await process.wait() == 0
    spark_sim.states["parakeet"].transcript = LATER
    spark_sim.states["parakeet"].rtf = 0.0
    result = await transcribe(hass, target.name, wait=True)
    units = [r for r in transcriptions(spark_sim) if (r.file_name or "").startswith("unit")]
    assert [r.file_bytes for r in units] == [44 + 600 * 32000, 44 + 600 * 32000, 44 + 300 * 32000]
    assert result["text"] == f"{LATER} {LATER} {LATER}"
    assert await hass.async_add_executor_job(lambda: list(spool.iterdir())) == []


def write_tone_with_gap(target: Path, seconds: int, gap_at: float, gap_s: float) -> None:
    """A loud constant signal (8 kHz, 16-bit) with one silent gap: the only pause to cut at."""
    loud = (4096).to_bytes(2, "little", signed=True)
    first, last = int(gap_at * RATE), int((gap_at + gap_s) * RATE)
    total = seconds * RATE
    with target.open("wb") as out:
        out.write(wav_header(RATE, channels=1, sample_width=2, data_size=total * 2))
        out.write(loud * first)
        out.write(bytes(2 * (last - first)))
        out.write(loud * (total - last))


async def test_units_are_cut_in_a_pause_not_in_a_word(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, media_dir: Path
) -> None:
    """Sound everywhere but a pause 1.3 s past the planned cut: the cut moves into the pause."""
    target = media_dir / "talk.wav"
    await hass.async_add_executor_job(write_tone_with_gap, target, 660, UNIT_S + 1.3, 0.1)
    spark_sim.states["parakeet"].rtf = 0.0
    await transcribe(hass, target.name, wait=True)
    units = [r for r in transcriptions(spark_sim) if (r.file_name or "").startswith("unit")]
    cut = int((UNIT_S + 1.3) * RATE)
    assert [r.file_bytes for r in units] == [44 + cut * 2, 44 + (660 * RATE - cut) * 2]
