"""Who a Spark is, and what it is called: the key of its config entry and its default title.

HA keys a device's config entry on something that belongs to the machine, not to its
address. A Spark's SSH host key does: the flows read it (no login needed) and pin it, and
``SHA256:...`` fingerprints are what ``ssh-keygen -lf`` shows. Where no key is known (no
SSH), the resolved address stands in, so ``localhost`` and ``127.0.0.1``, or a name and its
IP, are still one Spark. A ``.local`` name the system resolver cannot look up (HA Container
images have no mDNS in it) is asked of HA's own mDNS, as HA's HTTP client does for the probes.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Mapping
from typing import Any

from homeassistant.components.zeroconf import async_get_async_zeroconf
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from zeroconf import AddressResolver  # type: ignore[attr-defined]  # public, not in __all__

from .const import CONF_SSH_HOST_KEY, DOMAIN
from .spark.errors import SparkSSHError
from .spark.remote.addresses import machine_addresses
from .spark.remote.ssh_login import host_key_fingerprint
from .ssh_access import ssh_client

_LOGGER = logging.getLogger(__name__)

KEY_IDENTITY_PREFIX = "SHA256:"
# Default hostnames of DGX Spark (spark-abcd) and ASUS Ascent GX10 (gx10-abcd) boxes:
# what they announce over mDNS (manifest.json's zeroconf matchers say the same).
SPARK_HOSTNAME_PREFIXES = ("spark-", "gx10-")
# How long an mDNS lookup may wait (answered at once from HA's cache for an announced Spark).
MDNS_TIMEOUT_MS = 3000


def key_identity(openssh_host_key: str) -> str:
    """The identity of the machine presenting this host key: its SHA256 fingerprint."""
    return host_key_fingerprint(openssh_host_key)


def is_key_identity(unique_id: str | None) -> bool:
    """Whether ``unique_id`` names a machine (a host key) rather than an address."""
    return bool(unique_id) and str(unique_id).startswith(KEY_IDENTITY_PREFIX)


def normalise_ip(text: str) -> str | None:
    """``text`` as one canonical IP string (IPv4-mapped IPv6 as IPv4); None if not an IP."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


async def async_resolve(hass: HomeAssistant, host: str) -> str | None:
    """The address ``host`` resolves to (IPv4 first, as ``localhost`` is 127.0.0.1); or None."""
    if (literal := normalise_ip(host)) is not None:
        return literal
    try:
        infos = await hass.loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        found = [str(info[4][0]) for info in infos]
    except OSError:
        found = await _async_resolve_mdns(hass, host)
    addresses = [a for text in found if (a := normalise_ip(text)) is not None]
    ipv4 = [a for a in addresses if ipaddress.ip_address(a).version == 4]
    preferred = ipv4 or addresses
    return preferred[0] if preferred else None


async def _async_resolve_mdns(hass: HomeAssistant, host: str) -> list[str]:
    """The addresses a ``.local`` name has over HA's mDNS; none for any other name."""
    name = host.rstrip(".")
    if not name.lower().endswith(".local"):
        return []
    resolver = AddressResolver(f"{name}.")
    if not await resolver.async_request(async_get_async_zeroconf(hass).zeroconf, MDNS_TIMEOUT_MS):
        return []
    return list(resolver.parsed_addresses())


async def async_identity(hass: HomeAssistant, data: Mapping[str, Any]) -> str:
    """The unique id for entry ``data``: its pinned host key, else its resolved address."""
    if pinned := data.get(CONF_SSH_HOST_KEY):
        try:
            return key_identity(pinned)
        except ValueError:
            _LOGGER.warning("The pinned SSH host key of %s is unreadable", data[CONF_HOST])
    host = str(data[CONF_HOST])
    return await async_resolve(hass, host) or host


def spark_hostname(mdns_name: str) -> str | None:
    """``spark-1a2b`` for ``spark-1a2b.local.``; None when it is not a Spark's default name."""
    name = mdns_name.rstrip(".").removesuffix(".local").lower()
    if "." in name or not name.startswith(SPARK_HOSTNAME_PREFIXES):
        return None
    return name


def default_title(host: str, ssh_hostname: str | None = None) -> str:
    """A new entry's title: the Spark's own hostname where known, else the name typed.

    ``spark-1a2b.local`` gives ``spark-1a2b`` (entity ids then read
    ``stt.spark_1a2b_...``); an IP stays as it is, nothing better is known.
    """
    if ssh_hostname:
        return ssh_hostname
    if normalise_ip(host) is not None:
        return host
    return host.split(".", 1)[0] or host


async def async_ssh_hostname(data: Mapping[str, Any]) -> str | None:
    """The Spark's hostname over the SSH login in ``data`` (pinned key); None if unreadable."""
    ssh = ssh_client(data, data[CONF_SSH_HOST_KEY])
    try:
        result = await ssh.run(["uname", "-n"])
    except SparkSSHError as err:
        _LOGGER.debug("Cannot read the hostname of %s: %s", data[CONF_HOST], err)
        return None
    finally:
        await ssh.close()
    name = result.stdout.strip()
    return name if name and len(name) <= 64 and " " not in name else None


async def async_owns_address(data: Mapping[str, Any], address: str) -> bool:
    """Whether the Spark of entry ``data``, logged in at ``address``, lists it as its own.

    An mDNS announcement may name any address, and a relay there reaches the real sshd
    with its real host key; only the machine's own address list tells a move from a
    relay. The login trusts only the entry's pinned key, so no credential goes to another
    server; any failure is a no.
    """
    ssh = ssh_client({**data, CONF_HOST: address}, data[CONF_SSH_HOST_KEY])
    try:
        owned = await machine_addresses(ssh)
    except SparkSSHError as err:
        _LOGGER.info("Cannot check over SSH that %s is the Spark's address: %s", address, err)
        return False
    finally:
        await ssh.close()
    if address not in owned:
        _LOGGER.info("The Spark reached at %s does not list that address as its own", address)
        return False
    return True


async def async_migrate_unique_id(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Re-key an entry made before identities (minor version 1): host typed -> identity.

    An entry whose host does not resolve now keeps its version and is tried again at the
    next start; one whose Spark already has another entry keeps its old key (and says so).
    """
    identity = await async_identity(hass, entry.data)
    if not is_key_identity(identity) and normalise_ip(identity) is None:
        _LOGGER.info("Spark %s does not resolve now; its entry is re-keyed later", entry.title)
        return
    owner = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, identity)
    if owner is not None and owner.entry_id != entry.entry_id:
        _LOGGER.warning(
            "Entries %s and %s are the same Spark; remove one of them", entry.title, owner.title
        )
        identity = str(entry.unique_id)
    hass.config_entries.async_update_entry(entry, unique_id=identity, minor_version=2)
