"""The restart history of one Spark's services, kept across Home Assistant restarts.

Without it "Restarts in 24 hours" read 0 after every HA restart and the rate
limit forgot recent restarts, so a service that wedges on every start could be
restarted without bound by restarting HA.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import DOMAIN, SparkService
from .restart_policy import HISTORY, RestartPolicy, RestartRecord

_LOGGER = logging.getLogger(__name__)
STORAGE_VERSION = 1

type StoredHistory = dict[str, list[dict[str, Any]]]


def storage_key(entry_id: str) -> str:
    """The Store key of an entry's restart history."""
    return f"{DOMAIN}.{entry_id}.restarts"


class RestartHistoryStore:
    """Loads and saves every service's restart records of one config entry."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """One store file per entry, removed with the entry."""
        self._store: Store[StoredHistory] = Store(hass, STORAGE_VERSION, storage_key(entry_id))
        self.policies: dict[SparkService, RestartPolicy] = {}

    async def async_load(self) -> dict[SparkService, deque[RestartRecord]]:
        """The stored records of the last day per service; bad records are skipped."""
        raw = await self._store.async_load() or {}
        since = dt_util.utcnow() - HISTORY
        loaded: dict[SparkService, deque[RestartRecord]] = {}
        for service in SparkService:
            records: deque[RestartRecord] = deque()
            for item in raw.get(service, []):
                try:
                    record = RestartRecord.from_dict(item)
                except (KeyError, TypeError, ValueError):
                    _LOGGER.debug("Skipping a malformed restart record: %r", item)
                    continue
                if record.at >= since:
                    records.append(record)
            loaded[service] = records
        return loaded

    async def async_save(self) -> None:
        """Write every service's records now (restarts are rare; nothing to batch)."""
        await self._store.async_save(
            {
                str(service): [r.as_dict() for r in policy.history]
                for service, policy in self.policies.items()
            }
        )

    async def async_remove(self) -> None:
        """Delete the file when the entry is deleted."""
        await self._store.async_remove()
