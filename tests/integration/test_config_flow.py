"""Config, reconfigure and options flows against the simulated Spark."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import patch

import asyncssh
import pytest
import pytest_socket
import voluptuous as vol
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState, ConfigFlowResult
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, section
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN
from custom_components.spark_audio.identity import key_identity as ssh_host_identity
from custom_components.spark_audio.repairs import host_key_issue_id
from custom_components.spark_audio.ssh_access import ssh_issue_ids, ssh_unique_ids
from tests.spark.test_ssh import free_port
from tests.spark_sim.faults import Fault
from tests.spark_sim.loading import loading_whisperx
from tests.spark_sim.server import SparkSim
from tests.ssh_host.impostor import ImpostorSSH
from tests.ssh_host.server import SSHTestHost

# A valid key the Spark does not know (generated once per test run).
OTHER_KEY = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
PASSWORD = "hunter2-secret"  # in conftest's SECRETS: no log line may carry it


def user_input(sim: SparkSim, **overrides: Any) -> dict[str, Any]:
    """What a user types for ``sim``: host, all three services on, no SSH."""
    data: dict[str, Any] = {
        CONF_HOST: "127.0.0.1",
        "parakeet_enabled": True,
        "parakeet_port": sim.ports["parakeet"],
        "magpie_enabled": True,
        "magpie_port": sim.ports["magpie"],
        "whisperx_enabled": True,
        "whisperx_port": sim.ports["whisperx"],
        "ssh": {"ssh_port": 22},
    }
    data.update(overrides)
    return data


async def _start(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return str(result["flow_id"])


async def test_user_flow_creates_entry(hass: HomeAssistant, spark_sim: SparkSim) -> None:
    """Every enabled service is probed, then one entry per host is created."""
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, user_input(spark_sim, host=" 127.0.0.1 ")
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "127.0.0.1"
    data = result["data"]
    assert data[CONF_HOST] == "127.0.0.1"
    assert data["parakeet_port"] == spark_sim.ports["parakeet"]
    assert "ssh" not in data
    assert "ssh_user" not in data
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.unique_id == "127.0.0.1"
    assert entry.state is ConfigEntryState.LOADED
    probed = {name: len(state.requests) for name, state in spark_sim.states.items()}
    assert all(count > 0 for count in probed.values()), probed


async def test_user_flow_with_ssh_pins_the_host_key(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost
) -> None:
    """The fingerprint is shown before any login; confirming logs in and pins exactly that key."""
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        user_input(
            spark_sim,
            ssh={
                "ssh_user": ssh_host.username,
                "ssh_port": ssh_host.port,
                "ssh_private_key": ssh_host.client_private_key,
            },
        ),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "ssh_host_key"
    assert result["description_placeholders"] == {
        "host": "127.0.0.1",
        "fingerprint": ssh_host.host_key_fingerprint,
    }
    assert ssh_host.auth_attempts() == 0  # nothing offered before the user confirmed
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    data = result["data"]
    assert data["ssh_user"] == ssh_host.username
    assert data["ssh_port"] == ssh_host.port
    assert data["ssh_private_key"] == ssh_host.client_private_key.strip()
    assert data["ssh_host_key"].split()[:2] == ssh_host.host_public_key.split()[:2]
    assert ssh_host.accepted_logins() >= 2  # the flow's check and the entry's container poll


def ssh_section(port: int, user: str = "spark", **secrets: str) -> dict[str, Any]:
    return {"ssh_user": user, "ssh_port": port, **secrets}


async def test_impostor_sees_no_secret_before_confirmation(
    hass: HomeAssistant, spark_sim: SparkSim
) -> None:
    """An impostor sshd at the Spark's address gets nothing until its key is confirmed.

    Then (the user trusted the wrong key) it gets a login it refuses, and the user
    is back on the form with a translated error.
    """
    async with ImpostorSSH() as impostor:
        flow_id = await _start(hass)
        typed = user_input(spark_sim, ssh=ssh_section(impostor.port, ssh_password=PASSWORD))
        result = await hass.config_entries.flow.async_configure(flow_id, typed)
        assert result["step_id"] == "ssh_host_key"
        assert result["description_placeholders"] == {
            "host": "127.0.0.1",
            "fingerprint": impostor.fingerprint,
        }
        assert impostor.connections == 1  # it was asked for its key ...
        assert impostor.attempts == []  # ... and for nothing else

        result = await hass.config_entries.flow.async_configure(flow_id, {})
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "user"
        assert result["errors"] == {"base": "ssh_auth_failed"}
        assert ("password", "spark", PASSWORD) in {
            (a.method, a.username, a.secret) for a in impostor.attempts
        }
        # The form comes back filled in, but never with the secret.
        suggested = _suggested(result)
        assert suggested["ssh"] == {"ssh_user": "spark", "ssh_port": impostor.port}
        assert PASSWORD not in repr(result)


async def test_abandoned_confirmation_sends_nothing(
    hass: HomeAssistant, spark_sim: SparkSim
) -> None:
    """A user who does not recognise the fingerprint closes the dialog: no attempt at all."""
    async with ImpostorSSH() as impostor:
        flow_id = await _start(hass)
        key = OTHER_KEY
        typed = user_input(spark_sim, ssh=ssh_section(impostor.port, ssh_private_key=key))
        result = await hass.config_entries.flow.async_configure(flow_id, typed)
        assert result["step_id"] == "ssh_host_key"
        hass.config_entries.flow.async_abort(flow_id)
        await hass.async_block_till_done()
        assert impostor.attempts == []
    assert hass.config_entries.async_entries(DOMAIN) == []


def _suggested(result: Any) -> dict[str, Any]:
    """The suggested values a form was shown with, by field (sections nested)."""
    values: dict[str, Any] = {}
    for key, value in result["data_schema"].schema.items():
        if isinstance(value, section):
            values[str(key)] = {
                str(k): k.description["suggested_value"]
                for k in value.schema.schema
                if k.description and "suggested_value" in k.description
            }
        elif key.description and "suggested_value" in key.description:
            values[str(key)] = key.description["suggested_value"]
    return values


@pytest.mark.parametrize(
    ("how", "error", "step"),
    [
        ("wrong_key", "ssh_auth_failed", "ssh_host_key"),
        ("sshd_down", "ssh_cannot_connect", "user"),
        ("down_after_fetch", "ssh_cannot_connect", "ssh_host_key"),
        ("key_rotated_after_fetch", "ssh_host_key_changed", "ssh_host_key"),
    ],
)
async def test_ssh_errors_in_user_flow(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    how: str,
    error: str,
    step: str,
) -> None:
    """Each SSH failure, before or after the confirmation, is a translated form error."""
    key = OTHER_KEY if how == "wrong_key" else ssh_host.client_private_key
    if how == "sshd_down":
        ssh_host.stop()
    flow_id = await _start(hass)
    typed = user_input(
        spark_sim, ssh=ssh_section(ssh_host.port, ssh_host.username, ssh_private_key=key)
    )
    result = await hass.config_entries.flow.async_configure(flow_id, typed)
    if step == "ssh_host_key":
        assert result["step_id"] == "ssh_host_key"
        if how == "down_after_fetch":
            ssh_host.stop()
        elif how == "key_rotated_after_fetch":
            ssh_host.rotate_host_key()
        result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": error}
    assert ssh_host.accepted_logins() == 0

    # Fixed, the same flow goes on. A key the user already confirmed in this flow is
    # not asked about again; a new or never-confirmed one is.
    if not ssh_host.running:
        ssh_host.start()
    typed["ssh"]["ssh_private_key"] = ssh_host.client_private_key
    result = await hass.config_entries.flow.async_configure(flow_id, typed)
    if how in ("wrong_key", "down_after_fetch"):
        assert result["type"] is FlowResultType.CREATE_ENTRY
    else:
        assert result["step_id"] == "ssh_host_key"
        assert ssh_host.accepted_logins() == 0
        result = await hass.config_entries.flow.async_configure(flow_id, {})
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["ssh_host_key"].split()[:2] == ssh_host.host_public_key.split()[:2]


async def test_disabled_service_is_not_probed(hass: HomeAssistant, spark_sim: SparkSim) -> None:
    """A service the user leaves off is neither probed nor set up."""
    await spark_sim.stop_service("whisperx")
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, user_input(spark_sim, whisperx_enabled=False)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["whisperx_enabled"] is False
    assert hass.states.get("stt.127_0_0_1_whisperx_speech_to_text") is None
    assert hass.states.get("stt.127_0_0_1_parakeet_speech_to_text") is not None


async def _break(sim: SparkSim, how: str, service: str) -> dict[str, Any]:
    """Make ``service`` fail in one of the ways a probe must report."""
    if how == "stopped":
        await sim.stop_service(service)
    elif how == "wrong_api":
        # Point the service's port at another service: something answers, wrongly.
        other = "magpie" if service != "magpie" else "parakeet"
        return {f"{service}_port": sim.ports[other]}
    else:
        sim.states[service].fault = Fault(how)
    return {}


@pytest.mark.parametrize(
    ("service", "how", "error"),
    [
        ("parakeet", "stopped", "cannot_connect"),
        ("magpie", "stopped", "cannot_connect"),
        ("whisperx", "stopped", "cannot_connect"),
        ("parakeet", "down", "cannot_connect"),
        ("parakeet", "slow", "timeout"),
        ("magpie", "slow", "timeout"),
        ("parakeet", "wrong_api", "not_parakeet"),
        ("magpie", "wrong_api", "not_magpie"),
        ("whisperx", "wrong_api", "not_whisperx"),
        ("parakeet", "malformed", "not_parakeet"),
        ("magpie", "malformed", "not_magpie"),
    ],
)
async def test_probe_errors_are_field_level(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    monkeypatch: pytest.MonkeyPatch,
    service: str,
    how: str,
    error: str,
) -> None:
    """Each failing service gets a translated error on its own port field; fixing it works.

    Only the broken service's client gets a short health timeout (1 s against the simulator's
    5 s delay): the healthy ones keep the real one, so a busy machine cannot time them out.
    """
    monkeypatch.setattr(
        f"custom_components.spark_audio.spark.clients.{service}.HEALTH_TIMEOUT", 1.0
    )
    overrides = await _break(spark_sim, how, service)
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, user_input(spark_sim, **overrides)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {f"{service}_port": error}

    # The user fixes it and submits again: the flow goes through.
    spark_sim.states[service].fault = Fault.NONE
    await spark_sim.start_service(service)
    result = await hass.config_entries.flow.async_configure(flow_id, user_input(spark_sim))
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY


# Both look like keys to a substring test; asyncssh's parser, as used at connect time, refuses them.
GARBLED_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot base64\n-----END OPENSSH PRIVATE KEY-----\n"
ENCRYPTED_KEY = (
    asyncssh.generate_private_key("ssh-ed25519")
    .export_private_key(passphrase="pw", rounds=1)
    .decode()
)


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        (
            {"parakeet_enabled": False, "magpie_enabled": False, "whisperx_enabled": False},
            {"base": "no_services"},
        ),
        ({CONF_HOST: "http://spark.local/"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "   "}, {CONF_HOST: "invalid_host"}),
        ({"ssh": {"ssh_user": "spark", "ssh_port": 22}}, {"base": "ssh_credentials_missing"}),
        (
            {"ssh": {"ssh_user": "spark", "ssh_port": 22, "ssh_private_key": "hunter2"}},
            {"base": "invalid_ssh_key"},
        ),
        (
            {"ssh": {"ssh_user": "spark", "ssh_port": 22, "ssh_private_key": GARBLED_KEY}},
            {"base": "invalid_ssh_key"},
        ),
        (
            {"ssh": {"ssh_user": "spark", "ssh_port": 22, "ssh_private_key": ENCRYPTED_KEY}},
            {"base": "invalid_ssh_key"},
        ),
        ({"ssh": {"ssh_port": 22, "ssh_password": "hunter2"}}, {"base": "ssh_user_missing"}),
    ],
)
async def test_form_errors(
    hass: HomeAssistant, spark_sim: SparkSim, overrides: dict[str, Any], errors: dict[str, str]
) -> None:
    """Input mistakes are caught before any network call, with a translated error."""
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, user_input(spark_sim, **overrides)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert all(not state.requests for state in spark_sim.states.values())


async def test_ssh_password_is_enough(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost
) -> None:
    """A user with a password (no key) is valid SSH configuration."""
    user, password = ssh_host.ensure_password_user()
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        user_input(
            spark_sim,
            ssh={"ssh_user": user, "ssh_port": ssh_host.port, "ssh_password": password},
        ),
    )
    assert result["step_id"] == "ssh_host_key"
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["ssh_password"] == password
    assert "ssh_private_key" not in result["data"]


async def test_duplicate_host_aborts(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """One entry per Spark host."""
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, user_input(spark_sim, host="127.0.0.1")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reconfigure_changes_ports(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """Reconfigure re-probes, keeps the entry and reloads it with the new settings."""
    entry = init_integration
    old_port = spark_sim.ports["whisperx"]
    await spark_sim.stop_service("whisperx")
    moved = SparkSim(with_whisperx=True)
    await moved.start()
    try:
        result = await entry.start_reconfigure_flow(hass)
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "reconfigure"

        # The old port is dead now: probing it is a field error.
        bad = user_input(spark_sim, whisperx_port=old_port)
        result = await hass.config_entries.flow.async_configure(result["flow_id"], bad)
        assert result["errors"] == {"whisperx_port": "cannot_connect"}

        good = user_input(spark_sim, whisperx_port=moved.ports["whisperx"])
        result = await hass.config_entries.flow.async_configure(result["flow_id"], good)
        await hass.async_block_till_done()
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        assert entry.data["whisperx_port"] == moved.ports["whisperx"]
        assert entry.unique_id == "127.0.0.1"
        assert entry.state is ConfigEntryState.LOADED
        assert hass.states.get("stt.127_0_0_1_whisperx_speech_to_text").state != "unavailable"  # type: ignore[union-attr]
        assert len(hass.config_entries.async_entries(DOMAIN)) == 1
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await moved.stop()


async def test_reconfigure_keeps_ssh_settings(
    hass: HomeAssistant, ssh_entry: MockConfigEntry, spark_sim: SparkSim
) -> None:
    """Reconfigure without touching SSH keeps the stored key and the pinned host key."""
    mock_config_entry = ssh_entry
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert hass.states.get("tts.127_0_0_1_magpie_text_to_speech") is not None
    before = dict(mock_config_entry.data)
    result = await mock_config_entry.start_reconfigure_flow(hass)
    good = user_input(spark_sim, magpie_enabled=False)
    good["ssh"] = {"ssh_user": before["ssh_user"], "ssh_port": before["ssh_port"]}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], good)
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    for key in ("ssh_user", "ssh_private_key", "ssh_host_key", "ssh_port"):
        assert mock_config_entry.data[key] == before[key]
    assert mock_config_entry.data["magpie_enabled"] is False
    assert hass.states.get("tts.127_0_0_1_magpie_text_to_speech") is None
    names = {
        d.name
        for d in dr.async_entries_for_config_entry(dr.async_get(hass), mock_config_entry.entry_id)
    }
    assert names == {"127.0.0.1", "127.0.0.1 Parakeet", "127.0.0.1 WhisperX"}
    await hass.config_entries.async_unload(mock_config_entry.entry_id)


@pytest.fixture
async def second_spark(socket_enabled: None) -> AsyncIterator[SparkSim]:
    """Another simulated Spark on another loopback address (no DNS involved)."""
    pytest_socket.socket_allow_hosts(["127.0.0.1", "127.0.0.2"])
    sim = SparkSim(host="127.0.0.2")
    await sim.start()
    yield sim
    await sim.stop()


def second_input(sim: SparkSim) -> dict[str, Any]:
    return user_input(sim, host="127.0.0.2")


# The other entry is keyed on that address (no SSH), or on its Spark's host key (found by
# the address it points at).
@pytest.mark.parametrize("other_key", ["127.0.0.2", "SHA256:the-other-sparks-host-key"])
async def test_reconfigure_to_host_of_other_entry_aborts(
    hass: HomeAssistant, second_spark: SparkSim, init_integration: MockConfigEntry, other_key: str
) -> None:
    """Moving an entry onto a host another entry owns is refused."""
    other = MockConfigEntry(domain=DOMAIN, unique_id=other_key, data={CONF_HOST: "127.0.0.2"})
    other.add_to_hass(hass)
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], second_input(second_spark)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert init_integration.data[CONF_HOST] == "127.0.0.1"


async def test_reconfigure_to_new_host(
    hass: HomeAssistant, second_spark: SparkSim, init_integration: MockConfigEntry
) -> None:
    """A new address becomes the entry's unique id and title; entities keep working."""
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], second_input(second_spark)
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.unique_id == "127.0.0.2"
    assert init_integration.title == "127.0.0.2"
    assert init_integration.state is ConfigEntryState.LOADED
    state = hass.states.get("binary_sensor.127_0_0_1_parakeet_connectivity")
    assert state is not None
    assert state.state == "on"


async def test_reconfigure_keeps_a_name_the_user_chose(
    hass: HomeAssistant, second_spark: SparkSim, init_integration: MockConfigEntry
) -> None:
    """A renamed Spark keeps its name (its devices' names) when its address changes."""
    hass.config_entries.async_update_entry(init_integration, title="Office Spark")
    await hass.async_block_till_done()
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], second_input(second_spark)
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.unique_id == "127.0.0.2"
    assert init_integration.title == "Office Spark"


async def test_options_flow_applies_without_restart(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """New options reload the entry: the TTS default voice changes at once."""
    entry = init_integration
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["data_schema"] is not None
    schema_keys = {str(k) for k in result["data_schema"].schema}
    assert schema_keys == {
        "default_voice",
        "stt_language",
        "whisperx_stt_language",
        "stt_vocabulary",
        "keep_voice_commands",
        "request_timeout",
        "deep_check_interval",
        "restart_min_spacing",
        "restart_max_per_hour",
        "max_upload_mb",
        "max_concurrent_uploads",
        "max_jobs",
        "max_jobs_per_user",
        "parakeet_container",
        "magpie_container",
        "whisperx_container",
        "whisperx_model",
        "hf_token",
    }

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "default_voice": "Magpie-Multilingual.FR-FR.Louise",
            "stt_language": "fr",
            "request_timeout": 30,
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["default_voice"] == "Magpie-Multilingual.FR-FR.Louise"
    assert entry.state is ConfigEntryState.LOADED
    tts_entity = hass.data["entity_components"]["tts"].get_entity(
        "tts.127_0_0_1_magpie_text_to_speech"
    )
    assert tts_entity.default_language == "fr-FR"
    assert tts_entity.default_options == {"voice": "Magpie-Multilingual.FR-FR.Louise"}
    coordinators = entry.runtime_data.coordinators.values()
    assert {c.client.timeout for c in coordinators} == {30}


async def test_options_flow_rejects_unknown_voice(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The voice is a dropdown of the live voices; others are refused by the schema."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    from homeassistant.data_entry_flow import InvalidData

    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"],
            {
                "default_voice": "Magpie-Multilingual.EN-US.Nobody",
                "stt_language": "en",
                "request_timeout": 30,
                "scan_interval": 60,
            },
        )


async def test_options_flow_with_magpie_down_takes_free_text(
    hass: HomeAssistant, spark_sim: SparkSim, mock_config_entry: MockConfigEntry
) -> None:
    """Without a live voice list the voice is typed in, and still saved."""
    await spark_sim.stop_service("magpie")
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "default_voice": "Magpie-Multilingual.DE-DE.Leo",
            "stt_language": "de",
            "request_timeout": 30,
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert mock_config_entry.options["default_voice"] == "Magpie-Multilingual.DE-DE.Leo"
    await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_options_hf_token_is_kept_secret(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The token is stored, never offered back as a default, and kept when left empty."""
    entry = init_integration
    values = {
        "default_voice": "Magpie-Multilingual.EN-US.Mia",
        "stt_language": "en",
        "request_timeout": 60,
        "whisperx_model": "large-v3",
    }
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**values, "hf_token": " hf_secret123 "}
    )
    await hass.async_block_till_done()
    assert entry.options["hf_token"] == "hf_secret123"
    assert entry.options["whisperx_model"] == "large-v3"

    result = await hass.config_entries.options.async_init(entry.entry_id)
    schema = result["data_schema"].schema  # type: ignore[union-attr]
    token_key = next(k for k in schema if str(k) == "hf_token")
    assert token_key.default is vol.UNDEFINED
    result = await hass.config_entries.options.async_configure(result["flow_id"], values)
    await hass.async_block_till_done()
    assert entry.options["hf_token"] == "hf_secret123"


# Reconfigure and SSH ------------------------------------------------------------


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def _reconfigure(
    hass: HomeAssistant, entry: MockConfigEntry, typed: dict[str, Any]
) -> ConfigFlowResult:
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], typed)
    await hass.async_block_till_done()
    return result


async def test_reconfigure_to_another_machine_is_refused_before_any_login(
    hass: HomeAssistant, second_spark: SparkSim, ssh_entry: MockConfigEntry
) -> None:
    """An address whose sshd presents another host key is another Spark: refused, unasked.

    The entry is keyed on its Spark's host key, so the flow ends (translated
    ``another_spark``) before the user is asked to trust the key or a secret is sent.
    """
    await _setup(hass, ssh_entry)
    before = dict(ssh_entry.data)
    async with ImpostorSSH(host="127.0.0.2") as impostor:
        typed = second_input(second_spark)
        typed["ssh"] = ssh_section(impostor.port, before["ssh_user"])  # key left empty: kept
        result = await _reconfigure(hass, ssh_entry, typed)
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "another_spark"
        assert impostor.connections == 1  # asked for its key only
        assert impostor.attempts == []
    assert dict(ssh_entry.data) == before
    assert ssh_entry.unique_id == ssh_host_identity(before["ssh_host_key"])


async def test_reconfigure_adds_ssh_after_confirmation(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """A Spark without SSH gets it: confirm, log in, pin; the SSH entities appear."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="127.0.0.1",
        unique_id="127.0.0.1",
        data={k: v for k, v in ssh_entry.data.items() if not k.startswith("ssh_")},
    )
    await _setup(hass, entry)
    registry = er.async_get(hass)
    # The restart button: an SSH entity that is enabled by default (so it has a state).
    button_id = f"{entry.entry_id}_parakeet_restart"
    assert registry.async_get_entity_id("button", DOMAIN, button_id) is None
    typed = user_input(
        spark_sim,
        ssh=ssh_section(
            ssh_host.port, ssh_host.username, ssh_private_key=ssh_host.client_private_key
        ),
    )
    result = await _reconfigure(hass, entry, typed)
    assert result["step_id"] == "ssh_host_key"
    assert ssh_host.auth_attempts() == 0
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["ssh_host_key"].split()[:2] == ssh_host.host_public_key.split()[:2]
    entity_id = registry.async_get_entity_id("button", DOMAIN, button_id)
    assert entity_id is not None
    assert hass.states.get(entity_id) is not None
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure_adding_ssh_with_a_refused_login_returns_to_its_form(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    mock_config_entry: MockConfigEntry,
) -> None:
    """The key is confirmed, the login refused: back to the reconfigure form, not the user
    step; the corrected login is tried on the key already confirmed, without asking again."""
    await _setup(hass, mock_config_entry)
    typed = user_input(
        spark_sim, ssh=ssh_section(ssh_host.port, ssh_host.username, ssh_private_key=OTHER_KEY)
    )
    result = await _reconfigure(hass, mock_config_entry, typed)
    assert result["step_id"] == "ssh_host_key"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {"base": "ssh_auth_failed"}
    typed["ssh"]["ssh_private_key"] = ssh_host.client_private_key
    result = await hass.config_entries.flow.async_configure(result["flow_id"], typed)
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.data["ssh_user"] == ssh_host.username
    await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_reconfigure_to_a_new_ssh_port_replaces_the_pin_and_its_repair(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The old server's key is no longer asked about once the user moved SSH elsewhere."""
    stale = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="127.0.0.1",
        unique_id="127.0.0.1",
        data={**ssh_entry.data, "ssh_port": free_port(), "ssh_host_key": stale},
    )
    await _setup(hass, entry)
    ir.async_create_issue(
        hass, DOMAIN, host_key_issue_id(entry.entry_id), is_fixable=False,
        severity=ir.IssueSeverity.ERROR, translation_key="ssh_host_key_changed",
    )  # fmt: skip
    typed = user_input(spark_sim, ssh=ssh_section(ssh_host.port, ssh_host.username))
    result = await _reconfigure(hass, entry, typed)
    assert result["step_id"] == "ssh_host_key"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["ssh_port"] == ssh_host.port
    assert entry.data["ssh_host_key"].split()[:2] == ssh_host.host_public_key.split()[:2]
    assert issue_registry.async_get_issue(DOMAIN, host_key_issue_id(entry.entry_id)) is None
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure_new_login_on_the_confirmed_host(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """Same server, new login: checked at once against the pinned key; key swapped for password."""
    user, password = ssh_host.ensure_password_user()
    await _setup(hass, ssh_entry)
    pinned = ssh_entry.data["ssh_host_key"]
    typed = user_input(spark_sim, ssh=ssh_section(ssh_host.port, user, ssh_password="wrong"))
    result = await _reconfigure(hass, ssh_entry, typed)
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {"base": "ssh_auth_failed"}

    typed["ssh"]["ssh_password"] = password
    result = await hass.config_entries.flow.async_configure(result["flow_id"], typed)
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert ssh_entry.data["ssh_user"] == user
    assert ssh_entry.data["ssh_password"] == password
    assert "ssh_private_key" not in ssh_entry.data
    assert ssh_entry.data["ssh_host_key"] == pinned
    await hass.config_entries.async_unload(ssh_entry.entry_id)


async def test_reconfigure_against_a_changed_host_key_is_refused(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """The pinned server now shows another key: new credentials are not sent to it."""
    await _setup(hass, ssh_entry)
    ssh_host.rotate_host_key()
    attempts = ssh_host.auth_attempts()  # the entry's own logins before the change
    typed = user_input(
        spark_sim,
        ssh=ssh_section(ssh_host.port, ssh_host.username, ssh_private_key=OTHER_KEY),
    )
    result = await _reconfigure(hass, ssh_entry, typed)
    assert result["errors"] == {"base": "ssh_host_key_changed"}
    assert ssh_host.auth_attempts() == attempts
    await hass.config_entries.async_unload(ssh_entry.entry_id)


async def test_reconfigure_removes_ssh(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """An empty SSH user removes SSH: credentials, pin, SSH entities and SSH repairs."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="127.0.0.1",
        unique_id="127.0.0.1",
        data={**ssh_entry.data, "whisperx_enabled": False},  # so the install entities exist
    )
    await _setup(hass, entry)
    ir.async_create_issue(
        hass, DOMAIN, host_key_issue_id(entry.entry_id), is_fixable=False,
        severity=ir.IssueSeverity.ERROR, translation_key="ssh_host_key_changed",
    )  # fmt: skip
    issues = ssh_issue_ids(entry.entry_id)
    assert len([i for i in issues if issue_registry.async_get_issue(DOMAIN, i)]) == 1
    ssh_entities = [
        e.entity_id
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if e.unique_id in ssh_unique_ids(entry.entry_id)
    ]
    assert len(ssh_entities) >= 8, ssh_entities  # restart, container x2 services, install...

    typed = user_input(spark_sim, whisperx_enabled=False, ssh={"ssh_port": 22})
    result = await _reconfigure(hass, entry, typed)
    assert result["reason"] == "reconfigure_successful"
    assert not [k for k in entry.data if k.startswith("ssh_")]
    assert entry.state is ConfigEntryState.LOADED
    assert all(issue_registry.async_get_issue(DOMAIN, i) is None for i in issues)
    assert all(entity_registry.async_get(e) is None for e in ssh_entities)
    # Nothing left behind: every entity the registry still has for the entry is live.
    for registered in er.async_entries_for_config_entry(entity_registry, entry.entry_id):
        if registered.disabled:
            continue
        live = hass.states.get(registered.entity_id)
        assert live is not None, registered.entity_id
        assert not live.attributes.get("restored"), registered.entity_id
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reauth_checks_the_new_login_against_the_pin(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """Reauth: a refused key is a form error; a good one is stored and the entry reloads."""
    await _setup(hass, ssh_entry)
    result = await ssh_entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"ssh_user": ssh_host.username, "ssh_private_key": OTHER_KEY}
    )
    assert result["errors"] == {"base": "ssh_auth_failed"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"ssh_user": ssh_host.username, "ssh_private_key": ssh_host.client_private_key},
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"

    # The same login again changes no data, so no update reloads the entry: the flow does.
    result = await ssh_entry.start_reauth_flow(hass)
    with patch.object(
        hass.config_entries,
        "async_schedule_reload",
        wraps=hass.config_entries.async_schedule_reload,
    ) as reload:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {"ssh_user": ssh_host.username, "ssh_private_key": ssh_host.client_private_key},
        )
        await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    reload.assert_called_once_with(ssh_entry.entry_id)
    assert ssh_entry.state is ConfigEntryState.LOADED
    await hass.config_entries.async_unload(ssh_entry.entry_id)


async def test_old_scan_interval_option_is_ignored(
    hass: HomeAssistant, spark_sim: SparkSim, mock_config_entry: MockConfigEntry
) -> None:
    """The health poll is fixed (core's appropriate-polling); an old stored option is harmless."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(mock_config_entry, options={"scan_interval": 5})
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    coordinators = mock_config_entry.runtime_data.coordinators.values()
    assert {c.update_interval.total_seconds() for c in coordinators} == {30}
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    assert "scan_interval" not in {str(k) for k in result["data_schema"].schema}  # type: ignore[union-attr]
    await hass.config_entries.async_unload(mock_config_entry.entry_id)


@pytest.mark.parametrize(
    "token",
    [
        "hf_abc def",
        "hf_tab\there",
        "hf_\u00e9t\u00e9token",
        "short",
        "hf_" + "x" * 600,
        "hf;rm -rf",
    ],
)
async def test_options_refuse_an_invalid_hf_token(
    hass: HomeAssistant, init_integration: MockConfigEntry, token: str
) -> None:
    """A token that cannot be one is a translated field error, and never shown back."""
    values = {
        "default_voice": "Magpie-Multilingual.EN-US.Mia",
        "stt_language": "en",
        "request_timeout": 60,
    }
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**values, "hf_token": token}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"hf_token": "invalid_hf_token"}
    assert token.strip() not in repr(result["data_schema"])
    assert "hf_token" not in init_integration.options
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**values, "hf_token": "hf_AbCdEf0123456789"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options["hf_token"] == "hf_AbCdEf0123456789"


async def test_a_loading_service_is_accepted(
    hass: HomeAssistant, spark_sim: SparkSim, socket_enabled: None
) -> None:
    """WhisperX that answers but is still loading its model is reachable: no error."""
    async with loading_whisperx() as port:
        flow_id = await _start(hass)
        result = await hass.config_entries.flow.async_configure(
            flow_id, user_input(spark_sim, whisperx_port=port)
        )
        await hass.async_block_till_done()
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"]["whisperx_port"] == port
        await hass.config_entries.async_unload(result["result"].entry_id)


async def test_an_unexpected_probe_error_is_unknown(
    hass: HomeAssistant, spark_sim: SparkSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a probe is a form error plus a logged traceback, not a 500.

    Faked: the probe is patched to raise, since no real service makes our code fail so.
    """
    from custom_components.spark_audio.spark import SparkServiceClient

    async def broken(client: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(SparkServiceClient, "fetch_status", broken)
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, user_input(spark_sim))
    assert result["errors"] == {
        "parakeet_port": "unknown",
        "magpie_port": "unknown",
        "whisperx_port": "unknown",
    }


async def test_options_refuse_a_bad_container_name(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A container name that is not a Docker name is a field error (and the token is kept out)."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "default_voice": "Magpie-Multilingual.EN-US.Mia",
            "stt_language": "en",
            "request_timeout": 60,
            "parakeet_container": "x; reboot",
            "hf_token": "hf_AbCdEf0123456789",
        },
    )
    assert result["errors"] == {"parakeet_container": "invalid_container_name"}
    assert "hf_AbCdEf0123456789" not in repr(result["data_schema"])
