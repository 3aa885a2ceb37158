"""System health: per Spark, whether it answers, its services and their last deep check."""

from __future__ import annotations

from typing import Any, cast

from homeassistant.components import system_health
from homeassistant.core import HomeAssistant, callback

from .const import DOMAIN, SERVICE_NAMES
from .data import SparkAudioConfigEntry
from .deep_check import DeepCheckStatus


@callback
def async_register(hass: HomeAssistant, register: system_health.SystemHealthRegistration) -> None:
    """Register the info callback."""
    register.async_register_info(system_health_info)


def _spark_summary(entry: SparkAudioConfigEntry) -> str:
    """One line per Spark, e.g. "reachable; Parakeet: up, deep check ok at …"."""
    data = entry.runtime_data
    parts = []
    for service, health in data.coordinators.items():
        text = f"{SERVICE_NAMES[service]}: {'up' if health.last_update_success else 'down'}"
        recovery = data.recovery.get(service)
        deep = data.deep.get(service)
        if recovery is not None and recovery.wedged:
            text += ", wedged"
        status = cast(DeepCheckStatus | None, deep.data) if deep is not None else None
        if status is not None:
            checked_at = status.checked_at.isoformat(timespec="seconds")
            text += f", deep check {status.verdict} at {checked_at}"
        else:
            text += ", no deep check yet"
        parts.append(text)
    reachable = any(c.last_update_success for c in data.coordinators.values())
    return "; ".join([f"{'reachable' if reachable else 'unreachable'} ({data.host})", *parts])


async def system_health_info(hass: HomeAssistant) -> dict[str, Any]:
    """The loaded Sparks, each by its name."""
    entries: list[SparkAudioConfigEntry] = hass.config_entries.async_loaded_entries(DOMAIN)
    info: dict[str, Any] = {"sparks": len(entries)}
    for entry in entries:
        info[entry.title] = _spark_summary(entry)
    return info
