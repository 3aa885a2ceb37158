"""Logbook entries for the recovery and transcription events, named after their device."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.components.logbook.const import LOGBOOK_ENTRY_MESSAGE, LOGBOOK_ENTRY_NAME
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .const import (
    DOMAIN,
    EVENT_RESTART_FAILED,
    EVENT_SERVICE_RECOVERED,
    EVENT_SERVICE_RESTARTED,
    EVENT_TRANSCRIPTION_DONE,
    EVENT_TRANSCRIPTION_FAILED,
    EVENT_WEDGE_DETECTED,
    SERVICE_NAMES,
    SparkService,
)

_MESSAGES: dict[str, str] = {
    EVENT_WEDGE_DETECTED: "is wedged: {reason}",
    EVENT_SERVICE_RESTARTED: "was restarted ({reason})",
    EVENT_RESTART_FAILED: "could not be restarted: {reason}",
    EVENT_SERVICE_RECOVERED: "works again",
    EVENT_TRANSCRIPTION_DONE: "transcribed {media}",
    EVENT_TRANSCRIPTION_FAILED: "could not transcribe {media}: {error}",
}


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[
        [str, str, Callable[[Event[Mapping[str, Any]]], dict[str, str]]], None
    ],
) -> None:
    """Describe each recovery event for the logbook."""

    @callback
    def describe(event: Event[Mapping[str, Any]]) -> dict[str, str]:
        data = event.data
        device = None
        if device_id := data.get("device_id"):
            device = dr.async_get(hass).async_get(device_id)
        name = (device.name_by_user or device.name) if device is not None else None
        if not name:
            service = data.get("service")
            name = (
                SERVICE_NAMES.get(SparkService(service)) if service in set(SparkService) else None
            )
        return {
            LOGBOOK_ENTRY_NAME: name or "Spark audio service",
            LOGBOOK_ENTRY_MESSAGE: _MESSAGES[str(event.event_type)].format(
                reason=data.get("reason") or "unknown",
                media=data.get("media") or "a recording",
                error=data.get("error") or "unknown",
            ),
        }

    for event_type in _MESSAGES:
        async_describe_event(DOMAIN, event_type, describe)
