"""An entry reloads only when its setup depends on what changed, and then exactly once.

A reload ends what the entry runs (probes, the SSH connection), so a rename must not cause one,
and an options save or a reauth must not cause two.
"""

from __future__ import annotations

from collections.abc import Iterator
from unittest.mock import patch

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.spark_audio as integration
from custom_components.spark_audio.data import SparkAudioConfigEntry
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost


@pytest.fixture
def setups() -> Iterator[list[str]]:
    """The entry ids of every async_setup_entry call from now on (the real one runs)."""
    calls: list[str] = []
    real = integration.async_setup_entry

    async def counted(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> bool:
        calls.append(entry.entry_id)
        return await real(hass, entry)

    with patch.object(integration, "async_setup_entry", counted):
        yield calls


async def test_a_new_title_renames_the_devices_without_a_reload(
    hass: HomeAssistant, init_integration: MockConfigEntry, setups: list[str]
) -> None:
    entry = init_integration
    loaded = entry.runtime_data
    hass.config_entries.async_update_entry(entry, title="Office Spark")
    await hass.async_block_till_done()
    assert setups == []
    assert entry.runtime_data is loaded
    names = {
        device.name
        for device in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    }
    assert names == {
        "Office Spark",
        "Office Spark Parakeet",
        "Office Spark Magpie",
        "Office Spark WhisperX",
    }


async def test_new_options_reload_once(
    hass: HomeAssistant, init_integration: MockConfigEntry, setups: list[str]
) -> None:
    entry = init_integration
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(result["flow_id"], {"request_timeout": 30})
    await hass.async_block_till_done()
    assert setups == [entry.entry_id]
    assert entry.state is ConfigEntryState.LOADED
    assert {c.client.timeout for c in entry.runtime_data.coordinators.values()} == {30}


async def test_options_saved_unchanged_do_not_reload(
    hass: HomeAssistant, init_integration: MockConfigEntry, setups: list[str]
) -> None:
    entry = init_integration
    hass.config_entries.async_update_entry(entry, options={**entry.options})
    await hass.async_block_till_done()
    assert setups == []


@pytest.mark.parametrize("same_key", [False, True], ids=["new key", "same key again"])
async def test_reauth_reloads_once(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
    same_key: bool,
) -> None:
    """New credentials reload once (the update listener); the same ones retry once."""
    if not same_key:
        # The stored key is one the Spark no longer accepts (reauth is for exactly that).
        ssh_entry.add_to_hass(hass)
        hass.config_entries.async_update_entry(
            ssh_entry, data={**ssh_entry.data, "ssh_password": "stale-password"}
        )
    else:
        ssh_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await hass.async_block_till_done()
    with patch.object(integration, "async_setup_entry", wraps=integration.async_setup_entry) as spy:
        result = await ssh_entry.start_reauth_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {"ssh_user": ssh_host.username, "ssh_private_key": ssh_host.client_private_key},
        )
        await hass.async_block_till_done()
        assert result["reason"] == "reauth_successful"
        assert spy.call_count == 1
    assert ssh_entry.state is ConfigEntryState.LOADED
    await hass.config_entries.async_unload(ssh_entry.entry_id)
