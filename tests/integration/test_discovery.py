"""A Spark on the network is offered by zeroconf, named after its hostname, and followed.

DGX OS's Avahi announces the Spark's sshd as ``_ssh._tcp`` under its hostname; these tests
hand the flow what HA's zeroconf would, pointing at the loopback sshd and the simulator.
"""

from __future__ import annotations

import json
import os
from ipaddress import ip_address
from typing import Any
from unittest.mock import patch

import pytest_socket
from homeassistant.config_entries import SOURCE_ZEROCONF, ConfigEntryState
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN
from custom_components.spark_audio.flow_forms import connection_schema
from tests.integration.test_translations import COMPONENT
from tests.spark.test_ssh import free_port
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost


def announced(
    port: int, hostname: str = "spark-1a2b", address: str = "127.0.0.1"
) -> ZeroconfServiceInfo:
    """What Avahi's ``_ssh._tcp`` service of a Spark looks like to HA's zeroconf."""
    return ZeroconfServiceInfo(
        ip_address=ip_address(address),
        ip_addresses=[ip_address(address)],
        hostname=f"{hostname}.local.",
        name=f"{hostname}._ssh._tcp.local.",
        port=port,
        type="_ssh._tcp.local.",
        properties={},
    )


def services(sim: SparkSim, ssh: dict[str, Any] | None = None) -> dict[str, Any]:
    """The confirm form as a user fills it: Parakeet and Magpie of ``sim``."""
    return {
        "parakeet_enabled": True,
        "parakeet_port": sim.ports["parakeet"],
        "magpie_enabled": True,
        "magpie_port": sim.ports["magpie"],
        "whisperx_enabled": False,
        "whisperx_port": 8002,
        "ssh": ssh or {"ssh_port": 22},
    }


async def discover(hass: HomeAssistant, info: ZeroconfServiceInfo) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )
    return dict(result)


async def test_discovered_spark_is_confirmed_and_named_by_its_hostname(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost
) -> None:
    """Offered under its hostname, keyed on its host key, entity ids read ``spark_1a2b``."""
    result = await discover(hass, announced(ssh_host.port))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zeroconf_confirm"
    assert result["description_placeholders"] == {"name": "spark-1a2b", "host": "127.0.0.1"}
    assert CONF_HOST not in result["data_schema"].schema  # discovery found it
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["title_placeholders"] == {"name": "spark-1a2b"}
    assert ssh_host.auth_attempts() == 0  # its key was read, nothing offered

    result = dict(
        await hass.config_entries.flow.async_configure(result["flow_id"], services(spark_sim))
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "spark-1a2b"
    assert result["data"][CONF_HOST] == "127.0.0.1"
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.unique_id == ssh_host.host_key_fingerprint
    assert hass.states.get("stt.spark_1a2b_parakeet_speech_to_text") is not None
    assert hass.states.get("tts.spark_1a2b_magpie_text_to_speech") is not None
    await hass.config_entries.async_unload(entry.entry_id)


async def test_discovered_spark_may_add_ssh(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost
) -> None:
    """The confirm form takes SSH like the user step: fingerprint shown, then the login."""
    result = await discover(hass, announced(ssh_host.port))
    ssh = {
        "ssh_user": ssh_host.username,
        "ssh_port": ssh_host.port,
        "ssh_private_key": ssh_host.client_private_key,
    }
    result = dict(
        await hass.config_entries.flow.async_configure(result["flow_id"], services(spark_sim, ssh))
    )
    assert result["step_id"] == "ssh_host_key"
    assert result["description_placeholders"]["fingerprint"] == ssh_host.host_key_fingerprint
    assert ssh_host.auth_attempts() == 0
    result = dict(await hass.config_entries.flow.async_configure(result["flow_id"], {}))
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["ssh_user"] == ssh_host.username
    # The Spark's own answer over SSH names it (the loopback sshd runs here).
    assert result["title"] == os.uname().nodename
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.unique_id == ssh_host.host_key_fingerprint
    await hass.config_entries.async_unload(entry.entry_id)


async def test_failed_login_returns_to_the_confirm_form(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost
) -> None:
    """A refused login is a translated error on the discovered Spark's own form."""
    result = await discover(hass, announced(ssh_host.port))
    ssh = {"ssh_user": ssh_host.username, "ssh_port": ssh_host.port, "ssh_password": "wrong"}
    result = dict(
        await hass.config_entries.flow.async_configure(result["flow_id"], services(spark_sim, ssh))
    )
    result = dict(await hass.config_entries.flow.async_configure(result["flow_id"], {}))
    assert result["step_id"] == "zeroconf_confirm"
    assert result["errors"] == {"base": "ssh_auth_failed"}
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_known_spark_at_a_new_address_updates_its_entry(
    hass: HomeAssistant, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """discovery-update-info: the host key finds the entry, which takes the new address."""
    ssh_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        ssh_entry, data={**ssh_entry.data, CONF_HOST: "10.9.1.9"}
    )
    result = await discover(hass, announced(ssh_host.port))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert ssh_entry.data[CONF_HOST] == "127.0.0.1"


async def test_spark_added_by_name_keeps_its_name(
    hass: HomeAssistant, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """A name follows the Spark by itself: discovery does not swap it for an address."""
    ssh_entry.add_to_hass(hass)
    by_name = {**ssh_entry.data, CONF_HOST: "spark-1a2b.local"}
    hass.config_entries.async_update_entry(ssh_entry, data=by_name)
    result = await discover(hass, announced(ssh_host.port))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert ssh_entry.data[CONF_HOST] == "spark-1a2b.local"


async def test_spark_configured_by_address_is_not_offered_again(
    hass: HomeAssistant, ssh_host: SSHTestHost, init_integration: MockConfigEntry
) -> None:
    """An entry keyed on its address (no SSH) is found by that address."""
    result = await discover(hass, announced(ssh_host.port))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_spark_added_by_address_is_followed_once_discovered(
    hass: HomeAssistant, ssh_host: SSHTestHost, mock_config_entry: MockConfigEntry
) -> None:
    """Added by address without SSH, the entry knows no host key; discovery at its address
    reads it and keys the entry on it, so the Spark is followed when it moves, like one
    added by discovery. (Not set up: a move is what the entry data says, no reload needed.)"""
    entry = mock_config_entry
    entry.add_to_hass(hass)
    result = await discover(hass, announced(ssh_host.port))
    assert result["reason"] == "already_configured"
    assert entry.unique_id == ssh_host.host_key_fingerprint
    assert entry.data[CONF_HOST] == "127.0.0.1"

    # The Spark was at 10.9.1.9 as far as the entry knows and announces itself here now.
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_HOST: "10.9.1.9"})
    result = await discover(hass, announced(ssh_host.port))
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_HOST] == "127.0.0.1"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_no_key_read_leaves_an_entry_keyed_as_it_is(
    hass: HomeAssistant, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """Its sshd did not answer discovery: the Spark is found by address and keeps its key."""
    ssh_entry.add_to_hass(hass)
    key = ssh_entry.unique_id
    result = await discover(hass, announced(free_port()))  # nothing listens there
    assert result["reason"] == "already_configured"
    assert ssh_entry.unique_id == key


async def test_other_hosts_are_not_offered(hass: HomeAssistant) -> None:
    """Only Spark-like hostnames (spark-xxxx, gx10-xxxx) are offered; nothing is contacted."""
    result = await discover(hass, announced(22, hostname="laptop"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_spark"


async def test_spark_without_sshd_is_keyed_on_its_address(
    hass: HomeAssistant, spark_sim: SparkSim
) -> None:
    """No host key to read: the address identifies it; a second announcement is one flow."""
    port = free_port()  # nothing listens there
    result = await discover(hass, announced(port, hostname="gx10-d56e"))
    assert result["step_id"] == "zeroconf_confirm"
    again = await discover(hass, announced(port, hostname="gx10-d56e"))
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "already_in_progress"
    result = dict(
        await hass.config_entries.flow.async_configure(result["flow_id"], services(spark_sim))
    )
    await hass.async_block_till_done()
    assert result["title"] == "gx10-d56e"
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.unique_id == "127.0.0.1"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_moved_spark_is_reloaded_once_at_its_new_address(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A loaded discovered Spark (keyed on its host key, no SSH) moves: one reload, new host.

    The same services answer on both loopback addresses, as one Spark would after a DHCP change.
    """
    pytest_socket.socket_allow_hosts(["127.0.0.1", "127.0.0.2"])
    old_home = SparkSim(
        host="127.0.0.2",
        parakeet_port=spark_sim.ports["parakeet"],
        magpie_port=spark_sim.ports["magpie"],
        whisperx_port=spark_sim.ports["whisperx"],
    )
    await old_home.start()
    try:
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="spark-1a2b",
            unique_id=ssh_host.host_key_fingerprint,
            minor_version=2,
            data={**mock_config_entry.data, CONF_HOST: "127.0.0.2"},
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.runtime_data.host == "127.0.0.2"
        reload = hass.config_entries.async_reload
        with patch.object(hass.config_entries, "async_reload", wraps=reload) as reloads:
            result = await discover(hass, announced(ssh_host.port))
            await hass.async_block_till_done()
        assert result["reason"] == "already_configured"
        assert reloads.call_count == 1
        assert entry.state is ConfigEntryState.LOADED
        assert entry.runtime_data.host == "127.0.0.1"
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await old_home.stop()


def test_confirm_form_fields_and_aborts_have_english_text() -> None:
    """Every field of the discovered Spark's form, and each new abort, reads as English."""
    en = json.loads((COMPONENT / "translations" / "en.json").read_text())
    step = en["config"]["step"]["zeroconf_confirm"]
    fields = {str(key) for key in connection_schema(with_ssh=True, with_host=False).schema}
    assert fields - {"ssh"} == set(step["data"])
    assert "{name}" in step["title"]
    assert "{host}" in step["description"]
    assert en["config"]["flow_title"] == "{name}"
    assert {"not_spark", "another_spark", "already_in_progress"} <= set(en["config"]["abort"])
