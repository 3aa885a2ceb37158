"""Background transcription through the real WhisperX container app (stub engine).

The FastAPI app from ``whisperx_container/app`` runs in-process under uvicorn on
loopback, with its stub engine (no ML: the same HTTP, job and progress code as
the real container). The stub is held inside its first phase so the test can
see the container's progress reach the sensor without depending on timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
import uvicorn
from homeassistant.core import Event, HomeAssistant, callback
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN, SparkService, conf_enabled, conf_port
from custom_components.spark_audio.whisperx_container.app.config import Settings
from custom_components.spark_audio.whisperx_container.app.main import create_app
from custom_components.spark_audio.whisperx_container.app.progress import JobState, current_job
from custom_components.spark_audio.whisperx_container.app.stub_engine import (
    PROGRESS_STEPS,
    StubEngine,
)
from tests.integration.conftest import entry_data
from tests.integration.long_audio import (
    CAP_S,
    HOURS_2,
    collect_events,
    make_recording,
    transcription_sensor,
    wait_until,
)
from tests.spark_sim.server import SparkSim

UNITS = [f"transcribe unit {n}/{PROGRESS_STEPS}" for n in range(1, PROGRESS_STEPS + 1)]


@pytest.fixture
async def recording(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A two-hour recording in a media folder HA may read."""
    return await make_recording(hass, tmp_path)


class HeldStub(StubEngine):
    """The stub, held inside a job's first phase until the test lets it go."""

    def __init__(self) -> None:
        super().__init__("medium", hf_token="stub-token")
        self.gate: threading.Event | None = None
        self.held: list[JobState] = []

    def _work(self, job: str) -> None:
        gate = self.gate
        if gate is not None and job.startswith("transcribe"):
            tracked = current_job.get()
            assert tracked is not None  # the client sent its job id
            self.held.append(tracked[1])
            gate.wait(CAP_S)
        super()._work(job)


@pytest.fixture
def container(socket_enabled: None) -> Iterator[tuple[HeldStub, int]]:
    """The container app on an ephemeral loopback port, in its own thread and event loop.

    Its own loop, as in the real container: uvicorn's keep-alive timers and the
    engine's worker threads never touch Home Assistant's loop.
    """
    engine = HeldStub()
    app = create_app(
        engine=engine,
        settings=Settings(engine="stub", hf_token="stub-token"),
        exit_fn=lambda code: None,
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="whisperx-app")
    thread.start()
    deadline = time.monotonic() + CAP_S
    while not server.started:
        assert thread.is_alive()
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield engine, port
    if engine.gate is not None:
        engine.gate.set()
    server.should_exit = True
    thread.join(CAP_S)


async def test_two_hour_job_through_the_container_reports_its_phases(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    container: tuple[HeldStub, int],
    recording: Path,
) -> None:
    """The container's phases reach the sensor; percent rises to 100; files written once."""
    engine, port = container
    entry = await _setup(hass, spark_sim, port)
    sensor = transcription_sensor(hass, entry)
    seen: list[dict[str, Any]] = []

    @callback
    def on_state(event: Event[Any]) -> None:
        new = event.data["new_state"]
        if event.data["entity_id"] == sensor and new is not None and new.state == "running":
            seen.append(dict(new.attributes))

    hass.bus.async_listen("state_changed", on_state)
    done = collect_events(hass, "spark_audio_transcription_done")
    failed = collect_events(hass, "spark_audio_transcription_failed")
    jobs_before = len(engine.jobs)
    engine.gate = threading.Event()
    with patch("custom_components.spark_audio.transcription.progress.POLL_INTERVAL_S", 0.05):
        response: Any = await hass.services.async_call(
            DOMAIN,
            "transcribe",
            {"media": str(recording), "speakers": True, "write": ["vtt"], "wait": False},
            blocking=True,
            return_response=True,
        )
        # Held inside the container's first phase: the poll must bring it to the sensor.
        await wait_until(hass, lambda: any(s.get("phase") == "loading_audio" for s in seen))
        engine.gate.set()
        await wait_until(hass, lambda: bool(done or failed))
    assert failed == []
    assert [e["job_id"] for e in done] == [response["job_id"]]
    assert done[0]["duration"] == pytest.approx(HOURS_2, abs=1)
    assert len(done[0]["speakers"]) == 2  # the stub's two alternating speakers
    assert seen[0]["model"] == "whisperx"
    percents = [s["percent"] for s in seen]
    assert percents == sorted(percents)
    assert percents[-1] == 100
    vtt = recording.with_suffix(".vtt")
    assert (await hass.async_add_executor_job(vtt.read_text)).startswith("WEBVTT")
    # One job, not repeated; sent as background work, so the container ran it in units.
    assert engine.jobs[jobs_before:] == [*UNITS, "diarize"]
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def _setup(hass: HomeAssistant, spark_sim: SparkSim, port: int) -> MockConfigEntry:
    """An entry whose WhisperX is the container app; its first deep checks done."""
    data = entry_data(
        spark_sim,
        **{conf_enabled(SparkService.WHISPERX): True, conf_port(SparkService.WHISPERX): port},
    )
    entry = MockConfigEntry(domain=DOMAIN, title="127.0.0.1", data=data, entry_id="01SPARKWX")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


async def test_cancel_stops_the_container_job_and_leaves_no_files(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    container: tuple[HeldStub, int],
    recording: Path,
) -> None:
    """Cancelled while the container transcribes: it never diarizes; no caption files."""
    engine, port = container
    entry = await _setup(hass, spark_sim, port)
    failed = collect_events(hass, "spark_audio_transcription_failed")
    jobs_before = len(engine.jobs)
    engine.gate = threading.Event()
    response: Any = await hass.services.async_call(
        DOMAIN,
        "transcribe",
        {"media": str(recording), "speakers": True, "write": ["srt", "json"], "wait": False},
        blocking=True,
        return_response=True,
    )
    await wait_until(hass, lambda: bool(engine.held))
    await hass.services.async_call(
        DOMAIN, "cancel_transcription", {"job_id": response["job_id"]}, blocking=True
    )
    held = engine.held[0]
    assert held.cancelled  # the integration told the container
    engine.gate.set()  # the engine goes on to its next report, and stops there
    await wait_until(hass, lambda: held.phase == "cancelled")
    assert engine.jobs[jobs_before:] == [UNITS[0]]  # never went on to its next unit or diarize
    assert [(e["job_id"], e["error"]) for e in failed] == [(response["job_id"], "Cancelled")]
    media = recording.parent
    assert sorted(
        p.name for p in await hass.async_add_executor_job(lambda: list(media.iterdir()))
    ) == ["meeting.wav"]
    state = hass.states.get(transcription_sensor(hass, entry))
    assert state is not None
    assert state.state == "idle"
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
