"""SSH access of a config entry: its client, the flows' trial login, and forgetting it all.

Secrets go only to a host whose key the user confirmed: every login here
trusts exactly one pinned key, so a server presenting another one is refused
before a credential is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir

from .const import (
    CONF_SSH_HOST_KEY,
    CONF_SSH_KEY,
    CONF_SSH_PASSWORD,
    CONF_SSH_PORT,
    CONF_SSH_USER,
    DEFAULT_SSH_PORT,
    DOMAIN,
    SparkService,
)
from .data import SparkAudioConfigEntry
from .recovery import keeps_wedging_issue_id
from .repairs import host_key_issue_id
from .spark.errors import SparkSSHAuthError, SparkSSHError, SparkSSHHostKeyError
from .spark.remote.ssh import SparkSSH
from .spark.remote.ssh_login import SSHCredentials

# Entities of a service device that exist only with SSH (the platforms' needs_ssh
# descriptions and the container switch), and those of the Spark's own device.
_SERVICE_SSH_KEYS = ("restart", "container", "container_state", "restarts_24h", "last_restart")
_HUB_SSH_KEYS = ("install_whisperx", "whisperx_install", "whisperx_update")


def ssh_from_entry(entry: SparkAudioConfigEntry) -> SparkSSH | None:
    """SSH access to the Spark, when SSH is configured and its host key pinned."""
    data = entry.data
    if not data.get(CONF_SSH_USER) or not data.get(CONF_SSH_HOST_KEY):
        return None
    return ssh_client(data, data[CONF_SSH_HOST_KEY])


def ssh_client(data: Mapping[str, Any], host_key: str) -> SparkSSH:
    """An SSH client for the host and credentials in ``data``, trusting only ``host_key``."""
    credentials = SSHCredentials(
        username=data[CONF_SSH_USER],
        private_key=data.get(CONF_SSH_KEY),
        password=data.get(CONF_SSH_PASSWORD),
        port=int(data.get(CONF_SSH_PORT, DEFAULT_SSH_PORT)),
    )
    return SparkSSH(data[CONF_HOST], credentials, pinned_host_key=host_key)


async def async_check_login(data: Mapping[str, Any]) -> dict[str, str]:
    """Log in once, trusting only ``data``'s pinned host key; form errors on failure."""
    ssh = ssh_client(data, data[CONF_SSH_HOST_KEY])
    try:
        await ssh.run(["true"])
    except SparkSSHAuthError:
        return {"base": "ssh_auth_failed"}
    except SparkSSHHostKeyError:
        return {"base": "ssh_host_key_changed"}
    except SparkSSHError:
        return {"base": "ssh_cannot_connect"}
    finally:
        await ssh.close()
    return {}


def ssh_unique_ids(entry_id: str) -> set[str]:
    """Unique ids of the entities that need SSH, for one entry."""
    ids = {f"{entry_id}_{s}_{key}" for s in SparkService for key in _SERVICE_SSH_KEYS}
    return ids | {f"{entry_id}_{key}" for key in _HUB_SSH_KEYS}


def ssh_issue_ids(entry_id: str) -> set[str]:
    """Repair issues that only make sense while the entry has SSH."""
    return {
        host_key_issue_id(entry_id),
        *(keeps_wedging_issue_id(entry_id, service) for service in SparkService),
    }


@callback
def async_forget_ssh(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Remove the SSH entities and repairs of ``entry`` (its data is the caller's)."""
    registry = er.async_get(hass)
    doomed = ssh_unique_ids(entry.entry_id)
    for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
        if entity.unique_id in doomed:
            registry.async_remove(entity.entity_id)
    for issue_id in ssh_issue_ids(entry.entry_id):
        ir.async_delete_issue(hass, DOMAIN, issue_id)


def same_ssh_server(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether ``new`` talks to the SSH server whose key ``old`` pinned."""
    return bool(old.get(CONF_SSH_HOST_KEY)) and all(
        old.get(key) == new.get(key) for key in (CONF_HOST, CONF_SSH_PORT)
    )


def same_login(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether ``new`` logs in exactly as ``old`` did."""
    return all(old.get(k) == new.get(k) for k in (CONF_SSH_USER, CONF_SSH_KEY, CONF_SSH_PASSWORD))
