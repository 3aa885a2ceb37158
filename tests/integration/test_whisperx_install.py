"""Installing WhisperX from Home Assistant, end to end over a real OpenSSH server.

Faked, and why: no Docker engine runs here. The sshd's stand-in ``docker``
records its arguments, prints realistic build output and, for ``run``, starts
the real WhisperX app from the uploaded build context with its stub engine
(no ML libraries here), so Home Assistant ends up talking to a real WhisperX.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, EVENT_STATE_CHANGED, STATE_UNAVAILABLE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.spark_audio import whisperx_install
from custom_components.spark_audio.const import CONF_RESTART_MIN_SPACING, DOMAIN, SparkService
from custom_components.spark_audio.spark import SparkResponseError, WhisperXClient
from custom_components.spark_audio.spark.installer.progress import PHASE_RANGES, Phase
from custom_components.spark_audio.spark.installer.remote_build import (
    STATE_DIR,
    BuildRecord,
    RemoteBuild,
)
from custom_components.spark_audio.spark.remote.ssh import SparkSSH
from custom_components.spark_audio.spark.remote.ssh_login import SSHCredentials
from custom_components.spark_audio.spark.wav import wav_header
from tests.integration.conftest import SECRETS, standin_containers
from tests.integration.test_translations import untranslated_attributes
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost, process_alive, process_group_alive

HF_TOKEN = "hf_testtoken_never_logged_123"
SECRETS.add(HF_TOKEN)
PROGRESS = "sensor.127_0_0_1_whisperx_install_progress"
PHASE = "sensor.127_0_0_1_whisperx_install_phase"
BUTTON = "button.127_0_0_1_install_whisperx"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def install_entry(
    spark_sim: SparkSim, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> MockConfigEntry:
    """A Spark with SSH but no WhisperX yet; WhisperX will get its own free port."""
    containers = standin_containers(spark_sim)
    del containers["whisperx-asr"]
    ssh_host.write_containers(containers)
    data = {**ssh_entry.data, "whisperx_enabled": False, "whisperx_port": free_port()}
    return MockConfigEntry(
        domain=DOMAIN,
        title="127.0.0.1",
        unique_id="127.0.0.1",
        data=data,
        options={"hf_token": HF_TOKEN},
        entry_id="01SPARKENTRY",
    )


async def wait_for_job(hass: HomeAssistant, entry_id: str) -> Any:
    job = whisperx_install.install_state(hass, entry_id).job
    assert job is not None
    await asyncio.wait_for(job.wait(), timeout=60)
    await hass.async_block_till_done(wait_background_tasks=True)
    return job


def state(hass: HomeAssistant, entity_id: str) -> str:
    found = hass.states.get(entity_id)
    assert found is not None, entity_id
    return found.state


async def test_install_from_the_button(
    hass: HomeAssistant,
    ssh_host: SSHTestHost,
    install_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Button -> build over SSH -> real app running -> WhisperX managed, no manual reload."""
    install_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(install_entry.entry_id)
    await hass.async_block_till_done()
    # Nothing is broken: the install is offered by the button (and the sensor), not a repair.
    assert [i for i in issue_registry.issues.values() if i.domain == DOMAIN] == []
    assert state(hass, "sensor.127_0_0_1_whisperx_install") == "not_installed"
    assert hass.states.get("stt.127_0_0_1_whisperx_speech_to_text") is None

    await hass.services.async_call(
        "button", "press", {"entity_id": "button.127_0_0_1_install_whisperx"}, blocking=True
    )
    assert state(hass, "sensor.127_0_0_1_whisperx_install") == "installing"
    job = await wait_for_job(hass, install_entry.entry_id)
    assert job.error is None, job.lines[-20:]
    assert str(job.phase) == "done"

    assert install_entry.data["whisperx_enabled"] is True
    assert state(hass, "binary_sensor.127_0_0_1_whisperx_connectivity") == "on"
    assert hass.states.get("stt.127_0_0_1_whisperx_speech_to_text") is not None
    assert state(hass, "sensor.127_0_0_1_whisperx_install") == "installed"
    attributes = hass.states.get("sensor.127_0_0_1_whisperx_install").attributes  # type: ignore[union-attr]
    assert attributes["phase"] == "done"
    assert attributes["percent"] == 100
    assert attributes["log"]
    assert [i for i in issue_registry.issues.values() if i.domain == DOMAIN] == []

    calls = ssh_host.docker_calls()
    run = next(c for c in calls if c[1] == "run")
    assert "--gpus" in run
    assert "--restart" in run
    assert "40g" in run
    assert HF_TOKEN not in json.dumps(calls)
    assert all(HF_TOKEN not in line for line in job.lines)
    assert job.tar_bytes > 10_000
    await _key_was_generated_stored_and_sent(hass, install_entry, calls, job.lines)


async def _key_was_generated_stored_and_sent(
    hass: HomeAssistant, entry: MockConfigEntry, calls: list[list[str]], lines: list[str]
) -> None:
    """The install made a key, the entry keeps it (reloads too) and the clients send it."""
    key = entry.data["whisperx_api_key"]
    SECRETS.add(key)  # checked in every log line of this test
    assert len(key) >= 40
    assert key not in json.dumps(calls)
    assert all(key not in line for line in lines)
    assert whisperx_install.whisperx_api_key(entry) == key  # an upgrade keeps it
    wav = wav_header(16_000, data_size=32_000) + bytes(32_000)
    port = entry.data["whisperx_port"]
    unkeyed = WhisperXClient(async_get_clientsession(hass), "127.0.0.1", port)
    with pytest.raises(SparkResponseError) as caught:
        await unkeyed.transcribe(wav)
    assert caught.value.status == 401  # the installed app requires the key
    for _ in range(2):
        client = entry.runtime_data.coordinators[SparkService.WHISPERX].client
        assert isinstance(client, WhisperXClient)
        assert (await client.transcribe(wav)).text
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.data["whisperx_api_key"] == key


async def test_http_endpoints_and_sse(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_admin_user: Any,
    install_entry: MockConfigEntry,
) -> None:
    """Admin endpoints: status, start (202, then 409 while running), job and its SSE stream."""
    install_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(install_entry.entry_id)
    client = await hass_client()

    response = await client.get("/api/spark_audio/whisperx/status")
    status = (await response.json())["sparks"][0]
    assert status["installed"] is False
    assert status["ssh_configured"] is True

    response = await client.post("/api/spark_audio/whisperx/install", json={})
    assert response.status == 202
    job_id = (await response.json())["job_id"]
    response = await client.post("/api/spark_audio/whisperx/install", json={})
    assert response.status == 409
    assert (await response.json())["job_id"] == job_id

    events: list[tuple[str, dict[str, Any]]] = []
    response = await client.get(f"/api/spark_audio/whisperx/install/{job_id}/stream")
    assert response.headers["Content-Type"] == "text/event-stream"
    event = None
    async for raw in response.content:
        line = raw.decode().strip()
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            events.append((event or "", json.loads(line[6:])))
    assert events[-1][0] == "final"
    assert events[-1][1]["phase"] == "done"
    assert any(kind == "log" for kind, _ in events)
    phases = list(dict.fromkeys(data["phase"] for _, data in events))
    assert phases.index("upload") < phases.index("build") < phases.index("done"), phases

    response = await client.get(f"/api/spark_audio/whisperx/install/{job_id}")
    job = await response.json()
    assert job["phase"] == "done"
    assert job["log"]
    response = await client.get("/api/spark_audio/whisperx/install/nope")
    assert response.status == 404
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_non_admin_is_refused(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_admin_user: Any,
    install_entry: MockConfigEntry,
) -> None:
    install_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(install_entry.entry_id)
    hass_admin_user.groups = []
    client = await hass_client()
    for method, path in (
        ("get", "/api/spark_audio/whisperx/status"),
        ("post", "/api/spark_audio/whisperx/install"),
        ("get", "/api/spark_audio/whisperx/install/x"),
        ("get", "/api/spark_audio/whisperx/install/x/stream"),
    ):
        response = await getattr(client, method)(path)
        assert response.status == 401, path


async def test_build_failure_is_reported(
    hass: HomeAssistant, ssh_host: SSHTestHost, install_entry: MockConfigEntry
) -> None:
    ssh_host.set_standin(fail_build=True)
    install_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(install_entry.entry_id)
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.127_0_0_1_install_whisperx"}, blocking=True
    )
    job = await wait_for_job(hass, install_entry.entry_id)
    assert str(job.phase) == "failed"
    assert state(hass, "sensor.127_0_0_1_whisperx_install") == "failed"
    assert install_entry.data["whisperx_enabled"] is False
    # The phase says so; the percent stays where the build stopped; a new try can be pressed.
    assert state(hass, PHASE) == "failed"
    start, end = PHASE_RANGES[Phase.BUILD]
    assert float(state(hass, PROGRESS)) == round(job.percent, 1)
    assert start <= job.percent < end
    assert state(hass, BUTTON) != STATE_UNAVAILABLE
    assert untranslated_attributes(hass) == {}


def test_installed_copy_finds_the_build_context(tmp_path: Path) -> None:
    """HACS copies only custom_components/spark_audio/: that copy must carry the context."""
    source = Path(whisperx_install.__file__).parent
    installed = tmp_path / "config" / "custom_components" / "spark_audio"
    shutil.copytree(source, installed, symlinks=False)  # what an install leaves behind
    context = installed / "whisperx_container"
    assert (context / "Dockerfile").is_file()
    assert (context / "VERSION").read_text().strip()
    assert (context / "app" / "main.py").is_file()


async def test_update_entity_offers_upgrade(
    hass: HomeAssistant,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An installed WhisperX older than the bundled context shows an update; installing rebuilds."""
    from tests.spark_sim import whisperx as sim_whisperx

    monkeypatch.setattr(sim_whisperx, "VERSION", "0.0.9")
    ssh_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await hass.async_block_till_done()
    update = hass.states.get("update.127_0_0_1_whisperx")
    assert update is not None
    assert update.state == "on"
    assert update.attributes["installed_version"] == "0.0.9"
    bundled = (whisperx_install.CONTEXT_DIR / "VERSION").read_text().strip()
    assert update.attributes["latest_version"] == bundled

    ssh_host.set_standin(fail_build=True)  # the rebuild itself is covered above
    await hass.services.async_call(
        "update", "install", {"entity_id": "update.127_0_0_1_whisperx"}, blocking=True
    )
    job = await wait_for_job(hass, ssh_entry.entry_id)
    assert any(call[1] == "build" for call in ssh_host.docker_calls())
    assert str(job.phase) == "failed"


async def test_invalid_stored_hf_token_is_a_translated_error(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    ssh_host: SSHTestHost,
    install_entry: MockConfigEntry,
) -> None:
    """A token stored before the options flow checked it: button, repair and endpoint say so.

    None of them starts a job or runs anything on the Spark, and none is a bare 500.
    """
    bad = "hf_has a space"
    SECRETS.add(bad)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=install_entry.title,
        unique_id=install_entry.unique_id,
        data=dict(install_entry.data),
        options={"hf_token": bad},
        entry_id=install_entry.entry_id,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert await async_setup_component(hass, "repairs", {})
    await hass.async_block_till_done()

    with pytest.raises(HomeAssistantError) as caught:
        await hass.services.async_call(
            "button", "press", {"entity_id": "button.127_0_0_1_install_whisperx"}, blocking=True
        )
    assert caught.value.translation_key == "invalid_hf_token"
    assert "Hugging Face token" in str(caught.value)  # the English text, not a key

    client = await hass_client()
    response = await client.post("/api/spark_audio/whisperx/install", json={})
    assert response.status == 400
    body = await response.json()
    assert body["code"] == "invalid_hf_token"
    assert "Hugging Face token" in body["error"]
    assert bad not in json.dumps(body)
    assert whisperx_install.install_state(hass, entry.entry_id).job is None
    assert not any(c[1] in ("build", "run") for c in ssh_host.docker_calls())


async def test_upgrade_turns_the_update_off(
    hass: HomeAssistant,
    ssh_host: SSHTestHost,
    install_entry: MockConfigEntry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Install, ship a newer bundled version, upgrade: the update entity is off, no reload.

    The bundled version is bumped in a copy of the build context (what a new
    release of the integration brings); the stand-in runs the real app from
    the uploaded copy, so the new WhisperX really reports the new version.
    """
    install_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(install_entry.entry_id)
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.127_0_0_1_install_whisperx"}, blocking=True
    )
    assert str((await wait_for_job(hass, install_entry.entry_id)).phase) == "done"
    bundled = (whisperx_install.CONTEXT_DIR / "VERSION").read_text().strip()
    update = hass.states.get("update.127_0_0_1_whisperx")
    assert update is not None
    assert (update.state, update.attributes["installed_version"]) == ("off", bundled)

    context = tmp_path / "whisperx_container"
    shutil.copytree(
        whisperx_install.CONTEXT_DIR,
        context,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "app_tests"),
    )
    (context / "VERSION").write_text("99.0.0\n")
    monkeypatch.setattr(whisperx_install, "CONTEXT_DIR", context)
    # A new integration release arrives with an HA restart: here, a reload.
    assert await hass.config_entries.async_reload(install_entry.entry_id)
    await hass.async_block_till_done()
    update = hass.states.get("update.127_0_0_1_whisperx")
    assert update is not None
    assert update.state == "on"
    assert update.attributes["latest_version"] == "99.0.0"

    ssh_host.gate_builds()  # hold the upgrade mid-build: the update entity shows its progress
    await hass.services.async_call(
        "update", "install", {"entity_id": "update.127_0_0_1_whisperx"}, blocking=True
    )
    await gated_build_started(hass, ssh_host)
    await hass.async_block_till_done()
    update = hass.states.get("update.127_0_0_1_whisperx")
    assert update is not None
    assert update.attributes["in_progress"] is True
    start, end = PHASE_RANGES[Phase.BUILD]
    assert start <= update.attributes["update_percentage"] < end
    assert state(hass, "button.127_0_0_1_install_whisperx") == STATE_UNAVAILABLE
    ssh_host.open_gate()
    assert str((await wait_for_job(hass, install_entry.entry_id)).phase) == "done"
    update = hass.states.get("update.127_0_0_1_whisperx")
    assert update is not None
    assert update.attributes["update_percentage"] is None
    assert state(hass, "button.127_0_0_1_install_whisperx") != STATE_UNAVAILABLE
    assert update.attributes["installed_version"] == "99.0.0"
    assert update.state == "off"
    assert update.attributes["in_progress"] is False
    assert state(hass, "sensor.127_0_0_1_whisperx_install") == "installed"


async def test_install_sensor_follows_the_container(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
) -> None:
    """WhisperX removed by hand shows not_installed at the next health poll, started: installed."""
    ssh_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await hass.async_block_till_done()
    sensor = "sensor.127_0_0_1_whisperx_install"
    assert state(hass, sensor) == "installed"
    whisperx = ssh_entry.runtime_data.coordinators[SparkService.WHISPERX]

    containers = standin_containers(spark_sim)
    del containers["whisperx-asr"]
    ssh_host.write_containers(containers)
    await spark_sim.stop_service("whisperx")
    await whisperx.async_refresh()  # one health poll; the container poll is not due yet
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state(hass, sensor) == "not_installed"

    ssh_host.write_containers(standin_containers(spark_sim))
    await spark_sim.start_service("whisperx")
    await whisperx.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state(hass, sensor) == "installed"
    await hass.config_entries.async_unload(ssh_entry.entry_id)


async def test_whisperx_started_outside_ha_shows_installed(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    install_entry: MockConfigEntry,
) -> None:
    """A WhisperX container started by hand is seen at the next container poll."""
    install_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(install_entry.entry_id)
    await hass.async_block_till_done()
    sensor = "sensor.127_0_0_1_whisperx_install"
    assert state(hass, sensor) == "not_installed"
    ssh_host.write_containers(standin_containers(spark_sim))
    containers = install_entry.runtime_data.containers
    assert containers is not None
    # Polled as often as the health checks (a frozen clock would expire HTTP timeouts).
    assert containers.update_interval == timedelta(seconds=30)
    await containers.async_refresh()
    await hass.async_block_till_done()
    assert state(hass, sensor) == "installed"
    await hass.config_entries.async_unload(install_entry.entry_id)


# A long build meets reloads, restarts and a second install ------------------------------
#
# The stand-in build waits before its compile step until the test opens the gate, so
# each test holds the install mid-build for as long as it needs.


async def gated_build_started(hass: HomeAssistant, ssh_host: SSHTestHost) -> int:
    """Wait until the detached build sits at the gate; its process group on the "Spark"."""
    async with asyncio.timeout(60):  # a guard against a hang, not a timing assumption
        while ssh_host.gated_build_pid() is None:
            await asyncio.sleep(0.02)
    return int((ssh_host.dir / STATE_DIR / "pid").read_text())


def percent(hass: HomeAssistant) -> float | None:
    found = hass.states.get("sensor.127_0_0_1_whisperx_install")
    return None if found is None else found.attributes.get("percent")


async def press_install(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.127_0_0_1_install_whisperx"}, blocking=True
    )


async def test_options_saved_mid_build_do_not_end_the_install(
    hass: HomeAssistant, ssh_host: SSHTestHost, install_entry: MockConfigEntry
) -> None:
    """An options save reloads the entry mid-build: the same job goes on and is reported."""
    ssh_host.gate_builds()
    install_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(install_entry.entry_id)
    await press_install(hass)
    pgid = await gated_build_started(hass, ssh_host)
    job = whisperx_install.install_state(hass, install_entry.entry_id).job
    assert job is not None

    hass.config_entries.async_update_entry(
        install_entry, options={**install_entry.options, CONF_RESTART_MIN_SPACING: 7}
    )
    await hass.async_block_till_done()
    assert install_entry.runtime_data.applied[1][CONF_RESTART_MIN_SPACING] == 7  # reloaded
    assert process_group_alive(pgid)
    assert str(job.phase) == "build"
    assert state(hass, "sensor.127_0_0_1_whisperx_install") == "installing"

    ssh_host.open_gate()
    assert await wait_for_job(hass, install_entry.entry_id) is job
    assert str(job.phase) == "done", job.lines[-20:]
    assert install_entry.data["whisperx_enabled"] is True
    assert state(hass, "sensor.127_0_0_1_whisperx_install") == "installed"
    assert [c[1] for c in ssh_host.docker_calls()].count("build") == 1


async def test_progress_and_phase_are_states_and_the_button_waits(
    hass: HomeAssistant, ssh_host: SSHTestHost, install_entry: MockConfigEntry
) -> None:
    """A first install shows phase and percent as states; the button is unavailable meanwhile.

    The build is held at the gate, so "mid-build" is a state the test sees, not a moment
    it hopes to catch. Every attribute shown then and afterwards has English text.
    """
    ssh_host.gate_builds()
    install_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(install_entry.entry_id)
    await hass.async_block_till_done()
    assert (state(hass, PROGRESS), state(hass, PHASE)) == ("unknown", "unknown")  # no job yet
    progress = hass.states.get(PROGRESS)
    assert progress is not None
    assert progress.attributes["unit_of_measurement"] == "%"
    assert progress.attributes["state_class"] == "measurement"
    assert state(hass, BUTTON) != STATE_UNAVAILABLE
    shown: list[float] = []

    @callback
    def record(event: Event[Any]) -> None:
        new = event.data["new_state"]
        # Unavailable only while the entry reloads with WhisperX enabled, after the install.
        if event.data["entity_id"] != PROGRESS or new is None:
            return
        if new.state not in ("unknown", STATE_UNAVAILABLE):
            shown.append(float(new.state))

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    await press_install(hass)
    await gated_build_started(hass, ssh_host)
    await hass.async_block_till_done()

    mid_build = float(state(hass, PROGRESS))
    start, end = PHASE_RANGES[Phase.BUILD]
    assert start <= mid_build < end
    assert state(hass, PHASE) == "build"
    assert state(hass, "sensor.127_0_0_1_whisperx_install") == "installing"
    assert state(hass, BUTTON) == STATE_UNAVAILABLE
    with pytest.raises(HomeAssistantError) as caught:  # what the button starts refuses too
        await whisperx_install.async_start_install(hass, install_entry)
    assert caught.value.translation_key == "install_in_progress"
    assert untranslated_attributes(hass) == {}

    ssh_host.open_gate()
    job = await wait_for_job(hass, install_entry.entry_id)
    assert str(job.phase) == "done", job.lines[-20:]
    assert (state(hass, PROGRESS), state(hass, PHASE)) == ("100.0", "done")
    assert state(hass, BUTTON) != STATE_UNAVAILABLE
    # From 0 at the press, through the build, to 100; it never goes back.
    assert shown[0] == 0
    assert mid_build in shown
    assert shown[-1] == 100
    assert shown == sorted(shown)
    assert hass.states.get("sensor.127_0_0_1_whisperx_install").attributes["phase"] == "done"  # type: ignore[union-attr]
    assert untranslated_attributes(hass) == {}


async def test_ha_restart_mid_build_takes_the_install_up_again(
    hass: HomeAssistant, ssh_host: SSHTestHost, install_entry: MockConfigEntry
) -> None:
    """HA stops mid-build and starts again: the entry's setup finds the build and finishes.

    An HA restart within one test: the stop event (the install manager stops following,
    leaving the Spark alone), a fresh process's empty memory (the manager and job state
    dropped), then the entry set up again as HA does at start.
    """
    ssh_host.gate_builds()
    install_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(install_entry.entry_id)
    await press_install(hass)
    pgid = await gated_build_started(hass, ssh_host)
    before = whisperx_install.install_state(hass, install_entry.entry_id).job
    assert before is not None

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert before.detached
    assert await hass.config_entries.async_unload(install_entry.entry_id)
    hass.data.pop(whisperx_install.INSTALL_MANAGER)
    hass.data.pop(whisperx_install.INSTALL_STATE)
    assert process_group_alive(pgid)  # the build went on without HA
    assert install_entry.data["whisperx_enabled"] is False  # its end was not reported

    assert await hass.config_entries.async_setup(install_entry.entry_id)
    async with asyncio.timeout(60):
        while (job := whisperx_install.install_state(hass, install_entry.entry_id).job) is None:
            await asyncio.sleep(0.02)
        while not any("[builder 4/6]" in line for line in job.lines):
            await asyncio.sleep(0.02)  # the log so far, read again from the Spark
    assert job is not before
    assert job.id == before.id
    assert str(job.phase) == "build"
    async with asyncio.timeout(60):
        # Log lines refresh the sensor at most once a second: the replay's last, a bit later.
        while (percent(hass) or 0) <= PHASE_RANGES[Phase.BUILD][0]:
            await asyncio.sleep(0.05)
    assert state(hass, "sensor.127_0_0_1_whisperx_install") == "installing"
    sensor = hass.states.get("sensor.127_0_0_1_whisperx_install")
    assert sensor is not None
    assert sensor.attributes["job_id"] == before.id
    assert sensor.attributes["percent"] == round(job.percent, 1)
    assert state(hass, PHASE) == "build"  # the taken-up job shows like one started here
    assert state(hass, BUTTON) == STATE_UNAVAILABLE

    ssh_host.open_gate()
    assert str((await wait_for_job(hass, install_entry.entry_id)).phase) == "done", job.lines
    assert install_entry.data["whisperx_enabled"] is True
    assert state(hass, "sensor.127_0_0_1_whisperx_install") == "installed"
    assert [c[1] for c in ssh_host.docker_calls()].count("build") == 1
    assert not (ssh_host.dir / STATE_DIR / "pid").exists()


async def test_a_second_install_is_refused_from_this_ha_and_another(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_admin_user: Any,
    ssh_host: SSHTestHost,
    install_entry: MockConfigEntry,
) -> None:
    """While a build runs on the Spark a second install is refused with a translated error.

    The other HA's build is started the way any HA starts one (`RemoteBuild.launch`,
    another owner); this HA's setup leaves it alone, and its button and endpoint refuse.
    """
    install_entry.add_to_hass(hass)
    ssh = SparkSSH(
        ssh_host.host,
        SSHCredentials(
            ssh_host.username, private_key=ssh_host.client_private_key, port=ssh_host.port
        ),
        pinned_host_key=ssh_host.host_public_key,
    )
    other = RemoteBuild(ssh, str(ssh_host.dir))
    await other.launch(["sleep", "600"], BuildRecord("another-ha", "0therjob", "a/b:1.0.0"))
    assert await hass.config_entries.async_setup(install_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert whisperx_install.install_state(hass, install_entry.entry_id).job is None

    with pytest.raises(HomeAssistantError) as caught:
        await press_install(hass)
    assert caught.value.translation_key == "install_in_progress"
    assert "already running (job 0therjob)" in str(caught.value)
    client = await hass_client()
    response = await client.post("/api/spark_audio/whisperx/install", json={})
    assert response.status == 409
    assert (await response.json())["job_id"] == "0therjob"
    assert "build" not in [c[1] for c in ssh_host.docker_calls()]
    await other.stop()
    await ssh.close()

    ssh_host.gate_builds()
    await press_install(hass)
    await gated_build_started(hass, ssh_host)
    job = whisperx_install.install_state(hass, install_entry.entry_id).job
    assert job is not None
    # The button is unavailable meanwhile (HA skips its presses); what starts installs
    # under it refuses with the running job's id.
    assert state(hass, "button.127_0_0_1_install_whisperx") == STATE_UNAVAILABLE
    await press_install(hass)
    with pytest.raises(HomeAssistantError) as caught:
        await whisperx_install.async_start_install(hass, install_entry)
    assert caught.value.translation_key == "install_in_progress"
    assert job.id in str(caught.value)
    assert whisperx_install.install_state(hass, install_entry.entry_id).job is job
    ssh_host.open_gate()
    assert str((await wait_for_job(hass, install_entry.entry_id)).phase) == "done"


async def test_cancel_leaves_nothing_running_on_the_spark(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_admin_user: Any,
    ssh_host: SSHTestHost,
    install_entry: MockConfigEntry,
) -> None:
    """``DELETE /install/{job_id}`` stops the build's process group and frees the Spark."""
    ssh_host.gate_builds()
    install_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(install_entry.entry_id)
    client = await hass_client()
    response = await client.post("/api/spark_audio/whisperx/install", json={})
    job_id = (await response.json())["job_id"]
    pgid = await gated_build_started(hass, ssh_host)
    docker_pid = ssh_host.gated_build_pid()
    assert docker_pid is not None

    response = await client.delete(f"/api/spark_audio/whisperx/install/{job_id}")
    assert response.status == 200
    assert (await response.json())["phase"] == "cancelled"
    assert not process_group_alive(pgid)
    assert not process_alive(docker_pid)
    assert sorted(p.name for p in (ssh_host.dir / STATE_DIR).iterdir()) == ["log"]
    assert state(hass, "sensor.127_0_0_1_whisperx_install") == "failed"
    response = await client.delete(f"/api/spark_audio/whisperx/install/{job_id}")
    assert response.status == 409
    response = await client.delete("/api/spark_audio/whisperx/install/nope")
    assert response.status == 404
    assert install_entry.data["whisperx_enabled"] is False
    await hass.async_block_till_done(wait_background_tasks=True)
