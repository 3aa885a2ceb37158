"""Device triggers: recovery on service devices, transcriptions on the hub, command speakers.

Wedged, restarted, restart failed, recovered; transcription done / failed;
speaker of a voice command identified (Parakeet's and WhisperX's devices).
They wrap the events (which carry the device's id), so the
automation editor offers them on the device instead of raw event triggers.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.const import (
    CONF_DEVICE_ID,
    CONF_DOMAIN,
    CONF_EVENT_DATA,
    CONF_PLATFORM,
    CONF_TYPE,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import selector
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType

from .const import (
    DOMAIN,
    EVENT_RESTART_FAILED,
    EVENT_SERVICE_RECOVERED,
    EVENT_SERVICE_RESTARTED,
    EVENT_TRANSCRIPTION_DONE,
    EVENT_TRANSCRIPTION_FAILED,
    EVENT_WEDGE_DETECTED,
    SparkService,
)
from .speaker_identification import EVENT_SPEAKER_IDENTIFIED

TRIGGER_EVENTS: dict[str, str] = {
    "wedge_detected": EVENT_WEDGE_DETECTED,
    "service_restarted": EVENT_SERVICE_RESTARTED,
    "restart_failed": EVENT_RESTART_FAILED,
    "service_recovered": EVENT_SERVICE_RECOVERED,
}
# Background transcriptions belong to a Spark, not to one service: on the hub device.
HUB_TRIGGER_EVENTS: dict[str, str] = {
    "transcription_done": EVENT_TRANSCRIPTION_DONE,
    "transcription_failed": EVENT_TRANSCRIPTION_FAILED,
}
# Who gave a voice command: on the devices whose STT entity identifies speakers.
STT_TRIGGER_EVENTS: dict[str, str] = {"speaker_identified": EVENT_SPEAKER_IDENTIFIED}
_STT_SERVICES = frozenset({SparkService.PARAKEET, SparkService.WHISPERX})
ALL_TRIGGER_EVENTS = TRIGGER_EVENTS | HUB_TRIGGER_EVENTS | STT_TRIGGER_EVENTS
CONF_PERSON = "person"
TRIGGER_SCHEMA = DEVICE_TRIGGER_BASE_SCHEMA.extend(
    {
        vol.Required(CONF_TYPE): vol.In(ALL_TRIGGER_EVENTS),
        # speaker_identified only: just this person's commands.
        vol.Optional(CONF_PERSON): cv.entity_domain("person"),
    }
)


def _is_service_device(device: dr.DeviceEntry) -> bool:
    """Service devices are keyed ``<entry id>_<service>``; the Spark's hub device is not."""
    return any(
        domain == DOMAIN and key.rsplit("_", 1)[-1] in set(SparkService)
        for domain, key in device.identifiers
    )


async def async_get_triggers(hass: HomeAssistant, device_id: str) -> list[dict[str, Any]]:
    """The four recovery triggers on a service device; transcription ones on the hub."""
    device = dr.async_get(hass).async_get(device_id)
    if device is None or not any(domain == DOMAIN for domain, _ in device.identifiers):
        return []
    kinds = TRIGGER_EVENTS if _is_service_device(device) else HUB_TRIGGER_EVENTS
    if _identifies_speakers(hass, device):
        kinds = kinds | STT_TRIGGER_EVENTS
    return [
        {CONF_PLATFORM: "device", CONF_DOMAIN: DOMAIN, CONF_DEVICE_ID: device_id, CONF_TYPE: kind}
        for kind in kinds
    ]


def _identifies_speakers(hass: HomeAssistant, device: dr.DeviceEntry) -> bool:
    """A Parakeet or WhisperX device of a Spark that runs WhisperX (the embeddings come from it)."""
    for domain, key in device.identifiers:
        entry_id, _, service = key.rpartition("_")
        if domain != DOMAIN or service not in _STT_SERVICES:
            continue
        entry = hass.config_entries.async_get_entry(entry_id)
        data = getattr(entry, "runtime_data", None) if entry is not None else None
        return data is not None and data.whisperx is not None
    return False


async def async_get_trigger_capabilities(
    hass: HomeAssistant, config: ConfigType
) -> dict[str, vol.Schema]:
    """speaker_identified may be narrowed to one person."""
    if config[CONF_TYPE] not in STT_TRIGGER_EVENTS:
        return {}
    return {
        "extra_fields": vol.Schema(
            {
                vol.Optional(CONF_PERSON): selector.EntitySelector(
                    selector.EntitySelectorConfig(domain="person")
                )
            }
        )
    }


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Listen for the trigger's recovery event of this device."""
    event_config = event_trigger.TRIGGER_SCHEMA(
        {
            CONF_PLATFORM: "event",
            event_trigger.CONF_EVENT_TYPE: ALL_TRIGGER_EVENTS[config[CONF_TYPE]],
            CONF_EVENT_DATA: {
                CONF_DEVICE_ID: config[CONF_DEVICE_ID],
                **({CONF_PERSON: config[CONF_PERSON]} if CONF_PERSON in config else {}),
            },
        }
    )
    return await event_trigger.async_attach_trigger(
        hass, event_config, action, trigger_info, platform_type="device"
    )
