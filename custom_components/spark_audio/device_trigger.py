"""Device triggers: wedged, restarted, restart failed, recovered; transcription done / failed.

They wrap the recovery events (which carry the service device's id), so the
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
from homeassistant.helpers import device_registry as dr
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
TRIGGER_SCHEMA = DEVICE_TRIGGER_BASE_SCHEMA.extend(
    {vol.Required(CONF_TYPE): vol.In(TRIGGER_EVENTS | HUB_TRIGGER_EVENTS)}
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
    return [
        {CONF_PLATFORM: "device", CONF_DOMAIN: DOMAIN, CONF_DEVICE_ID: device_id, CONF_TYPE: kind}
        for kind in kinds
    ]


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
            event_trigger.CONF_EVENT_TYPE: (TRIGGER_EVENTS | HUB_TRIGGER_EVENTS)[config[CONF_TYPE]],
            CONF_EVENT_DATA: {CONF_DEVICE_ID: config[CONF_DEVICE_ID]},
        }
    )
    return await event_trigger.async_attach_trigger(
        hass, event_config, action, trigger_info, platform_type="device"
    )
