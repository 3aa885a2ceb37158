"""Diagnostics download for a Spark entry or one of its service devices; secrets redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntry

from .const import (
    CONF_SSH_KEY,
    CONF_SSH_PASSWORD,
    CONF_WHISPERX_API_KEY,
    DOMAIN,
    SparkService,
)
from .data import SparkAudioConfigEntry
from .vocabulary import async_vocabulary_diagnostics
from .whisperx_verify import verify_diagnostics

TO_REDACT = {
    CONF_SSH_KEY,
    CONF_SSH_PASSWORD,
    CONF_WHISPERX_API_KEY,
    "hf_token",
    "token",
    "access_token",
    "password",
    "api_key",
}


def _service_diagnostics(entry: SparkAudioConfigEntry, service: SparkService) -> dict[str, Any]:
    data = entry.runtime_data
    health = data.coordinators[service]
    deep = data.deep.get(service)
    recovery = data.recovery.get(service)
    containers = data.containers
    return {
        "base_url": health.client.base_url,
        "health_ok": health.last_update_success,
        "health": None
        if health.data is None
        else {
            "model": health.data.health.model,
            "version": health.data.health.version,
            "details": dict(health.data.health.details),
            "voices": None if health.data.voices is None else len(health.data.voices.voices),
        },
        "deep_check": None
        if deep is None or deep.data is None
        else {
            "ok": deep.data.ok,
            "latency_s": deep.data.latency_s,
            "error": deep.data.error,
            "checked_at": deep.data.checked_at.isoformat(),
        },
        "recovery": None
        if recovery is None
        else {
            "container": recovery.container,
            "wedged": recovery.wedged,
            "restarting": recovery.restarting,
            "last_errors": list(recovery.last_errors),
            "last_restart": recovery.policy.last_restart,
        },
        "container_state": None
        if containers is None or not containers.data
        else str(containers.data.get(service)),
    }


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: SparkAudioConfigEntry
) -> dict[str, Any]:
    """Entry data and options (secrets redacted) and every service's state."""
    return {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        "ssh_configured": entry.runtime_data.ssh is not None,
        "services": {
            str(service): _service_diagnostics(entry, service)
            for service in entry.runtime_data.coordinators
        },
        "assist_vocabulary": async_vocabulary_diagnostics(hass, entry),
        "whisperx_verify": verify_diagnostics(hass, entry),
    }


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: SparkAudioConfigEntry, device: DeviceEntry
) -> dict[str, Any]:
    """One service device's state."""
    for service, coordinator in entry.runtime_data.coordinators.items():
        if coordinator.device_identifier in device.identifiers:
            found = {"service": str(service), **_service_diagnostics(entry, service)}
            if service is SparkService.WHISPERX:
                found["whisperx_verify"] = verify_diagnostics(hass, entry)
            return found
    return {"error": f"device not part of {DOMAIN} entry {entry.title}"}
