"""Accepting a Spark's new SSH host key re-keys its entry, never into a duplicate.

The entry is keyed on its host key's fingerprint, so a repair that pinned the new key but
kept the old fingerprint would lose the Spark to discovery (offered again as new). The real
OpenSSH on loopback rotates its key as a reinstalled Spark would; the entry is set up for
real (HA serves an integration's own fix flows only once it is loaded).
"""

from __future__ import annotations

from typing import Any, cast

from aiohttp import ClientResponse
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.spark_audio.const import DOMAIN
from custom_components.spark_audio.data import SparkAudioConfigEntry
from custom_components.spark_audio.repairs import async_raise_host_key_changed, host_key_issue_id
from custom_components.spark_audio.spark.errors import SparkSSHHostKeyError
from tests.integration.test_discovery import announced, discover
from tests.ssh_host.server import SSHTestHost


async def _rotate_under(hass: HomeAssistant, ssh_host: SSHTestHost, entry: MockConfigEntry) -> str:
    """Set ``entry`` up, then give its Spark a new host key; returns the new key."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return ssh_host.rotate_host_key()


async def _start_repair(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, entry: MockConfigEntry
) -> tuple[Any, dict[str, Any]]:
    """Raise the host-key issue of ``entry`` and open its fix flow; the client and step."""
    changed = SparkSSHHostKeyError(
        "the Spark's host key changed",
        expected_fingerprint=str(entry.unique_id),
        actual_fingerprint="unknown",
    )
    async_raise_host_key_changed(hass, cast(SparkAudioConfigEntry, entry), changed)
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    resp = await client.post(
        "/api/repairs/issues/fix",
        json={"handler": DOMAIN, "issue_id": host_key_issue_id(entry.entry_id)},
    )
    return client, await _json(resp)


async def _json(resp: ClientResponse) -> dict[str, Any]:
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


async def test_accepted_key_rekeys_the_entry_and_discovery_finds_it(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
) -> None:
    """After the repair the entry's key is the new fingerprint; a move is followed."""
    old_identity = ssh_entry.unique_id
    new_key = await _rotate_under(hass, ssh_host, ssh_entry)
    client, flow = await _start_repair(hass, hass_client, ssh_entry)
    assert flow["step_id"] == "confirm"
    done = await _json(await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={}))
    assert done["type"] == "create_entry"
    assert ssh_entry.data["ssh_host_key"].split()[:2] == new_key.split()[:2]
    assert ssh_entry.unique_id == ssh_host.host_key_fingerprint != old_identity
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await hass.config_entries.async_unload(ssh_entry.entry_id)

    # The Spark shows up at its address after a DHCP change: its entry follows it.
    hass.config_entries.async_update_entry(
        ssh_entry, data={**ssh_entry.data, CONF_HOST: "10.9.1.9"}
    )
    result = await discover(hass, announced(ssh_host.port))
    assert result["reason"] == "already_configured"
    assert ssh_entry.data[CONF_HOST] == "127.0.0.1"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_key_of_another_entry_is_not_pinned_at_the_start(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
) -> None:
    """The new key is another entry's already: the repair ends, naming it; nothing changes."""
    before = (dict(ssh_entry.data), ssh_entry.unique_id)
    await _rotate_under(hass, ssh_host, ssh_entry)
    other = MockConfigEntry(
        domain=DOMAIN, title="spark-9z9z", unique_id=ssh_host.host_key_fingerprint
    )
    other.add_to_hass(hass)
    _, flow = await _start_repair(hass, hass_client, ssh_entry)
    assert flow["type"] == "abort"
    assert flow["reason"] == "host_key_of_another_entry"
    assert flow["description_placeholders"] == {"title": "spark-9z9z"}
    assert (dict(ssh_entry.data), ssh_entry.unique_id) == before
    assert await hass.config_entries.async_unload(ssh_entry.entry_id)


async def test_key_taken_while_the_repair_was_open_is_not_pinned(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
) -> None:
    """Another entry took the key between the form and the confirmation: no duplicate."""
    before = (dict(ssh_entry.data), ssh_entry.unique_id)
    await _rotate_under(hass, ssh_host, ssh_entry)
    client, flow = await _start_repair(hass, hass_client, ssh_entry)
    assert flow["step_id"] == "confirm"
    MockConfigEntry(
        domain=DOMAIN, title="spark-9z9z", unique_id=ssh_host.host_key_fingerprint
    ).add_to_hass(hass)
    done = await _json(await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={}))
    assert done["type"] == "abort"
    assert done["reason"] == "host_key_of_another_entry"
    assert (dict(ssh_entry.data), ssh_entry.unique_id) == before
    assert await hass.config_entries.async_unload(ssh_entry.entry_id)
    owners = [
        e
        for e in hass.config_entries.async_entries(DOMAIN)
        if e.unique_id == ssh_host.host_key_fingerprint
    ]
    assert len(owners) == 1
