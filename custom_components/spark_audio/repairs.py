"""Repairs: accept a Spark's new SSH host key after the user checked its fingerprint.

The entry is keyed on its host key's fingerprint (identity.py), so the new key re-keys
it: discovery and reconfigure then find the Spark by the key it presents now.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant import data_entry_flow
from homeassistant.components.repairs import RepairsFlow
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import CONF_SSH_HOST_KEY, CONF_SSH_PORT, DEFAULT_SSH_PORT, DOMAIN
from .data import SparkAudioConfigEntry
from .spark.errors import SparkSSHError, SparkSSHHostKeyError
from .spark.remote.ssh_login import HostKey, fetch_host_key


def host_key_issue_id(entry_id: str) -> str:
    """Repair issue id for a Spark whose SSH host key changed."""
    return f"ssh_host_key_changed_{entry_id}"


@callback
def async_raise_host_key_changed(
    hass: HomeAssistant, entry: SparkAudioConfigEntry, err: SparkSSHHostKeyError
) -> None:
    """Stop trusting the Spark over SSH until the user accepts its new key."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        host_key_issue_id(entry.entry_id),
        is_fixable=True,
        is_persistent=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key="ssh_host_key_changed",
        translation_placeholders={
            "host": entry.data[CONF_HOST],
            "expected": err.expected_fingerprint,
            "actual": err.actual_fingerprint or "unknown",
        },
        data={"entry_id": entry.entry_id},
    )


class HostKeyChangedRepairFlow(RepairsFlow):
    """Show the new fingerprint; on confirmation pin exactly the key that was shown."""

    def __init__(self, entry_id: str) -> None:
        """Repair the entry ``entry_id``."""
        self._entry_id = entry_id
        self._key: HostKey | None = None

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        """Start at the confirmation step."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        """Fetch and show the key the Spark presents now; pin it when confirmed."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        if user_input is not None and self._key is not None:
            if (owner := self._other_entry(entry, self._key)) is not None:
                return self._abort_key_taken(owner)
            # The fingerprint is the entry's identity (identity.key_identity).
            self.hass.config_entries.async_update_entry(
                entry,
                data={**entry.data, CONF_SSH_HOST_KEY: self._key.openssh},
                unique_id=self._key.fingerprint,
            )
            return self.async_create_entry(data={})
        try:
            self._key = await fetch_host_key(
                entry.data[CONF_HOST], int(entry.data.get(CONF_SSH_PORT, DEFAULT_SSH_PORT))
            )
        except SparkSSHError:
            return self.async_abort(reason="ssh_cannot_connect")
        if (owner := self._other_entry(entry, self._key)) is not None:
            return self._abort_key_taken(owner)
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema({}),
            description_placeholders={
                "host": entry.data[CONF_HOST],
                "fingerprint": self._key.fingerprint,
            },
        )

    def _other_entry(self, entry: ConfigEntry[Any], key: HostKey) -> ConfigEntry[Any] | None:
        """Another entry already keyed on ``key``: pinning it here would make a duplicate."""
        owner = self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, key.fingerprint)
        return owner if owner is not None and owner.entry_id != entry.entry_id else None

    def _abort_key_taken(self, owner: ConfigEntry[Any]) -> data_entry_flow.FlowResult:
        """End the repair: the key belongs to ``owner``, one entry per Spark."""
        return self.async_abort(
            reason="host_key_of_another_entry", description_placeholders={"title": owner.title}
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """The fix flow for a fixable spark_audio issue."""
    assert data is not None
    return HostKeyChangedRepairFlow(str(data["entry_id"]))
