"""One entry per Spark, whatever it was called: identities, titles and the migration to them."""

from __future__ import annotations

import os
import socket
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST, MAJOR_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.config_flow import SparkAudioConfigFlow
from custom_components.spark_audio.const import DOMAIN
from custom_components.spark_audio.identity import (
    async_resolve,
    async_ssh_hostname,
    default_title,
    key_identity,
    normalise_ip,
    spark_hostname,
)
from tests.integration.conftest import entry_data
from tests.spark.test_ssh import free_port
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost

# Names are resolved through HA's own client session. The newer harnesses' stand-in resolver
# lives for the whole session, in another event loop than a test's, so there these tests use a
# real one; the 2025.4 harness's (one per test) resolves fine and a real one outlives its loop.
pytestmark = (
    [pytest.mark.usefixtures("disable_mock_zeroconf_resolver")] if MAJOR_VERSION >= 2026 else []
)


def typed(sim: SparkSim, host: str, ssh: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a user types for ``sim`` at ``host``: Parakeet and Magpie, SSH as given."""
    return {
        CONF_HOST: host,
        "parakeet_enabled": True,
        "parakeet_port": sim.ports["parakeet"],
        "magpie_enabled": True,
        "magpie_port": sim.ports["magpie"],
        "whisperx_enabled": False,
        "whisperx_port": 8002,
        "ssh": ssh or {"ssh_port": 22},
    }


def with_ssh(ssh_host: SSHTestHost) -> dict[str, Any]:
    return {
        "ssh_user": ssh_host.username,
        "ssh_port": ssh_host.port,
        "ssh_private_key": ssh_host.client_private_key,
    }


async def add(hass: HomeAssistant, values: dict[str, Any]) -> dict[str, Any]:
    """Run the user step with ``values``; the result of that step."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], values)
    await hass.async_block_till_done()
    return dict(result)


async def unload_all(hass: HomeAssistant) -> None:
    for entry in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(entry.entry_id)


async def test_localhost_and_its_address_are_one_spark(
    hass: HomeAssistant, spark_sim: SparkSim
) -> None:
    """A name and the address it resolves to are the same Spark, in either order.

    The entry made for ``localhost`` is keyed on 127.0.0.1 and titled by the name;
    adding ``127.0.0.1`` (or ``LOCALHOST``) then aborts as already configured.
    """
    result = await add(hass, typed(spark_sim, "localhost"))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "localhost"
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.unique_id == "127.0.0.1"
    assert hass.states.get("stt.localhost_parakeet_speech_to_text") is not None
    for other in ("127.0.0.1", "LOCALHOST"):
        result = await add(hass, typed(spark_sim, other))
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1
    await unload_all(hass)


async def test_address_entry_then_name_aborts(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """The other order: 127.0.0.1 is configured, so ``localhost`` is refused."""
    result = await add(hass, typed(spark_sim, "localhost"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_same_host_key_under_another_name_aborts_before_any_login(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """With SSH the host key is the identity: the Spark is known, whatever it is called now.

    The flow ends before the fingerprint is shown and before any credential is offered.
    """
    ssh_entry.add_to_hass(hass)
    attempts = ssh_host.auth_attempts()
    result = await add(hass, typed(spark_sim, "localhost", with_ssh(ssh_host)))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert ssh_host.auth_attempts() == attempts


async def test_address_of_a_host_key_entry_aborts_without_ssh(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """Without SSH no key is read; the address still finds the Spark's entry."""
    ssh_entry.add_to_hass(hass)
    result = await add(hass, typed(spark_sim, "localhost"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_ssh_entry_is_keyed_on_the_host_key_and_named_by_the_spark(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost
) -> None:
    """Typed as an IP, the Spark is still named by its own hostname (read over SSH)."""
    result = await add(hass, typed(spark_sim, "127.0.0.1", with_ssh(ssh_host)))
    assert result["step_id"] == "ssh_host_key"
    result = dict(await hass.config_entries.flow.async_configure(result["flow_id"], {}))
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The loopback sshd runs on this machine: its hostname is ours.
    assert result["title"] == os.uname().nodename
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.unique_id == ssh_host.host_key_fingerprint
    assert entry.unique_id == key_identity(ssh_host.host_public_key)
    await unload_all(hass)


async def test_reconfigure_adding_ssh_rekeys_an_address_entry(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    init_integration: MockConfigEntry,
) -> None:
    """An entry keyed on its address takes the host key once SSH is added; title kept."""
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], typed(spark_sim, "127.0.0.1", with_ssh(ssh_host))
    )
    assert result["step_id"] == "ssh_host_key"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.unique_id == ssh_host.host_key_fingerprint
    # Its default title (the IP typed) became the Spark's own name.
    assert init_integration.title == os.uname().nodename


async def test_reconfigure_dropping_ssh_keeps_the_host_key_identity(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_entry: MockConfigEntry
) -> None:
    """Without SSH no key is read to compare; the Spark keeps the identity it has."""
    ssh_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await hass.async_block_till_done()
    identity = ssh_entry.unique_id
    result = await ssh_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], typed(spark_sim, "127.0.0.1", {"ssh_user": "", "ssh_port": 22})
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert "ssh_user" not in ssh_entry.data
    assert ssh_entry.unique_id == identity
    await hass.config_entries.async_unload(ssh_entry.entry_id)


def old_entry(data: dict[str, Any], unique_id: str, **kwargs: Any) -> MockConfigEntry:
    """An entry as versions before identities made it: keyed on the host typed."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=data[CONF_HOST],
        unique_id=unique_id,
        data=data,
        version=1,
        minor_version=1,
        **kwargs,
    )


async def test_migration_rekeys_a_named_entry_on_its_address(
    hass: HomeAssistant, spark_sim: SparkSim
) -> None:
    """``localhost`` (the old key) becomes 127.0.0.1; title and entities stay as they were."""
    entry = old_entry(entry_data(spark_sim, host="localhost"), "localhost")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert (entry.version, entry.minor_version) == (1, 2)
    assert entry.unique_id == "127.0.0.1"
    assert entry.title == "localhost"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_migration_rekeys_an_ssh_entry_on_its_pinned_key(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """An entry with a pinned host key is keyed on that key (no network needed)."""
    entry = old_entry(dict(ssh_entry.data), "127.0.0.1")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.minor_version == 2
    assert entry.unique_id == ssh_host.host_key_fingerprint
    await hass.config_entries.async_unload(entry.entry_id)


async def test_migration_of_an_unreadable_pin_falls_back_to_the_address(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_entry: MockConfigEntry
) -> None:
    """A damaged pinned key must not stop the entry: it is keyed on its address instead."""
    entry = old_entry({**ssh_entry.data, "ssh_host_key": "not a key"}, "localhost")
    entry.add_to_hass(hass)
    assert await entry.async_migrate(hass)  # the flow handler is imported above
    assert entry.minor_version == SparkAudioConfigFlow.MINOR_VERSION
    assert entry.unique_id == "127.0.0.1"


async def test_migration_leaves_a_duplicate_keyed_as_it_was(
    hass: HomeAssistant, spark_sim: SparkSim, caplog: pytest.LogCaptureFixture
) -> None:
    """Two old entries for one Spark: the second cannot take the same key, and says why."""
    first = old_entry(entry_data(spark_sim), "127.0.0.1")
    second = old_entry(entry_data(spark_sim, host="localhost"), "localhost")
    first.add_to_hass(hass)
    second.add_to_hass(hass)
    assert await hass.config_entries.async_setup(first.entry_id)  # sets up both
    await hass.async_block_till_done()
    assert second.state is ConfigEntryState.LOADED
    assert (first.unique_id, second.unique_id) == ("127.0.0.1", "localhost")
    assert second.minor_version == 2
    assert "are the same Spark" in caplog.text
    await unload_all(hass)


async def test_migration_waits_for_a_host_that_does_not_resolve(
    hass: HomeAssistant, spark_sim: SparkSim
) -> None:
    """Unresolvable now: keyed as it was and tried again at the next start.

    Name resolution is faked: a name that fails to resolve depends on the test host's DNS.
    """
    entry = old_entry(entry_data(spark_sim, host="spark-gone.local"), "spark-gone.local")
    entry.add_to_hass(hass)
    with patch("custom_components.spark_audio.identity.async_resolve", return_value=None):
        assert await entry.async_migrate(hass)  # True: set-up goes on
    assert entry.minor_version == 1
    assert entry.unique_id == "spark-gone.local"


async def test_entry_from_a_newer_version_is_not_set_up(
    hass: HomeAssistant, spark_sim: SparkSim
) -> None:
    """A downgrade must not run an entry whose data it does not understand."""
    entry = MockConfigEntry(domain=DOMAIN, data=entry_data(spark_sim), version=2)
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR


async def test_resolution_and_names(hass: HomeAssistant) -> None:
    """Addresses compare in one form; titles come from the Spark's name, not its address."""
    assert await async_resolve(hass, "localhost") == "127.0.0.1"
    assert await async_resolve(hass, "::ffff:127.0.0.1") == "127.0.0.1"
    assert await async_resolve(hass, "0:0:0:0:0:0:0:1") == "::1"
    assert normalise_ip("fe80::1%eth0") == "fe80::1"
    assert normalise_ip("spark-1a2b.local") is None
    assert spark_hostname("spark-1a2b.local.") == "spark-1a2b"
    assert spark_hostname("GX10-D56E.local.") == "gx10-d56e"
    assert spark_hostname("laptop.local.") is None
    assert default_title("spark-1a2b.local") == "spark-1a2b"
    assert default_title("192.168.1.50") == "192.168.1.50"
    assert default_title("192.168.1.50", "spark-1a2b") == "spark-1a2b"


async def test_unreadable_hostname_leaves_the_typed_name(
    hass: HomeAssistant, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """No answer over SSH (here: nothing listens) names no Spark; the caller falls back."""
    data = {**ssh_entry.data, "ssh_port": free_port()}
    assert await async_ssh_hostname(data) is None
    assert await async_ssh_hostname(dict(ssh_entry.data)) == os.uname().nodename


async def test_a_name_the_system_cannot_resolve_keys_the_entry_as_typed(
    hass: HomeAssistant, spark_sim: SparkSim
) -> None:
    """The services answer (the probe resolved the name) but the system resolver does not:
    the entry is keyed on the name typed and no address is compared.

    Faked, and why: the failing lookup. Only identity's own lookups (no port) fail, so the
    probe still reaches the simulated Spark; a name that really fails depends on the host's DNS.
    """
    real = hass.loop.getaddrinfo

    async def system_resolver(host: str, port: Any, **kwargs: Any) -> Any:
        if port is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return await real(host, port, **kwargs)

    assert await async_resolve(hass, "localhost") == "127.0.0.1"
    with patch.object(hass.loop, "getaddrinfo", side_effect=system_resolver):
        assert await async_resolve(hass, "localhost") is None
        result = await add(hass, typed(spark_sim, "localhost"))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert hass.config_entries.async_entries(DOMAIN)[0].unique_id == "localhost"
    await unload_all(hass)


class AnsweringResolver:
    """Stands in for zeroconf's AddressResolver: only spark-1a2b.local answers, as on a LAN
    where that Spark announces itself (the test network has none)."""

    def __init__(self, server: str) -> None:
        self.server = server

    async def async_request(self, zc: Any, timeout_ms: float) -> bool:
        return self.server == "spark-1a2b.local."

    def parsed_addresses(self) -> list[str]:
        return ["fe80::1", "192.168.1.50"]


async def test_a_local_name_the_system_cannot_resolve_is_asked_over_mdns(
    hass: HomeAssistant,
) -> None:
    """HA Container's resolver has no mDNS; HA's own answers for ``.local`` names (IPv4 first).

    Faked, and why: the system resolver's failure and the mDNS answer (no Spark on this network).
    """
    failing = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    with (
        patch.object(hass.loop, "getaddrinfo", side_effect=failing),
        patch("custom_components.spark_audio.identity.async_get_async_zeroconf"),
        patch("custom_components.spark_audio.identity.AddressResolver", AnsweringResolver),
    ):
        assert await async_resolve(hass, "spark-1a2b.local") == "192.168.1.50"
        assert await async_resolve(hass, "spark-gone.local") is None
        assert await async_resolve(hass, "spark.example") is None  # not asked over mDNS
