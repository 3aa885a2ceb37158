"""The config flows' side of identity: keying a flow on the Spark and refusing duplicates.

A base class of the config flow, so the flow's steps stay readable; see identity.py for
what an identity is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigFlow
from homeassistant.const import CONF_HOST
from homeassistant.data_entry_flow import AbortFlow

from .const import CONF_SSH_HOST_KEY, CONF_SSH_USER, DOMAIN
from .identity import (
    async_identity,
    async_owns_address,
    async_resolve,
    is_key_identity,
    normalise_ip,
)


class SparkIdentityFlow(ConfigFlow):
    """Identity checks shared by the user, discovery and reconfigure steps."""

    async def _async_set_identity(self, identity: str, data: Mapping[str, Any]) -> None:
        """Key this flow on ``identity``; abort when that Spark, or its address, has an entry."""
        await self.async_set_unique_id(identity, raise_on_progress=False)
        self._abort_if_unique_id_configured()
        if await self._address_taken(str(data[CONF_HOST])):
            raise AbortFlow("already_configured")

    async def _async_check_reconfigured_identity(self, data: Mapping[str, Any]) -> None:
        """Abort unless ``data`` still reaches the reconfigured Spark, and no other entry's.

        At a new address, two host keys compare: a different one is another machine. At
        the same address the machine is the same, and a new key (another sshd, a reinstall)
        re-keys the entry. An entry keyed on its address cannot tell, and takes the new
        identity; one keyed on its host key keeps it when SSH is dropped (no key to compare).
        """
        entry = self._get_reconfigure_entry()
        identity = await async_identity(self.hass, data)
        if is_key_identity(entry.unique_id) and not is_key_identity(identity):
            identity = str(entry.unique_id)
        await self.async_set_unique_id(identity, raise_on_progress=False)
        moved = await async_resolve(self.hass, str(data[CONF_HOST])) != await async_resolve(
            self.hass, str(entry.data.get(CONF_HOST, ""))
        )
        if is_key_identity(entry.unique_id) and moved:
            self._abort_if_unique_id_mismatch(reason="another_spark")
        elif identity != entry.unique_id:
            self._abort_if_unique_id_configured()
        if await self._address_taken(str(data[CONF_HOST]), entry.entry_id):
            raise AbortFlow("already_configured")

    async def _async_abort_if_discovered_known(self, address: str) -> None:
        """Abort for a configured Spark, moving its entry to ``address`` where that is safe.

        Keyed on its host key and with SSH, the entry moves only once the Spark, logged in
        at ``address`` with its own credentials and pinned key, lists that address as its
        own: a relay at an attacker's address presents the real key too. Without SSH there
        is nothing to log in with, and the address follows discovery unverified. An entry
        added by name keeps it (the name follows the Spark).
        """
        identity = str(self.unique_id)
        known = self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, identity)
        if known is None:
            return
        host = normalise_ip(str(known.data.get(CONF_HOST, "")))
        if host is None or host == address:
            self._abort_if_unique_id_configured()
        has_ssh = bool(known.data.get(CONF_SSH_USER) and known.data.get(CONF_SSH_HOST_KEY))
        if (
            is_key_identity(identity)
            and has_ssh
            and not await async_owns_address(known.data, address)
        ):
            raise AbortFlow("address_not_verified")
        # The entry's update listener reloads it for the new address, once.
        self._abort_if_unique_id_configured(updates={CONF_HOST: address}, reload_on_update=False)

    def _async_key_address_entry(self, address: str, identity: str) -> None:
        """Key an entry keyed on ``address`` on the host key its Spark announced there.

        An entry added by address without SSH knows no key; once discovery has read the key
        of the machine at that address, later announcements find the entry wherever the
        Spark moves (discovery-update-info), as for a Spark added by discovery.
        """
        if not is_key_identity(identity):
            return
        for entry in self._async_current_entries(include_ignore=False):
            if entry.unique_id == address:
                self.hass.config_entries.async_update_entry(entry, unique_id=identity)

    async def _address_taken(self, host: str, skip_entry_id: str | None = None) -> bool:
        """Whether another entry is keyed on, or points at, the address ``host`` resolves to."""
        address = await async_resolve(self.hass, host)
        if address is None:
            return False
        for entry in self._async_current_entries(include_ignore=False):
            if entry.entry_id == skip_entry_id:
                continue
            if entry.unique_id == address:
                return True
            other = entry.data.get(CONF_HOST)
            if other and await async_resolve(self.hass, str(other)) == address:
                return True
        return False
