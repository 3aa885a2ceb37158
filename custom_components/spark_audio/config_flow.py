"""Config, reconfigure and options flows for spark_audio."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST
from homeassistant.core import callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers import selector
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .const import (
    CONF_DEEP_CHECK_INTERVAL,
    CONF_DEFAULT_VOICE,
    CONF_HF_TOKEN,
    CONF_MAX_CONCURRENT_UPLOADS,
    CONF_MAX_UPLOAD_MB,
    CONF_REQUEST_TIMEOUT,
    CONF_RESTART_MAX_PER_HOUR,
    CONF_RESTART_MIN_SPACING,
    CONF_SCAN_INTERVAL,
    CONF_SSH,
    CONF_SSH_HOST_KEY,
    CONF_SSH_KEY,
    CONF_SSH_PASSWORD,
    CONF_SSH_PORT,
    CONF_SSH_USER,
    CONF_STT_LANGUAGE,
    CONF_WHISPERX_MODEL,
    DEFAULT_CONTAINERS,
    DEFAULT_DEEP_CHECK_INTERVAL,
    DEFAULT_ENABLED,
    DEFAULT_MAX_CONCURRENT_UPLOADS,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_PORTS,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_RESTART_MAX_PER_HOUR,
    DEFAULT_RESTART_MIN_SPACING,
    DEFAULT_SCAN_INTERVAL,
    DEFAULT_SSH_PORT,
    DEFAULT_STT_LANGUAGE,
    DEFAULT_VOICE,
    DEFAULT_WHISPERX_MODEL,
    DOMAIN,
    WHISPERX_MODELS,
    SparkService,
    conf_container,
    conf_enabled,
    conf_port,
)
from .coordinator import (
    ServiceNotReadyError,
    build_client,
    enabled_services,
    fetch_status,
    service_port,
)
from .data import SparkAudioConfigEntry
from .probing import ssh_client
from .spark import SparkConnectionError, SparkError, SparkTimeoutError, parakeet
from .spark.errors import SparkSSHAuthError, SparkSSHError, SparkSSHHostKeyError
from .spark.ssh import HostKey, fetch_host_key, validate_container_name

_PORT = selector.NumberSelector(
    selector.NumberSelectorConfig(min=1, max=65535, mode=selector.NumberSelectorMode.BOX)
)
_SSH_KEYS = (CONF_SSH_USER, CONF_SSH_PORT, CONF_SSH_KEY, CONF_SSH_PASSWORD)


def _connection_schema(with_ssh: bool) -> vol.Schema:
    """Host, then a switch and a port per service, then (optionally) SSH."""
    fields: dict[Any, Any] = {vol.Required(CONF_HOST): selector.TextSelector()}
    for service in SparkService:
        fields[vol.Required(conf_enabled(service), default=DEFAULT_ENABLED[service])] = (
            selector.BooleanSelector()
        )
        fields[vol.Required(conf_port(service), default=DEFAULT_PORTS[service])] = _PORT
    if with_ssh:
        fields[vol.Required(CONF_SSH)] = section(
            vol.Schema(
                {
                    vol.Optional(CONF_SSH_USER): selector.TextSelector(),
                    vol.Required(CONF_SSH_PORT, default=DEFAULT_SSH_PORT): _PORT,
                    vol.Optional(CONF_SSH_KEY): selector.TextSelector(
                        selector.TextSelectorConfig(multiline=True)
                    ),
                    vol.Optional(CONF_SSH_PASSWORD): selector.TextSelector(
                        selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
                    ),
                }
            ),
            {"collapsed": True},
        )
    return vol.Schema(fields)


def _normalise(user_input: dict[str, Any]) -> dict[str, Any]:
    """Flatten the SSH section and tidy values into what the entry stores."""
    data = {k: v for k, v in user_input.items() if k != CONF_SSH}
    data[CONF_HOST] = str(user_input[CONF_HOST]).strip().lower()
    for service in SparkService:
        data[conf_port(service)] = int(user_input[conf_port(service)])
    ssh = user_input.get(CONF_SSH) or {}
    for key in _SSH_KEYS:
        value = ssh.get(key)
        if isinstance(value, str):
            value = value.strip() or None
        if value is not None:
            data[key] = int(value) if key == CONF_SSH_PORT else value
    return data


def _validate_form(data: dict[str, Any]) -> dict[str, str]:
    """Errors a user can fix without us touching the network."""
    errors: dict[str, str] = {}
    host = data[CONF_HOST]
    if not host or "/" in host or " " in host:
        errors[CONF_HOST] = "invalid_host"
    if not enabled_services(data):
        errors["base"] = "no_services"
    if data.get(CONF_SSH_USER):
        key = data.get(CONF_SSH_KEY)
        if not key and not data.get(CONF_SSH_PASSWORD):
            errors["base"] = "ssh_credentials_missing"
        elif key and "PRIVATE KEY-----" not in key:
            errors["base"] = "invalid_ssh_key"
    elif data.get(CONF_SSH_KEY) or data.get(CONF_SSH_PASSWORD):
        errors["base"] = "ssh_user_missing"
    return errors


def _ssh_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether reconfigure touched anything the pinned host key or login depends on."""
    keys = (CONF_HOST, CONF_SSH_USER, CONF_SSH_PORT, CONF_SSH_KEY, CONF_SSH_PASSWORD)
    return not old.get(CONF_SSH_HOST_KEY) or any(old.get(k) != new.get(k) for k in keys)


class SparkAudioConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a DGX Spark: one entry per host, every chosen service probed first."""

    VERSION = 1
    _pending: dict[str, Any] | None = None
    _host_key: HostKey | None = None

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask where the Spark is and which services to use."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _normalise(user_input)
            errors = _validate_form(data) or await self._probe(data)
            if not errors:
                await self.async_set_unique_id(data[CONF_HOST])
                self._abort_if_unique_id_configured()
                if data.get(CONF_SSH_USER):
                    errors = await self._verify_ssh(data)
                    if not errors:
                        return await self.async_step_ssh_host_key()
                else:
                    return self.async_create_entry(title=data[CONF_HOST], data=data)
        schema = _connection_schema(with_ssh=True)
        if user_input is not None:
            schema = self.add_suggested_values_to_schema(schema, user_input)
        return self.async_show_form(step_id="user", data_schema=schema, errors=errors)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the host, ports or services of an existing Spark."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, **_normalise(user_input)}
            errors = _validate_form(data) or await self._probe(data)
            if not errors:
                await self.async_set_unique_id(data[CONF_HOST])
                if data[CONF_HOST] != entry.unique_id:
                    self._abort_if_unique_id_configured()
                if data.get(CONF_SSH_USER) and _ssh_changed(entry.data, data):
                    errors = await self._verify_ssh(data)
                    if not errors:
                        return await self.async_step_ssh_host_key()
                else:
                    return self._finish_reconfigure(data)
        suggested = user_input or {
            **entry.data,
            CONF_SSH: {k: entry.data[k] for k in (CONF_SSH_USER, CONF_SSH_PORT) if k in entry.data},
        }
        schema = self.add_suggested_values_to_schema(_connection_schema(with_ssh=True), suggested)
        return self.async_show_form(step_id="reconfigure", data_schema=schema, errors=errors)

    async def async_step_ssh_host_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the Spark's SSH host key fingerprint; confirming pins that exact key."""
        assert self._pending is not None
        assert self._host_key is not None
        if user_input is not None:
            data = {**self._pending, CONF_SSH_HOST_KEY: self._host_key.openssh}
            if self.source == SOURCE_RECONFIGURE:
                return self._finish_reconfigure(data)
            return self.async_create_entry(title=data[CONF_HOST], data=data)
        return self.async_show_form(
            step_id="ssh_host_key",
            data_schema=vol.Schema({}),
            description_placeholders={
                "host": self._pending[CONF_HOST],
                "fingerprint": self._host_key.fingerprint,
            },
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The Spark refused our SSH login: ask for new credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """New SSH key or password, checked against the pinned host key."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {
                k: v for k, v in entry.data.items() if k not in (CONF_SSH_KEY, CONF_SSH_PASSWORD)
            }
            data.update(_normalise({**data, CONF_SSH: user_input}))
            errors = _validate_form(data)
            if not errors:
                errors = await self._check_login(data, data[CONF_SSH_HOST_KEY])
            if not errors:
                return self.async_update_reload_and_abort(entry, data=data)
        schema = vol.Schema(
            {
                vol.Required(CONF_SSH_USER, default=entry.data.get(CONF_SSH_USER, "")): (
                    selector.TextSelector()
                ),
                vol.Optional(CONF_SSH_KEY): selector.TextSelector(
                    selector.TextSelectorConfig(multiline=True)
                ),
                vol.Optional(CONF_SSH_PASSWORD): selector.TextSelector(
                    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
                ),
            }
        )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=schema,
            errors=errors,
            description_placeholders={"host": entry.data[CONF_HOST]},
        )

    def _finish_reconfigure(self, data: dict[str, Any]) -> ConfigFlowResult:
        entry = self._get_reconfigure_entry()
        # The entry's update listener reloads it, applying the change.
        self.hass.config_entries.async_update_entry(
            entry, data=data, title=data[CONF_HOST], unique_id=data[CONF_HOST]
        )
        return self.async_abort(reason="reconfigure_successful")

    async def _verify_ssh(self, data: dict[str, Any]) -> dict[str, str]:
        """Fetch the host key and log in with it; remember both for the confirm step."""
        try:
            key = await fetch_host_key(data[CONF_HOST], int(data.get(CONF_SSH_PORT, 22)))
        except SparkSSHError:
            return {"base": "ssh_cannot_connect"}
        errors = await self._check_login(data, key.openssh)
        if not errors:
            self._pending, self._host_key = data, key
        return errors

    async def _check_login(self, data: dict[str, Any], host_key: str) -> dict[str, str]:
        """Log in over SSH trusting only ``host_key``; map failures to form errors."""
        ssh = ssh_client(data, host_key)
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

    async def _probe(self, data: dict[str, Any]) -> dict[str, str]:
        """Probe every enabled service at once; errors land on its port field."""
        session = async_get_clientsession(self.hass)
        services = enabled_services(data)
        results = await asyncio.gather(
            *(
                fetch_status(build_client(s, session, data[CONF_HOST], service_port(data, s)))
                for s in services
            ),
            return_exceptions=True,
        )
        errors: dict[str, str] = {}
        for service, result in zip(services, results, strict=True):
            if isinstance(result, BaseException) and (error := _probe_error(service, result)):
                errors[conf_port(service)] = error
        return errors

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Defaults for voices, languages and timeouts."""
        return SparkAudioOptionsFlow()


def _probe_error(service: SparkService, err: BaseException) -> str | None:
    """The translation key for a failed probe; None when the service is fine."""
    if isinstance(err, ServiceNotReadyError):
        return None  # reachable and the right API, just still loading models
    if isinstance(err, SparkTimeoutError):
        return "timeout"
    if isinstance(err, SparkConnectionError):
        return "cannot_connect"
    if isinstance(err, SparkError):
        return f"not_{service}"
    raise err


def _minutes(low: int, high: int) -> selector.NumberSelector:
    return _count(low, high, "min")


def _count(low: int, high: int, unit: str | None = None) -> selector.NumberSelector:
    """A whole-number box from ``low`` to ``high``, optionally with a unit."""
    config = selector.NumberSelectorConfig(
        min=low, max=high, step=1, mode=selector.NumberSelectorMode.BOX
    )
    if unit is not None:
        config["unit_of_measurement"] = unit
    return selector.NumberSelector(config)


class SparkAudioOptionsFlow(OptionsFlow):
    """Options that apply on the fly (the entry reloads when they change)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form for every option."""
        errors: dict[str, str] = {}
        if user_input is not None:
            for service in SparkService:
                try:
                    validate_container_name(user_input[conf_container(service)])
                except ValueError:
                    errors[conf_container(service)] = "invalid_container_name"
            if not errors:
                token = (user_input.get(CONF_HF_TOKEN) or "").strip()
                # An empty token field keeps the stored token (it is never shown back).
                if token:
                    user_input[CONF_HF_TOKEN] = token
                elif CONF_HF_TOKEN in self.config_entry.options:
                    user_input[CONF_HF_TOKEN] = self.config_entry.options[CONF_HF_TOKEN]
                else:
                    user_input.pop(CONF_HF_TOKEN, None)
                return self.async_create_entry(data=user_input)
        entry: SparkAudioConfigEntry = self.config_entry
        options = entry.options
        fields: dict[Any, Any] = {
            vol.Required(
                CONF_DEFAULT_VOICE,
                default=options.get(CONF_DEFAULT_VOICE, DEFAULT_VOICE),
            ): self._voice_selector(),
            vol.Required(
                CONF_STT_LANGUAGE, default=options.get(CONF_STT_LANGUAGE, DEFAULT_STT_LANGUAGE)
            ): selector.LanguageSelector(
                selector.LanguageSelectorConfig(languages=list(parakeet.LANGUAGES))
            ),
            vol.Required(
                CONF_REQUEST_TIMEOUT,
                default=options.get(CONF_REQUEST_TIMEOUT, DEFAULT_REQUEST_TIMEOUT),
            ): _count(5, 3600, "s"),
            vol.Required(
                CONF_SCAN_INTERVAL,
                default=options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL),
            ): _count(5, 3600, "s"),
            vol.Required(
                CONF_DEEP_CHECK_INTERVAL,
                default=options.get(CONF_DEEP_CHECK_INTERVAL, DEFAULT_DEEP_CHECK_INTERVAL),
            ): _minutes(1, 1440),
            vol.Required(
                CONF_RESTART_MIN_SPACING,
                default=options.get(CONF_RESTART_MIN_SPACING, DEFAULT_RESTART_MIN_SPACING),
            ): _minutes(1, 1440),
            vol.Required(
                CONF_RESTART_MAX_PER_HOUR,
                default=options.get(CONF_RESTART_MAX_PER_HOUR, DEFAULT_RESTART_MAX_PER_HOUR),
            ): _count(0, 60),
            # Gateway limits (the strictest over all Sparks applies)
            vol.Required(
                CONF_MAX_UPLOAD_MB,
                default=options.get(CONF_MAX_UPLOAD_MB, DEFAULT_MAX_UPLOAD_MB),
            ): _count(1, 1024 * 1024, "MiB"),
            vol.Required(
                CONF_MAX_CONCURRENT_UPLOADS,
                default=options.get(CONF_MAX_CONCURRENT_UPLOADS, DEFAULT_MAX_CONCURRENT_UPLOADS),
            ): _count(1, 256),
            vol.Required(
                CONF_WHISPERX_MODEL,
                default=options.get(CONF_WHISPERX_MODEL, DEFAULT_WHISPERX_MODEL),
            ): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=list(WHISPERX_MODELS), mode=selector.SelectSelectorMode.DROPDOWN
                )
            ),
            vol.Optional(CONF_HF_TOKEN): selector.TextSelector(
                selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
            ),
            **{
                vol.Required(
                    conf_container(service),
                    default=options.get(conf_container(service), DEFAULT_CONTAINERS[service]),
                ): selector.TextSelector()
                for service in SparkService
            },
        }
        schema = vol.Schema(fields)
        if user_input is not None:
            schema = self.add_suggested_values_to_schema(schema, user_input)
        return self.async_show_form(step_id="init", data_schema=schema, errors=errors)

    def _voice_selector(self) -> selector.Selector[Any]:
        """A dropdown of the live voices when Magpie is up, free text otherwise."""
        entry: SparkAudioConfigEntry = self.config_entry
        data = getattr(entry, "runtime_data", None)
        coordinator = data.magpie if data is not None else None
        catalog = coordinator.data.voices if coordinator and coordinator.data else None
        if not catalog or not catalog.voices:
            return selector.TextSelector()
        names = [v.name for v in catalog.voices]
        current = entry.options.get(CONF_DEFAULT_VOICE, DEFAULT_VOICE)
        return selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=names if current in names else [current, *names],
                mode=selector.SelectSelectorMode.DROPDOWN,
            )
        )
