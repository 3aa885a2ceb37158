"""Busy is not wedged: deep checks meet long work on the timed simulator.

Faked, and why: there is no GPU here. The simulated services hold their one GPU
queue for a job's simulated time (``tests/spark_sim/gpu.py``; the rate set here
makes a 3 s clip take most of an hour), and a test ends such a job with
``finish_running()`` instead of waiting for it, which is the job completing. No
Docker engine runs here either: the sshd's stand-in ``docker restart`` restarts
the simulated service, which drops the requests it was answering, as a real
restart does. The request timeout is 5 s so that a probe queued behind the long
job (what the product did before) times out within the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from homeassistant.components import stt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_OFF
from homeassistant.core import Event, HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.spark_audio import recovery
from custom_components.spark_audio.const import (
    DEFAULT_DEEP_CHECK_INTERVAL,
    DOMAIN,
    EVENT_SERVICE_RECOVERED,
    EVENT_SERVICE_RESTARTED,
    EVENT_WEDGE_DETECTED,
    SparkService,
)
from custom_components.spark_audio.spark import SparkError
from tests.spark_sim import faults as sim_faults
from tests.spark_sim.audio import tone, wav_bytes
from tests.spark_sim.faults import DEFAULT_MAX_QUEUE, Fault
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost

pytestmark = pytest.mark.usefixtures("all_entities_enabled")

EVENTS = (EVENT_WEDGE_DETECTED, EVENT_SERVICE_RESTARTED, EVENT_SERVICE_RECOVERED)
# 3 s of audio at this real-time factor is 50 minutes of GPU time.
LONG_RTF = 1000.0
JOB_CLIP = wav_bytes(tone(3.0, 16_000), 16_000)
TRANSCRIBE = "/v1/audio/transcriptions"


@pytest.fixture(autouse=True)
def fast_recovery(monkeypatch: pytest.MonkeyPatch) -> None:
    """Poll for recovery every 50 ms instead of every 2 s."""
    monkeypatch.setattr(recovery, "RECOVERY_PROBE_INTERVAL", 0.05)


@pytest.fixture
async def entry(
    hass: HomeAssistant, ssh_entry: MockConfigEntry, ssh_host: SSHTestHost
) -> AsyncIterator[MockConfigEntry]:
    """The simulated Spark with SSH (so recovery could restart), requests timing out after 5 s."""
    ssh_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(ssh_entry, options={"request_timeout": 5})
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    yield ssh_entry
    await hass.async_block_till_done(wait_background_tasks=True)
    if ssh_entry.state is ConfigEntryState.LOADED:
        await hass.config_entries.async_unload(ssh_entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
def events(hass: HomeAssistant) -> dict[str, list[Event[Any]]]:
    return {name: async_capture_events(hass, name) for name in EVENTS}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """Another client of the Spark (not Home Assistant); no timeout the timer test could fire."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as client:
        yield client


async def until(predicate: Callable[[], bool]) -> None:
    """Wait for a state the simulator reaches by itself (bounded, never a timing assertion)."""
    async with asyncio.timeout(30):
        while not predicate():
            await asyncio.sleep(0.01)


async def long_job_from_another_client(
    session: aiohttp.ClientSession, sim: SparkSim, service: str
) -> asyncio.Task[int]:
    """Start a long transcription straight on the service; returns once it holds the GPU."""
    state = sim.states[service]
    speed, state.rtf = state.rtf, LONG_RTF

    async def post() -> int:
        form = aiohttp.FormData()
        form.add_field("file", JOB_CLIP, filename="long.wav", content_type="audio/wav")
        async with session.post(f"{sim.url(service)}{TRANSCRIBE}", data=form) as resp:
            await resp.read()
            return resp.status

    job = asyncio.create_task(post())
    await until(lambda: sim.gpu(service).busy)
    state.rtf = speed  # only this job is long; the next requests run at the usual speed
    return job


async def long_job_from_home_assistant(entry: MockConfigEntry, sim: SparkSim) -> asyncio.Task[Any]:
    """Start a long Parakeet transcription through the integration's own client."""
    state = sim.states["parakeet"]
    speed, state.rtf = state.rtf, LONG_RTF
    client = entry.runtime_data.parakeet.client
    job = asyncio.create_task(client.transcribe(JOB_CLIP, timeout=3600))
    await until(lambda: sim.gpu("parakeet").busy)
    state.rtf = speed
    return job


async def speech_to_text(hass: HomeAssistant, service: str) -> stt.SpeechResult:
    """One Assist request to the service's STT entity (a real request, 5xx included)."""
    entity = stt.async_get_speech_to_text_entity(hass, f"stt.127_0_0_1_{service}_speech_to_text")
    assert entity is not None

    async def audio() -> AsyncIterator[bytes]:
        yield b"\x00\x00" * 1600

    return await entity.async_process_audio_stream(
        stt.SpeechMetadata(
            language="en",
            format=stt.AudioFormats.WAV,
            codec=stt.AudioCodecs.PCM,
            bit_rate=stt.AudioBitRates.BITRATE_16,
            sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
            channel=stt.AudioChannels.CHANNEL_MONO,
        ),
        audio(),
    )


def restarts(ssh_host: SSHTestHost) -> list[list[str]]:
    return [call for call in ssh_host.docker_calls() if call[1] == "restart"]


async def by_button(hass: HomeAssistant, entry: MockConfigEntry, sim: SparkSim) -> None:
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.127_0_0_1_whisperx_run_deep_check"}, blocking=True
    )


async def by_action(hass: HomeAssistant, entry: MockConfigEntry, sim: SparkSim) -> None:
    response = await hass.services.async_call(
        DOMAIN,
        "deep_check",
        {"config_entry_id": entry.entry_id, "service": "whisperx"},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert (response["busy"], response["wedged"], response["ok"]) == (True, False, False)
    assert response["verdict"] == "busy"


async def by_timer(hass: HomeAssistant, entry: MockConfigEntry, sim: SparkSim) -> None:
    deep = entry.runtime_data.deep[SparkService.WHISPERX]
    before = deep.data
    async_fire_time_changed(
        hass, dt_util.utcnow() + timedelta(minutes=DEFAULT_DEEP_CHECK_INTERVAL, seconds=1)
    )
    await until(lambda: deep.data is not before)


async def by_backend_5xx(hass: HomeAssistant, entry: MockConfigEntry, sim: SparkSim) -> None:
    # An Assist request fails with a plain 500 (a bad job, no CUDA text) while the job runs.
    sim.states["whisperx"].fail_next = 1
    deep = entry.runtime_data.deep[SparkService.WHISPERX]
    before = deep.data
    result = await speech_to_text(hass, "whisperx")
    assert result.result is stt.SpeechResultState.ERROR
    await until(lambda: deep.data is not before)


@pytest.mark.parametrize(
    "trigger",
    [by_button, by_action, by_timer, by_backend_5xx],
    ids=["button", "action", "timer", "backend_5xx"],
)
async def test_long_job_is_busy_not_wedged(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    session: aiohttp.ClientSession,
    events: dict[str, list[Event[Any]]],
    trigger: Callable[[HomeAssistant, MockConfigEntry, SparkSim], Awaitable[None]],
) -> None:
    """A deep check during a long WhisperX job says busy, restarts nothing; the job completes."""
    whisperx = spark_sim.states["whisperx"]
    job = await long_job_from_another_client(session, spark_sim, "whisperx")
    probes_before = sum(r.path == TRANSCRIBE for r in whisperx.requests)

    await trigger(hass, entry, spark_sim)
    await hass.async_block_till_done(wait_background_tasks=True)

    status = entry.runtime_data.deep[SparkService.WHISPERX].data
    assert status is not None
    assert status.busy
    assert not status.wedged
    # Not probed through the queue: the only new inference request is the 5xx trigger's own.
    new_inference = sum(r.path == TRANSCRIBE for r in whisperx.requests) - probes_before
    assert new_inference == (1 if trigger is by_backend_5xx else 0)
    assert events[EVENT_WEDGE_DETECTED] == []
    assert restarts(ssh_host) == []
    sensor = hass.states.get("binary_sensor.127_0_0_1_whisperx_wedged")
    assert sensor is not None
    assert sensor.state == STATE_OFF
    assert sensor.attributes["last_check"] == "busy"

    spark_sim.gpu("whisperx").finish_running()
    assert await job == 200
    assert whisperx.restarts == 0
    after = await entry.runtime_data.deep[SparkService.WHISPERX].async_probe_now()
    assert after.ok


async def test_home_assistants_own_long_job_is_busy(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    events: dict[str, list[Event[Any]]],
) -> None:
    """Parakeet's health says nothing about its queue: HA's own job in flight makes it busy."""
    job = await long_job_from_home_assistant(entry, spark_sim)
    status = await entry.runtime_data.deep[SparkService.PARAKEET].async_probe_now()
    assert status.busy
    assert "Home Assistant" in (status.error or "")
    assert restarts(ssh_host) == []
    spark_sim.gpu("parakeet").finish_running()
    assert (await job).text
    assert events[EVENT_WEDGE_DETECTED] == []


@pytest.mark.parametrize(
    ("max_queue", "seen"),
    [
        (0, "429"),  # another client fills Parakeet's queue: the probe's 429 means busy
        (DEFAULT_MAX_QUEUE, "timed out"),  # Parakeet reports no queue: the probe waited it out
    ],
    ids=["queue full 429", "timeout behind another client's job"],
)
async def test_a_probe_refused_or_kept_waiting_by_another_clients_job_is_busy(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    session: aiohttp.ClientSession,
    events: dict[str, list[Event[Any]]],
    max_queue: int,
    seen: str,
) -> None:
    """Busy, not wedged: no restart, and the other client's job completes."""
    spark_sim.states["parakeet"].max_queue = max_queue
    job = await long_job_from_another_client(session, spark_sim, "parakeet")
    status = await entry.runtime_data.deep[SparkService.PARAKEET].async_probe_now()
    assert status.busy
    assert seen in (status.error or "")
    assert restarts(ssh_host) == []
    spark_sim.gpu("parakeet").finish_running()
    assert await job == 200
    assert events[EVENT_WEDGE_DETECTED] == []


async def test_self_test_failing_during_a_job_is_a_wedge(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    session: aiohttp.ClientSession,
    events: dict[str, list[Event[Any]]],
) -> None:
    """WhisperX wedges mid-job: its own GPU self-test fails, so busy does not hide it; cured."""
    job = await long_job_from_another_client(session, spark_sim, "whisperx")
    spark_sim.states["whisperx"].fault = Fault.WEDGE
    response = await hass.services.async_call(
        DOMAIN,
        "deep_check",
        {"config_entry_id": entry.entry_id, "service": "whisperx"},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert response["wedged"] is True
    assert "self-test" in str(response["error"])
    await hass.async_block_till_done(wait_background_tasks=True)
    assert restarts(ssh_host) == [["docker", "restart", "whisperx-asr"]]
    # The restart dropped the wedged job, and the service works again.
    with pytest.raises(aiohttp.ClientError):
        await job
    assert len(events[EVENT_SERVICE_RECOVERED]) == 1
    assert (await entry.runtime_data.deep[SparkService.WHISPERX].async_probe_now()).ok


async def test_cuda_error_on_a_5xx_during_a_job_is_a_wedge(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    events: dict[str, list[Event[Any]]],
) -> None:
    """Parakeet wedges under HA's long job: an Assist 500 naming CUBLAS convicts it; cured."""
    job = await long_job_from_home_assistant(entry, spark_sim)
    spark_sim.states["parakeet"].fault = Fault.WEDGE
    result = await speech_to_text(hass, "parakeet")
    assert result.result is stt.SpeechResultState.ERROR
    await hass.async_block_till_done(wait_background_tasks=True)
    await until(lambda: bool(events[EVENT_SERVICE_RECOVERED]))
    assert len(events[EVENT_WEDGE_DETECTED]) == 1
    assert "CUBLAS" in events[EVENT_WEDGE_DETECTED][0].data["reason"]
    assert restarts(ssh_host) == [["docker", "restart", "parakeet"]]
    with pytest.raises(SparkError):
        await job


async def test_busy_after_its_restart_ends_the_recovery_wait(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    events: dict[str, list[Event[Any]]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """New work right after a restart is not "did not recover": the wait ends, nothing restarts.

    Faked: the moment the simulated WhisperX restarts, another client's long job
    takes its GPU (held in the simulator directly, so it is there before recovery's
    first probe; a real client would need a request's worth of time).
    """
    monkeypatch.setattr(recovery, "RECOVERY_TIMEOUT", 5.0)
    jobs: list[asyncio.Task[None]] = []
    restart = sim_faults.ServiceState.restart

    def restart_then_busy(self: sim_faults.ServiceState, delay_s: float = 0.0) -> None:
        restart(self, delay_s)
        if self.name == "whisperx":
            jobs.append(asyncio.ensure_future(spark_sim.gpu("whisperx").run(3600)))

    monkeypatch.setattr(sim_faults.ServiceState, "restart", restart_then_busy)
    spark_sim.states["whisperx"].fault = Fault.WEDGE
    deep = entry.runtime_data.deep[SparkService.WHISPERX]
    try:
        await deep.async_probe_now()
        await hass.async_block_till_done(wait_background_tasks=True)
        assert not entry.runtime_data.recovery[SparkService.WHISPERX].restarting
        assert deep.data is not None
        assert deep.data.busy
        assert restarts(ssh_host) == [["docker", "restart", "whisperx-asr"]]
        assert "did not recover" not in caplog.text
    finally:
        spark_sim.gpu("whisperx").finish_running()
        await asyncio.gather(*jobs)
    assert (await deep.async_probe_now()).ok
    assert len(events[EVENT_SERVICE_RECOVERED]) == 1
