"""Wedge detection and recovery against a real OpenSSH server and a stand-in docker.

Faked, and why: no Docker engine runs here, so the sshd's PATH starts with a
stand-in ``docker`` (tests/ssh_host/docker_standin.py) that records its
arguments and, for ``restart``, asks the simulated service to clear its CUDA
wedge (after a configurable outage) just as restarting the container would.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.spark_audio import recovery
from custom_components.spark_audio.const import (
    DOMAIN,
    EVENT_RESTART_FAILED,
    EVENT_SERVICE_RECOVERED,
    EVENT_SERVICE_RESTARTED,
    EVENT_WEDGE_DETECTED,
    SparkService,
)
from custom_components.spark_audio.data import async_entry_device, signal_deep_check
from custom_components.spark_audio.deep_check import DeepCheckStatus
from custom_components.spark_audio.spark.clients.probes import Verdict
from custom_components.spark_audio.spark.remote.ssh_login import HostKey
from tests.integration.conftest import standin_containers
from tests.integration.test_translations import untranslated_attributes
from tests.spark_sim import faults as sim_faults
from tests.spark_sim.faults import Fault
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost

EVENTS = (
    EVENT_WEDGE_DETECTED,
    EVENT_SERVICE_RESTARTED,
    EVENT_RESTART_FAILED,
    EVENT_SERVICE_RECOVERED,
)
PARAKEET = SparkService.PARAKEET


pytestmark = pytest.mark.usefixtures("all_entities_enabled")


@pytest.fixture(autouse=True)
def fast_recovery(monkeypatch: pytest.MonkeyPatch) -> None:
    """Poll for recovery every 50 ms instead of every 2 s, retry failed restarts fast."""
    monkeypatch.setattr(recovery, "RECOVERY_PROBE_INTERVAL", 0.05)
    monkeypatch.setattr(recovery, "RESTART_RETRY_DELAY", 0.2)


@pytest.fixture(autouse=True)
async def unload_entries(hass: HomeAssistant) -> Any:
    """Unload what a test set up while the simulator and sshd still run."""
    yield
    await hass.async_block_till_done(wait_background_tasks=True)
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
def events(hass: HomeAssistant) -> dict[str, list[Event[Any]]]:
    return {name: async_capture_events(hass, name) for name in EVENTS}


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


async def settle(hass: HomeAssistant) -> None:
    await hass.async_block_till_done(wait_background_tasks=True)


def state(hass: HomeAssistant, entity_id: str) -> str:
    found = hass.states.get(entity_id)
    assert found is not None, entity_id
    return found.state


async def test_wedge_detected_restarted_recovered(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
    events: dict[str, list[Event[Any]]],
) -> None:
    """One probe sees the wedge; docker restart over SSH; the service works again."""
    await setup(hass, ssh_entry)
    assert state(hass, "binary_sensor.127_0_0_1_parakeet_wedged") == STATE_OFF
    assert state(hass, "sensor.127_0_0_1_parakeet_container") == "running"
    assert state(hass, "sensor.127_0_0_1_parakeet_restarts_in_24_hours") == "0"
    seen_wedged: list[str] = []
    hass.bus.async_listen(
        "state_changed",
        lambda e: (
            seen_wedged.append(e.data["new_state"].state)
            if e.data["entity_id"] == "binary_sensor.127_0_0_1_parakeet_wedged"
            else None
        ),
    )

    spark_sim.states["parakeet"].fault = Fault.WEDGE
    status = await ssh_entry.runtime_data.deep[PARAKEET].async_probe_now()
    assert status.wedged
    await settle(hass)

    assert [e.data for e in events[EVENT_WEDGE_DETECTED]] == [
        {
            "entry_id": ssh_entry.entry_id,
            "device_id": async_entry_device(  # type: ignore[union-attr]
                hass, ssh_entry.entry_id, (DOMAIN, f"{ssh_entry.entry_id}_parakeet")
            ).id,
            "service": "parakeet",
            "container": "parakeet",
            "reason": status.error,
        }
    ]
    assert "CUBLAS" in (status.error or "")
    assert len(events[EVENT_SERVICE_RESTARTED]) == 1
    assert len(events[EVENT_SERVICE_RECOVERED]) == 1
    assert events[EVENT_RESTART_FAILED] == []
    assert ["docker", "restart", "parakeet"] in ssh_host.docker_calls()
    assert spark_sim.states["parakeet"].restarts == 1
    assert STATE_ON in seen_wedged
    assert state(hass, "binary_sensor.127_0_0_1_parakeet_wedged") == STATE_OFF
    assert state(hass, "sensor.127_0_0_1_parakeet_restarts_in_24_hours") == "1"
    assert state(hass, "sensor.127_0_0_1_parakeet_last_restart") != STATE_UNKNOWN
    assert untranslated_attributes(hass) == {}  # the restart's and the wedge's details too
    # Other services were left alone.
    assert all(
        call[1:2] != ["restart"] or call[2] == "parakeet" for call in ssh_host.docker_calls()
    )


async def test_repeated_wedges_hit_the_rate_limit(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
    events: dict[str, list[Event[Any]]],
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """3 restarts an hour at most, 10 minutes apart; past that a repair issue, cleared later.

    The clock is frozen here, so nothing may sleep: the recovery loop polls
    back to back and the simulator answers without processing delays.
    """
    monkeypatch.setattr(recovery, "RECOVERY_PROBE_INTERVAL", 0)
    monkeypatch.setattr(sim_faults, "_WEDGE_SETTLE_S", 0)
    for service_state in spark_sim.states.values():
        service_state.rtf = 0  # simulated GPU time would sleep on the frozen clock
    await setup(hass, ssh_entry)
    deep = ssh_entry.runtime_data.deep[PARAKEET]
    issue_id = f"keeps_wedging_{ssh_entry.entry_id}_parakeet"

    async def wedge_and_probe() -> None:
        spark_sim.states["parakeet"].fault = Fault.WEDGE
        await deep.async_probe_now()
        await settle(hass)

    await wedge_and_probe()  # t = 0: restart 1
    freezer.tick(300)
    await wedge_and_probe()  # t = 5 min: too soon after the last restart
    assert len(events[EVENT_SERVICE_RESTARTED]) == 1
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    ir.async_delete_issue(hass, DOMAIN, issue_id)
    spark_sim.states["parakeet"].fault = Fault.NONE
    freezer.tick(360)
    await wedge_and_probe()  # t = 11 min: restart 2
    freezer.tick(660)
    await wedge_and_probe()  # t = 22 min: restart 3
    assert len(events[EVENT_SERVICE_RESTARTED]) == 3
    freezer.tick(660)
    await wedge_and_probe()  # t = 33 min: 3 restarts in the last hour, no more
    assert len(events[EVENT_SERVICE_RESTARTED]) == 3
    assert [c for c in ssh_host.docker_calls() if c[1] == "restart"] == [
        ["docker", "restart", "parakeet"]
    ] * 3
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "keeps_wedging"
    assert issue.translation_placeholders is not None
    assert "CUBLAS" in issue.translation_placeholders["errors"]
    assert state(hass, "binary_sensor.127_0_0_1_parakeet_wedged") == STATE_ON

    # Fixed by hand: healthy for an hour clears the issue.
    spark_sim.states["parakeet"].fault = Fault.NONE
    await deep.async_probe_now()
    assert len(events[EVENT_SERVICE_RECOVERED]) == 4
    freezer.tick(1800)
    await deep.async_probe_now()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    freezer.tick(1801)
    await deep.async_probe_now()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_ssh_down_mid_restart_fails_then_retries(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
    events: dict[str, list[Event[Any]]],
) -> None:
    """A restart that cannot reach the Spark fires restart_failed; a later retry works."""
    await setup(hass, ssh_entry)
    ssh_host.stop()
    ssh_host.drop_connections()
    spark_sim.states["parakeet"].fault = Fault.WEDGE
    await ssh_entry.runtime_data.deep[PARAKEET].async_probe_now()
    await settle(hass)
    assert len(events[EVENT_RESTART_FAILED]) == 1
    assert events[EVENT_RESTART_FAILED][0].data["container"] == "parakeet"
    assert events[EVENT_SERVICE_RESTARTED] == []

    ssh_host.start()
    for _ in range(100):  # the retry is scheduled 0.2 s later (patched from 60 s)
        if events[EVENT_SERVICE_RECOVERED]:
            break
        await asyncio.sleep(0.05)
        await settle(hass)
    assert len(events[EVENT_SERVICE_RESTARTED]) == 1
    assert len(events[EVENT_SERVICE_RECOVERED]) == 1
    assert spark_sim.states["parakeet"].restarts == 1


async def test_changed_host_key_is_refused(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """After the Spark's key changes nothing runs over SSH until the user accepts the key."""
    await setup(hass, ssh_entry)
    calls_before = len(ssh_host.docker_calls())
    new_key = ssh_host.rotate_host_key()
    ssh_host.drop_connections()
    await ssh_entry.runtime_data.containers.async_refresh()
    await settle(hass)
    issue_id = f"ssh_host_key_changed_{ssh_entry.entry_id}"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert len(ssh_host.docker_calls()) == calls_before
    assert state(hass, "sensor.127_0_0_1_parakeet_container") == "unavailable"

    # The repair flow shows the new fingerprint and pins exactly that key.
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    resp = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    assert resp.status == 200
    flow = await resp.json()
    assert flow["step_id"] == "confirm"
    fingerprint = HostKey.from_openssh(new_key).fingerprint
    assert flow["description_placeholders"]["fingerprint"] == fingerprint
    resp = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert resp.status == 200
    assert (await resp.json())["type"] == "create_entry"
    await settle(hass)
    assert ssh_entry.data["ssh_host_key"].split()[:2] == new_key.split()[:2]
    assert ssh_entry.state is ConfigEntryState.LOADED
    assert state(hass, "sensor.127_0_0_1_parakeet_container") == "running"


async def test_wrong_key_starts_reauth(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """A login the Spark refuses starts a reauth flow; new credentials fix it."""
    import asyncssh

    wrong = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    good = ssh_entry.data["ssh_private_key"]
    ssh_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        ssh_entry, data={**ssh_entry.data, "ssh_private_key": wrong}
    )
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await settle(hass)
    flows = [
        f
        for f in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if f["context"]["source"] == SOURCE_REAUTH
    ]
    assert len(flows) == 1
    # Speech keeps working while SSH is broken.
    assert state(hass, "binary_sensor.127_0_0_1_parakeet_connectivity") == STATE_ON

    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {"ssh_user": ssh_host.username, "ssh_private_key": wrong}
    )
    assert result["errors"] == {"base": "ssh_auth_failed"}
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {"ssh_user": ssh_host.username, "ssh_private_key": good}
    )
    assert result["type"] == "abort"
    assert result["reason"] == "reauth_successful"
    await settle(hass)
    assert ssh_entry.data["ssh_private_key"] == good.strip()
    assert state(hass, "sensor.127_0_0_1_parakeet_container") == "running"


async def test_without_ssh_a_wedge_raises_a_repair(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    events: dict[str, list[Event[Any]]],
    issue_registry: ir.IssueRegistry,
) -> None:
    """No SSH: the wedge is reported and a repair suggests adding SSH; nothing restarts."""
    await settle(hass)
    assert hass.states.get("button.127_0_0_1_parakeet_restart") is None
    assert hass.states.get("switch.127_0_0_1_parakeet_container_running") is None
    spark_sim.states["parakeet"].fault = Fault.WEDGE
    await init_integration.runtime_data.deep[PARAKEET].async_probe_now()
    await settle(hass)
    assert len(events[EVENT_WEDGE_DETECTED]) == 1
    assert events[EVENT_SERVICE_RESTARTED] == []
    assert state(hass, "binary_sensor.127_0_0_1_parakeet_wedged") == STATE_ON
    issue = issue_registry.async_get_issue(
        DOMAIN, f"ssh_not_configured_{init_integration.entry_id}"
    )
    assert issue is not None
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "restart_service",
            {"config_entry_id": init_integration.entry_id, "service": "parakeet"},
            blocking=True,
        )
    assert err.value.translation_key == "ssh_not_configured"

    # Two services wedged: the suggestion stays until neither is.
    spark_sim.states["magpie"].fault = Fault.WEDGE
    await init_integration.runtime_data.deep[SparkService.MAGPIE].async_probe_now()
    spark_sim.states["parakeet"].fault = Fault.NONE
    await init_integration.runtime_data.deep[PARAKEET].async_probe_now()
    await settle(hass)
    assert issue_registry.async_get_issue(DOMAIN, issue.issue_id) is not None
    spark_sim.states["magpie"].fault = Fault.NONE
    await init_integration.runtime_data.deep[SparkService.MAGPIE].async_probe_now()
    await settle(hass)
    assert len(events[EVENT_SERVICE_RECOVERED]) == 2
    assert issue_registry.async_get_issue(DOMAIN, issue.issue_id) is None


async def test_a_down_service_is_not_wedged(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
    events: dict[str, list[Event[Any]]],
    issue_registry: ir.IssueRegistry,
) -> None:
    """A stopped service (connection refused) is down, not wedged: SSH at hand, no restart."""
    await setup(hass, ssh_entry)
    await spark_sim.stop_service("parakeet")
    status = await ssh_entry.runtime_data.deep[PARAKEET].async_probe_now()
    await settle(hass)
    assert status.verdict is Verdict.DOWN
    assert not status.wedged
    assert events[EVENT_WEDGE_DETECTED] == []
    assert [c for c in ssh_host.docker_calls() if c[1] == "restart"] == []
    issue_id = f"keeps_wedging_{ssh_entry.entry_id}_parakeet"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert state(hass, "binary_sensor.127_0_0_1_parakeet_wedged") == STATE_OFF


async def test_wedged_again_during_its_restart_waits_for_that_restart(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
    events: dict[str, list[Event[Any]]],
    issue_registry: ir.IssueRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Wedged probes while recovery waits for its own restart neither restart nor give up.

    Faked: the simulated restart here leaves the wedge in place (a restart that
    has not cured it yet), so the recovery wait's probes see it again; after two
    of them the wedge clears, as a slow-loading container's would.
    """
    restart = sim_faults.ServiceState.restart

    def restart_keeping_the_wedge(self: sim_faults.ServiceState, delay_s: float = 0.0) -> None:
        restart(self, delay_s)
        self.fault = Fault.WEDGE

    monkeypatch.setattr(sim_faults.ServiceState, "restart", restart_keeping_the_wedge)
    await setup(hass, ssh_entry)
    parakeet = spark_sim.states["parakeet"]
    recovery_state = ssh_entry.runtime_data.recovery[PARAKEET]
    wedged_while_restarting: list[DeepCheckStatus] = []

    def watch(status: DeepCheckStatus) -> None:
        if status.wedged and recovery_state.restarting:
            wedged_while_restarting.append(status)
            if len(wedged_while_restarting) == 2:
                parakeet.fault = Fault.NONE

    ssh_entry.async_on_unload(
        async_dispatcher_connect(hass, signal_deep_check(ssh_entry.entry_id, PARAKEET), watch)
    )
    parakeet.fault = Fault.WEDGE
    await ssh_entry.runtime_data.deep[PARAKEET].async_probe_now()
    await settle(hass)
    assert len(wedged_while_restarting) == 2
    assert not recovery_state.restarting
    assert [c for c in ssh_host.docker_calls() if c[1] == "restart"] == [
        ["docker", "restart", "parakeet"]
    ]
    assert len(events[EVENT_WEDGE_DETECTED]) == 1
    assert len(events[EVENT_SERVICE_RECOVERED]) == 1
    issue_id = f"keeps_wedging_{ssh_entry.entry_id}_parakeet"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_joined_probes_reach_recovery_once(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """Two deep checks asked at once share one probe: one inference, one error for recovery."""
    await settle(hass)
    recovery = init_integration.runtime_data.recovery[PARAKEET]
    deep = init_integration.runtime_data.deep[PARAKEET]
    parakeet = spark_sim.states["parakeet"]
    parakeet.fault = Fault.WEDGE
    errors_before, requests_before = len(recovery.last_errors), len(parakeet.requests)
    first, second = await asyncio.gather(deep.async_probe_now(), deep.async_probe_now())
    await settle(hass)
    assert first is second
    assert first.wedged
    probes = [
        r for r in parakeet.requests[requests_before:] if r.path == "/v1/audio/transcriptions"
    ]
    assert len(probes) == 1
    assert len(recovery.last_errors) - errors_before == 1


async def test_backend_5xx_in_stt_triggers_an_immediate_probe(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    events: dict[str, list[Event[Any]]],
) -> None:
    """A wedge seen by a real request is confirmed by a deep check at once."""
    from homeassistant.components import stt

    await settle(hass)
    spark_sim.states["parakeet"].fault = Fault.WEDGE
    entity = stt.async_get_speech_to_text_entity(hass, "stt.127_0_0_1_parakeet_speech_to_text")
    assert entity is not None

    async def audio() -> Any:
        yield b"\x00\x00" * 1600

    result = await entity.async_process_audio_stream(
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
    assert result.result is stt.SpeechResultState.ERROR
    await settle(hass)
    assert len(events[EVENT_WEDGE_DETECTED]) == 1
    assert state(hass, "binary_sensor.127_0_0_1_parakeet_wedged") == STATE_ON


async def test_actions_buttons_and_switch(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """restart_service and deep_check actions, the buttons and the container switch."""
    await setup(hass, ssh_entry)
    response = await hass.services.async_call(
        DOMAIN,
        "deep_check",
        {"config_entry_id": ssh_entry.entry_id, "service": "magpie"},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert response["ok"] is True
    assert response["wedged"] is False
    assert isinstance(response["latency_ms"], int)

    await hass.services.async_call(
        DOMAIN,
        "restart_service",
        {"config_entry_id": ssh_entry.entry_id, "service": "whisperx"},
        blocking=True,
    )
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.127_0_0_1_magpie_restart"}, blocking=True
    )
    await settle(hass)
    restarts = [c[2] for c in ssh_host.docker_calls() if c[1] == "restart"]
    assert restarts == ["whisperx-asr", "magpie-tts"]
    assert state(hass, "sensor.127_0_0_1_magpie_restarts_in_24_hours") == "1"

    await hass.services.async_call(
        "switch",
        "turn_off",
        {"entity_id": "switch.127_0_0_1_parakeet_container_running"},
        blocking=True,
    )
    assert state(hass, "switch.127_0_0_1_parakeet_container_running") == STATE_OFF
    assert state(hass, "sensor.127_0_0_1_parakeet_container") == "exited"
    await hass.services.async_call(
        "switch",
        "turn_on",
        {"entity_id": "switch.127_0_0_1_parakeet_container_running"},
        blocking=True,
    )
    assert state(hass, "switch.127_0_0_1_parakeet_container_running") == STATE_ON
    assert ["docker", "stop", "parakeet"] in ssh_host.docker_calls()
    assert ["docker", "start", "parakeet"] in ssh_host.docker_calls()

    before = spark_sim.states["parakeet"].requests.copy()
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.127_0_0_1_parakeet_run_deep_check"}, blocking=True
    )
    new = spark_sim.states["parakeet"].requests[len(before) :]
    assert any(r.path == "/v1/audio/transcriptions" for r in new)

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "restart_service",
            {"config_entry_id": "nope", "service": "parakeet"},
            blocking=True,
        )
    assert err.value.translation_key == "unknown_entry"


async def test_missing_container_is_reported(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """A container that does not exist shows as missing; its switch is off."""
    containers = standin_containers(spark_sim)
    del containers["whisperx-asr"]
    ssh_host.write_containers(containers)
    await setup(hass, ssh_entry)
    assert state(hass, "sensor.127_0_0_1_whisperx_container") == "missing"
    assert state(hass, "switch.127_0_0_1_whisperx_container_running") == STATE_OFF


async def test_shell_metacharacters_in_container_name_rejected(
    hass: HomeAssistant, ssh_entry: MockConfigEntry, ssh_host: SSHTestHost
) -> None:
    """The options flow refuses a container name that is not a Docker name."""
    await setup(hass, ssh_entry)
    result = await hass.config_entries.options.async_init(ssh_entry.entry_id)
    values = {
        "default_voice": "Magpie-Multilingual.EN-US.Mia",
        "stt_language": "en",
        "request_timeout": 60,
        "deep_check_interval": 5,
        "restart_min_spacing": 10,
        "restart_max_per_hour": 3,
        "parakeet_container": "parakeet; touch /tmp/pwned",
        "magpie_container": "magpie-tts",
        "whisperx_container": "$(reboot)",
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], values)
    assert result["type"] == "form"
    assert result["errors"] == {
        "parakeet_container": "invalid_container_name",
        "whisperx_container": "invalid_container_name",
    }
    values |= {"parakeet_container": "parakeet-v3", "whisperx_container": "whisperx_asr.1"}
    result = await hass.config_entries.options.async_configure(result["flow_id"], values)
    assert result["type"] == "create_entry"


async def test_round_trip_sensors(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """Magpie speaks the test phrase, Parakeet hears it: latency and RTF are reported.

    Faked: the simulated Parakeet "hears" audio the simulated Magpie made
    (it remembers what it synthesised); no ASR model runs here.
    """
    await settle(hass)
    result = init_integration.runtime_data.round_trip.data
    assert result is not None
    assert result.word_accuracy == 1.0
    assert result.understood
    latency = float(state(hass, "sensor.127_0_0_1_parakeet_round_trip_latency"))
    rtf = float(state(hass, "sensor.127_0_0_1_parakeet_round_trip_real_time_factor"))
    assert latency > 0
    assert 0 < rtf < 1
    magpie_texts = [r.fields.get("text") for r in spark_sim.states["magpie"].requests]
    assert "Spark audio check, one two three." in magpie_texts


async def test_restart_history_survives_ha_restart(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
    events: dict[str, list[Event[Any]]],
    issue_registry: ir.IssueRegistry,
) -> None:
    """Counters and the rate limit hold across an HA restart; manual restarts count, not limit.

    "Restarting HA" is unloading the entry and setting it up again on the
    same hass_storage, which is what HA's stop and start do to a config entry.
    """
    ssh_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(ssh_entry, options={"restart_max_per_hour": 1})
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await settle(hass)
    restarts = "sensor.127_0_0_1_parakeet_restarts_in_24_hours"
    last = "sensor.127_0_0_1_parakeet_last_restart"
    issue_id = f"keeps_wedging_{ssh_entry.entry_id}_parakeet"

    # A manual restart is counted, but does not use up the one automatic restart an hour.
    await hass.services.async_call(
        DOMAIN,
        "restart_service",
        {"config_entry_id": ssh_entry.entry_id, "service": "parakeet"},
        blocking=True,
    )
    await settle(hass)
    assert events[EVENT_SERVICE_RESTARTED][-1].data["reason"] == "manual"
    spark_sim.states["parakeet"].fault = Fault.WEDGE
    await ssh_entry.runtime_data.deep[PARAKEET].async_probe_now()
    await settle(hass)
    assert len(events[EVENT_SERVICE_RESTARTED]) == 2
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert state(hass, restarts) == "2"
    last_before = state(hass, last)
    stored = hass_storage[f"{DOMAIN}.{ssh_entry.entry_id}.restarts"]["data"]["parakeet"]
    assert [(r["reason"], r["automatic"]) for r in stored] == [
        ("manual", False),
        (events[EVENT_WEDGE_DETECTED][0].data["reason"], True),
    ]

    assert await hass.config_entries.async_unload(ssh_entry.entry_id)
    await settle(hass)
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await settle(hass)
    assert state(hass, restarts) == "2"
    assert state(hass, last) == last_before
    last_state = hass.states.get(last)
    assert last_state is not None
    assert last_state.attributes["automatic"] is True

    # Wedged again after the restart of HA: the automatic limit remembers and refuses.
    spark_sim.states["parakeet"].fault = Fault.WEDGE
    await ssh_entry.runtime_data.deep[PARAKEET].async_probe_now()
    await settle(hass)
    assert len(events[EVENT_SERVICE_RESTARTED]) == 2
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    assert [c for c in ssh_host.docker_calls() if c[1] == "restart"] == [
        ["docker", "restart", "parakeet"]
    ] * 2


async def test_removing_the_entry_removes_its_history(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
) -> None:
    """The stored history goes with its entry."""
    await setup(hass, ssh_entry)
    await hass.services.async_call(
        DOMAIN,
        "restart_service",
        {"config_entry_id": ssh_entry.entry_id, "service": "magpie"},
        blocking=True,
    )
    await settle(hass)
    key = f"{DOMAIN}.{ssh_entry.entry_id}.restarts"
    assert key in hass_storage
    assert await hass.config_entries.async_remove(ssh_entry.entry_id)
    await settle(hass)
    assert key not in hass_storage


async def test_a_lasting_wedge_logs_once_and_its_end_once(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Log-when-unavailable: one line when the wedge starts, one when it ends, not per check."""
    await settle(hass)
    caplog.clear()
    caplog.set_level(logging.INFO, logger="custom_components.spark_audio")
    deep = init_integration.runtime_data.deep[PARAKEET]
    spark_sim.states["parakeet"].fault = Fault.WEDGE
    for _ in range(4):
        assert (await deep.async_probe_now()).wedged
    await settle(hass)
    spark_sim.states["parakeet"].fault = Fault.NONE
    for _ in range(2):
        assert (await deep.async_probe_now()).ok
    ours = [
        r
        for r in caplog.records
        if r.name.startswith("custom_components.spark_audio") and r.levelno >= logging.INFO
    ]
    assert [(r.levelno, "wedged" in r.getMessage()) for r in ours] == [
        (logging.WARNING, True),
        (logging.INFO, False),
    ], [r.getMessage() for r in ours]
    assert "works again" in ours[1].getMessage()


async def test_misheard_round_trip_logs_once(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Parakeet mishearing the test phrase warns once while it lasts, and notes its end once.

    Faked: the simulated Parakeet normally "hears" what the simulated Magpie
    said; here it is made to answer a fixed wrong transcript instead.
    """
    from tests.spark_sim import parakeet as sim_parakeet

    await settle(hass)
    caplog.set_level(logging.INFO, logger="custom_components.spark_audio")
    round_trip = init_integration.runtime_data.round_trip
    assert round_trip is not None
    monkeypatch.setattr(sim_parakeet, "recall_speech", lambda pcm: None)
    spark_sim.states["parakeet"].transcript = "completely different words"
    caplog.clear()
    for _ in range(3):
        await round_trip.async_refresh()
    monkeypatch.undo()
    for _ in range(2):
        await round_trip.async_refresh()
    lines = [r.getMessage() for r in caplog.records if "Round trip" in r.getMessage()]
    assert len(lines) == 2, lines
    assert "completely different words" in lines[0]
    assert "again" in lines[1]
