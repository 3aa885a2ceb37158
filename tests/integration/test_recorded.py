"""What the recorder keeps: the install sensor's churn stays out; recovery events reach the logbook.

Faked in the install test, and why: the install job is a real `InstallJob` that is never run; the
test sets its phase and percent and notifies the entities the way the running
job does. A real build's pace depends on the machine, and this test must
control exactly when updates arrive and when time passes (it fires HA's clock).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from homeassistant.components.recorder.core import Recorder
from homeassistant.components.recorder.history import get_significant_states
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, State, callback
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.spark_audio import whisperx_install
from custom_components.spark_audio.const import DOMAIN, INSTALL_WRITE_INTERVAL, SparkService
from custom_components.spark_audio.spark.installer.config import InstallConfig
from custom_components.spark_audio.spark.installer.job import InstallJob
from custom_components.spark_audio.spark.installer.progress import Phase
from tests.integration.conftest import standin_containers
from tests.spark_sim.faults import Fault
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost

SENSOR = "sensor.127_0_0_1_whisperx_install"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must exist before hass does; the conftest fixture would build hass first."""


async def _never_healthy() -> bool:
    return False


async def test_build_progress_is_throttled_and_unrecorded(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
) -> None:
    """Hundreds of progress updates: phase changes at once, the rest at most once per interval."""
    containers = standin_containers(spark_sim)
    del containers["whisperx-asr"]
    ssh_host.write_containers(containers)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="127.0.0.1",
        unique_id="127.0.0.1",
        data={**ssh_entry.data, "whisperx_enabled": False},
        entry_id="01SPARKENTRY",
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    start = dt_util.utcnow()
    writes: list[dict[str, Any]] = []

    @callback
    def record(event: Event[Any]) -> None:
        if event.data["entity_id"] == SENSOR:
            writes.append(dict(event.data["new_state"].attributes))

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    assert entry.runtime_data.ssh is not None
    job = InstallJob(
        entry.runtime_data.ssh,
        InstallConfig(image_tag="spark-audio/whisperx:test"),
        whisperx_install.CONTEXT_DIR,
        _never_healthy,
    )
    state = whisperx_install.install_state(hass, entry.entry_id)
    state.job = job
    job.phase = Phase.BUILD
    whisperx_install.async_notify_install(hass, entry.entry_id)
    assert [w["phase"] for w in writes] == ["build"]  # a phase change shows at once

    for step in range(300):
        job.percent = 10 + step * 0.25
        whisperx_install.async_notify_install(hass, entry.entry_id)
        await hass.async_block_till_done()
    assert len(writes) == 1  # progress alone waits for the interval

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=INSTALL_WRITE_INTERVAL))
    await hass.async_block_till_done()
    assert len(writes) == 2
    assert writes[-1]["percent"] == round(job.percent, 1)

    job.percent = 86
    whisperx_install.async_notify_install(hass, entry.entry_id)
    job.phase = Phase.REPLACE
    whisperx_install.async_notify_install(hass, entry.entry_id)
    assert [w["phase"] for w in writes] == ["build", "build", "replace"]
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=3 * INSTALL_WRITE_INTERVAL))
    await hass.async_block_till_done()
    assert len(writes) == 3  # no write was left pending after the phase change

    await async_wait_recording_done(hass)
    history = await hass.async_add_executor_job(
        lambda: get_significant_states(hass, start, None, [SENSOR], significant_changes_only=False)
    )
    recorded = [s for s in history[SENSOR] if isinstance(s, State)]
    assert [s.attributes.get("phase") for s in recorded if s.state == "installing"] == [
        "build",
        "build",
        "replace",
    ]
    for recorded_state in recorded:
        assert not {"log", "elapsed", "percent"} & set(recorded_state.attributes)
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_recovery_events_in_the_logbook(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
) -> None:
    """A wedge and its end show in the logbook under the service device's name."""
    assert await async_setup_component(hass, "logbook", {})
    await hass.async_block_till_done(wait_background_tasks=True)
    start = dt_util.utcnow()
    deep = init_integration.runtime_data.deep[SparkService.PARAKEET]
    spark_sim.states["parakeet"].fault = Fault.WEDGE
    status = await deep.async_probe_now()
    spark_sim.states["parakeet"].fault = Fault.NONE
    await deep.async_probe_now()
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)

    client = await hass_ws_client()
    await client.send_json({"id": 1, "type": "logbook/get_events", "start_time": start.isoformat()})
    response = await client.receive_json()
    assert response["success"], response
    ours = [(e["name"], e["message"]) for e in response["result"] if e.get("domain") == DOMAIN]
    assert ours == [
        ("127.0.0.1 Parakeet", f"is wedged: {status.error}"),
        ("127.0.0.1 Parakeet", "works again"),
    ]
