"""WhisperX hears which requests are background work: a job's say ``priority=background``.

The container serves voice commands between the units of background work, so
only ``wait: false`` jobs may say so; Assist's requests (and everything else)
stay interactive (no field: the container's default). The simulated Spark
records each request's form fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN
from tests.integration.long_audio import collect_events, make_recording, wait_until
from tests.spark_sim.server import SparkSim

# Larger than any deep check's probe clip: the recording's units (minutes of audio) are.
PROBE_BYTES = 1_000_000
COMMAND = bytes(16000)  # half a second of silence from the microphone


@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({"model": "whisperx"}, "/v1/audio/transcriptions"),
        ({"speakers": True}, "/v1/audio/transcribe-with-speakers"),
    ],
    ids=["plain", "speakers"],
)
async def test_background_job_requests_say_background(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    tmp_path: Path,
    options: dict[str, Any],
    path: str,
) -> None:
    spark_sim.states["whisperx"].rtf = 0.0
    recording = await make_recording(hass, tmp_path)
    done = collect_events(hass, "spark_audio_transcription_done")
    failed = collect_events(hass, "spark_audio_transcription_failed")
    await hass.services.async_call(
        DOMAIN,
        "transcribe",
        {"media": str(recording), "wait": False, **options},
        blocking=True,
        return_response=True,
    )
    await wait_until(hass, lambda: bool(done or failed))
    assert failed == []
    jobs = [r for r in spark_sim.states["whisperx"].requests if r.file_bytes > PROBE_BYTES]
    assert jobs
    assert {r.path for r in jobs} == {path}
    assert [r.fields.get("priority") for r in jobs] == ["background"] * len(jobs)


async def test_assist_command_after_a_job_is_interactive(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    tmp_path: Path,
) -> None:
    """The job's flag stays in the job's task: a later voice command sends no priority."""
    from tests.integration.test_stt import chunks, entity, metadata

    spark_sim.states["whisperx"].rtf = 0.0
    recording = await make_recording(hass, tmp_path)
    done = collect_events(hass, "spark_audio_transcription_done")
    await hass.services.async_call(
        DOMAIN,
        "transcribe",
        {"media": str(recording), "wait": False, "model": "whisperx"},
        blocking=True,
        return_response=True,
    )
    await wait_until(hass, lambda: bool(done))
    stt_entity = entity(hass, "stt.127_0_0_1_whisperx_speech_to_text")
    await stt_entity.async_process_audio_stream(metadata("en"), chunks(COMMAND))
    requests = spark_sim.states["whisperx"].requests
    job = [r for r in requests if r.file_bytes > PROBE_BYTES]
    (command,) = (r for r in requests if r.file_bytes == 44 + len(COMMAND))
    assert job
    assert [r.fields.get("priority") for r in job] == ["background"] * len(job)
    assert "priority" not in command.fields


async def test_parakeet_job_requests_carry_no_priority(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    tmp_path: Path,
) -> None:
    """The field is our container's: a job on Parakeet (a NeMo server) sends no such field."""
    spark_sim.states["parakeet"].rtf = 0.0
    recording = await make_recording(hass, tmp_path)
    done = collect_events(hass, "spark_audio_transcription_done")
    await hass.services.async_call(
        DOMAIN,
        "transcribe",
        {"media": str(recording), "wait": False, "model": "parakeet"},
        blocking=True,
        return_response=True,
    )
    await wait_until(hass, lambda: bool(done))
    units = [r for r in spark_sim.states["parakeet"].requests if r.file_bytes > PROBE_BYTES]
    assert units
    assert all("priority" not in r.fields for r in units)
