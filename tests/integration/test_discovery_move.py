"""A discovered move of a Spark with SSH is believed only once the Spark owns the address.

A LAN host can announce ``spark-xxxx.local`` at its own address and relay TCP to the real
Spark's sshd, so the host key read there is the real one. Before such an announcement moves
an entry (its HTTP traffic, its WhisperX key, its audio), HA logs in at the announced
address with the entry's own credentials and pinned key and asks the machine for its
addresses (``ip -o addr show``). These tests run the real OpenSSH on loopback; its sessions
find a stand-in ``ip`` (tests/ssh_host/server.py: test machines need not have iproute2) that
prints what a Spark at 127.0.0.1 prints, so 127.0.0.2 is not the Spark's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncssh
import pytest
import pytest_socket
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN
from tests.integration.test_discovery import announced, discover
from tests.ssh_host.server import SSHTestHost

RELAY_HOST = "127.0.0.2"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until it closes."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def relay(ssh_host: SSHTestHost) -> AsyncIterator[int]:
    """A TCP relay on 127.0.0.2 to the Spark's sshd, as an attacker on the LAN would run.

    It listens on the sshd's own port number (the entry's SSH port, which HA logs in on) and
    yields it. The bytes pass through untouched, so the real host key is read there.
    """
    pytest_socket.socket_allow_hosts(["127.0.0.1", RELAY_HOST])
    tasks: set[asyncio.Task[None]] = set()

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(ssh_host.host, ssh_host.port)
        pair = [
            asyncio.create_task(_pipe(reader, up_writer)),
            asyncio.create_task(_pipe(up_reader, writer)),
        ]
        tasks.update(pair)
        await asyncio.gather(*pair)

    server = await asyncio.start_server(forward, RELAY_HOST, ssh_host.port)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def _moved_away(hass: HomeAssistant, entry: MockConfigEntry, host: str) -> None:
    """The entry as HA knows it, before the Spark shows up elsewhere."""
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_HOST: host})


async def test_move_to_an_address_the_spark_owns_updates_the_entry(
    hass: HomeAssistant, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """Logged in at 127.0.0.1 with the entry's key, the Spark lists it: the entry follows."""
    _moved_away(hass, ssh_entry, "10.9.1.9")
    result = await discover(hass, announced(ssh_host.port))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert ssh_entry.data[CONF_HOST] == "127.0.0.1"
    assert ssh_host.auth_attempts() >= 1  # the address was asked of the Spark itself


async def test_relay_at_an_address_the_spark_does_not_own_moves_nothing(
    hass: HomeAssistant, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry, relay: int
) -> None:
    """The attack: the real host key through a relay, but the Spark does not own 127.0.0.2."""
    ssh_entry.add_to_hass(hass)
    result = await discover(hass, announced(relay, address=RELAY_HOST))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "address_not_verified"
    assert ssh_host.auth_attempts() >= 1  # logged in through the relay: the list said no
    assert ssh_entry.data[CONF_HOST] == "127.0.0.1"
    assert ssh_entry.unique_id == ssh_host.host_key_fingerprint
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_failed_login_at_the_new_address_moves_nothing(
    hass: HomeAssistant, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """Credentials the Spark refuses prove nothing: the entry keeps its address."""
    wrong = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    ssh_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        ssh_entry, data={**ssh_entry.data, CONF_HOST: "10.9.1.9", "ssh_private_key": wrong}
    )
    result = await discover(hass, announced(ssh_host.port))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "address_not_verified"
    assert ssh_entry.data[CONF_HOST] == "10.9.1.9"
    assert ssh_host.auth_attempts() >= 1
