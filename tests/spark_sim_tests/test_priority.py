"""The simulated WhisperX serves voice commands between the units of a background job.

Steered on the simulator's own clock: units and jobs end when the test says
(`GpuQueue.finish_unit`, `finish_running`) and the GPU times are hours, so the
order of events is what the test decides, never this machine's speed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from tests.spark_sim.server import SparkSim

from .test_sim import clip, post_json, upload

TRANSCRIBE = "/v1/audio/transcriptions"
SPEAKERS = "/v1/audio/transcribe-with-speakers"


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for a condition the simulator reaches (bounded so a bug fails, not hangs)."""
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.005)


def _records(sim: SparkSim) -> list[Any]:
    return sim.states["whisperx"].requests


async def test_command_runs_between_units_of_a_background_job(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """A 3-unit background job: a command arriving in unit 1 holds the GPU after unit 1, before
    the job ends and before a background job queued earlier; the job then finishes its units."""
    state = sim.states["whisperx"]
    state.rtf, state.unit_audio_s = 3600.0, 1.0  # hours per unit: only the test ends them
    gpu = sim.gpu("whisperx")
    base = sim.url("whisperx")
    job = asyncio.ensure_future(
        post_json(session, f"{base}{SPEAKERS}", upload(clip(3.0), priority="background"))
    )
    await _until(lambda: gpu.busy)
    queued = asyncio.ensure_future(
        post_json(session, f"{base}{TRANSCRIBE}", upload(clip(1.0), priority="background"))
    )
    await _until(lambda: gpu.waiting == 1)
    command = asyncio.ensure_future(post_json(session, f"{base}{TRANSCRIBE}", upload(clip(1.0))))
    await _until(lambda: gpu.gate.interactive_waiting)
    gpu.finish_unit()
    job_record, queued_record, command_record = _records(sim)
    await _until(lambda: command_record.gpu_started_at is not None)
    assert job_record.gpu_finished_at is None  # the job is paused, not done
    assert queued_record.gpu_started_at is None
    assert gpu.waiting == 1  # the paused job is not counted as waiting
    gpu.finish_running()
    assert (await command)[0] == 200
    while not job.done():  # the job's two remaining units, ended one after the other
        gpu.finish_unit()
        await asyncio.sleep(0.005)
    assert (await job)[0] == 200
    await _until(lambda: queued_record.gpu_started_at is not None)
    assert job_record.gpu_finished_at is not None
    assert queued_record.gpu_started_at >= job_record.gpu_finished_at
    gpu.finish_running()
    assert (await queued)[0] == 200


async def test_bad_priority_is_the_containers_400(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    base = sim.url("whisperx")
    for path in (TRANSCRIBE, SPEAKERS):
        status, body = await post_json(session, f"{base}{path}", upload(clip(1.0), priority="now"))
        assert (status, body) == (
            400,
            {"detail": "Unsupported priority 'now'; use one of: interactive, background"},
        )


async def test_unit_size_is_a_knob(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    base = sim.url("whisperx")
    async with session.post(f"{base}/_sim/control", json={"unit_audio_s": 0}) as resp:
        assert resp.status == 400
    async with session.post(f"{base}/_sim/control", json={"unit_audio_s": 60}) as resp:
        assert resp.status == 200
    assert sim.states["whisperx"].unit_audio_s == 60.0
