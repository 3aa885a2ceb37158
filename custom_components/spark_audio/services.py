"""Actions: restart a container (admins only), deep check now, transcribe, enrol voices."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError, Unauthorized, UnknownUser
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_register_admin_service

from .const import (
    ATTR_CONFIG_ENTRY_ID,
    ATTR_SERVICE,
    DOMAIN,
    SERVICE_CANCEL_TRANSCRIPTION,
    SERVICE_DEEP_CHECK,
    SERVICE_RESTART,
    SparkService,
)
from .data import SparkAudioConfigEntry
from .entity import translate_errors
from .recovery import ServiceRecovery
from .speaker_enrolment import (
    ENROLL_SCHEMA,
    FORGET_SCHEMA,
    SERVICE_ENROLL_SPEAKER,
    SERVICE_FORGET_SPEAKER,
    async_enroll_speaker,
    async_forget_speaker,
)
from .speaker_verification import (
    SERVICE_VERIFY_SPEAKERS,
    VERIFY_SCHEMA,
    async_verify_speakers,
)
from .transcription.action import SCHEMA as TRANSCRIBE_SCHEMA
from .transcription.action import SERVICE_TRANSCRIBE, async_transcribe
from .transcription.jobs import JOBS_KEY

_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Required(ATTR_SERVICE): vol.In([str(s) for s in SparkService]),
    }
)


def _recovery(hass: HomeAssistant, call: ServiceCall) -> ServiceRecovery:
    """The loaded entry's recovery for the named service, or a translated error."""
    entry_id = call.data[ATTR_CONFIG_ENTRY_ID]
    entry: SparkAudioConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_entry",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"title": entry.title},
        )
    service = SparkService(call.data[ATTR_SERVICE])
    recovery = entry.runtime_data.recovery.get(service)
    if recovery is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="service_not_configured",
            translation_placeholders={"service": str(service), "title": entry.title},
        )
    return recovery


def _admin_only(
    hass: HomeAssistant, handler: Callable[[HomeAssistant, ServiceCall], Awaitable[ServiceResponse]]
) -> Callable[[ServiceCall], Coroutine[Any, Any, ServiceResponse]]:
    """``handler`` for administrators only, answering data (HA 2025.4's admin services cannot).

    The same rule as async_register_admin_service: automations and scripts (no user) may call.
    """

    async def checked(call: ServiceCall) -> ServiceResponse:
        if call.context.user_id:
            user = await hass.auth.async_get_user(call.context.user_id)
            if user is None:
                raise UnknownUser(context=call.context)
            if not user.is_admin:
                raise Unauthorized(context=call.context)
        return await handler(hass, call)

    return checked


def async_register_services(hass: HomeAssistant) -> None:
    """Register the actions (once, from async_setup)."""

    @translate_errors
    async def restart(call: ServiceCall) -> None:
        # Counted in the restart history as "manual"; not against the automatic limit.
        await _recovery(hass, call).async_restart()

    @translate_errors
    async def deep_check(call: ServiceCall) -> ServiceResponse:
        status = await _recovery(hass, call).deep.async_probe_now()
        return {
            "ok": status.ok,
            "wedged": status.wedged,
            "busy": status.busy,
            "verdict": str(status.verdict),
            "latency_ms": None if status.latency_s is None else round(status.latency_s * 1000),
            "error": status.error,
            "checked_at": status.checked_at.isoformat(),
        }

    async def transcribe(call: ServiceCall) -> ServiceResponse:
        if not call.data["wait"]:
            return await hass.data[JOBS_KEY].async_submit(call)
        return await async_transcribe(hass, call)

    async def cancel_transcription(call: ServiceCall) -> None:
        await hass.data[JOBS_KEY].async_cancel(call.data["job_id"], call.context)

    async def forget_speaker(call: ServiceCall) -> None:
        await async_forget_speaker(hass, call)

    # Voiceprints are biometric data of the household: administrators only.
    # Enrolment answers the clips it used, so the administrator sees what went in.
    hass.services.async_register(
        DOMAIN,
        SERVICE_ENROLL_SPEAKER,
        _admin_only(hass, async_enroll_speaker),
        schema=ENROLL_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    async_register_admin_service(
        hass, DOMAIN, SERVICE_FORGET_SPEAKER, forget_speaker, schema=FORGET_SCHEMA
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_VERIFY_SPEAKERS,
        _admin_only(hass, async_verify_speakers),
        schema=VERIFY_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    # Restarting a container acts on the Spark itself: administrators only.
    async_register_admin_service(hass, DOMAIN, SERVICE_RESTART, restart, schema=_SCHEMA)
    # Anyone may cancel the jobs they queued; only administrators other people's (the handler).
    hass.services.async_register(
        DOMAIN,
        SERVICE_CANCEL_TRANSCRIPTION,
        cancel_transcription,
        schema=vol.Schema({vol.Required("job_id"): cv.string}),
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_TRANSCRIBE,
        transcribe,
        schema=TRANSCRIBE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_DEEP_CHECK,
        deep_check,
        schema=_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
