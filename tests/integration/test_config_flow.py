"""Config, reconfigure and options flows against the simulated Spark."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncssh
import pytest
import pytest_socket
import voluptuous as vol
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN
from custom_components.spark_audio.spark import http as spark_http
from tests.spark_sim.faults import Fault
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost

# A valid key the Spark does not know (generated once per test run).
OTHER_KEY = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()


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
    """SSH login is checked, the host key's fingerprint shown, and exactly that key pinned."""
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
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    data = result["data"]
    assert data["ssh_user"] == ssh_host.username
    assert data["ssh_port"] == ssh_host.port
    assert data["ssh_private_key"] == ssh_host.client_private_key.strip()
    assert data["ssh_host_key"].split()[:2] == ssh_host.host_public_key.split()[:2]
    assert ssh_host.accepted_logins() >= 2  # the flow's check and the entry's container poll


@pytest.mark.parametrize(
    ("how", "error"),
    [("wrong_key", "ssh_auth_failed"), ("sshd_down", "ssh_cannot_connect")],
)
async def test_ssh_errors_in_user_flow(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost, how: str, error: str
) -> None:
    """A refused login or an unreachable SSH server is a translated form error."""
    key = ssh_host.client_private_key
    if how == "wrong_key":
        key = OTHER_KEY
    else:
        ssh_host.stop()
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        user_input(
            spark_sim,
            ssh={"ssh_user": ssh_host.username, "ssh_port": ssh_host.port, "ssh_private_key": key},
        ),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}


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
    assert hass.states.get("stt.whisperx_speech_to_text") is None
    assert hass.states.get("stt.parakeet_speech_to_text") is not None


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
    """Each failing service gets a translated error on its own port field; fixing it works."""
    monkeypatch.setattr(spark_http, "HEALTH_TIMEOUT", 0.3)
    for module in ("parakeet", "magpie", "whisperx"):
        monkeypatch.setattr(f"custom_components.spark_audio.spark.{module}.HEALTH_TIMEOUT", 0.3)
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
        assert hass.states.get("stt.whisperx_speech_to_text").state != "unavailable"  # type: ignore[union-attr]
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
    assert hass.states.get("tts.magpie_text_to_speech") is not None
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
    assert hass.states.get("tts.magpie_text_to_speech") is None
    names = {
        d.name
        for d in dr.async_entries_for_config_entry(dr.async_get(hass), mock_config_entry.entry_id)
    }
    assert names == {"DGX Spark", "Parakeet", "WhisperX"}
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


async def test_reconfigure_to_host_of_other_entry_aborts(
    hass: HomeAssistant, second_spark: SparkSim, init_integration: MockConfigEntry
) -> None:
    """Moving an entry onto a host another entry owns is refused."""
    other = MockConfigEntry(domain=DOMAIN, unique_id="127.0.0.2", data={CONF_HOST: "127.0.0.2"})
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
    state = hass.states.get("binary_sensor.parakeet_connectivity")
    assert state is not None
    assert state.state == "on"


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
        "request_timeout",
        "scan_interval",
        "deep_check_interval",
        "restart_min_spacing",
        "restart_max_per_hour",
        "max_upload_mb",
        "max_concurrent_uploads",
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
            "scan_interval": 60,
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["default_voice"] == "Magpie-Multilingual.FR-FR.Louise"
    assert entry.state is ConfigEntryState.LOADED
    tts_entity = hass.data["entity_components"]["tts"].get_entity("tts.magpie_text_to_speech")
    assert tts_entity.default_language == "fr-FR"
    assert tts_entity.default_options == {"voice": "Magpie-Multilingual.FR-FR.Louise"}
    coordinators = entry.runtime_data.coordinators.values()
    assert {c.update_interval.total_seconds() for c in coordinators} == {60}
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
            "scan_interval": 30,
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
        "scan_interval": 30,
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
