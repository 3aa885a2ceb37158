"""Config, reconfigure and options flows for spark_audio."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST
from homeassistant.core import callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers import selector
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from .const import (
    CONF_DEFAULT_VOICE,
    CONF_HF_TOKEN,
    CONF_SSH,
    CONF_SSH_HOST_KEY,
    CONF_SSH_KEY,
    CONF_SSH_PASSWORD,
    CONF_SSH_PORT,
    CONF_SSH_USER,
    DEFAULT_SSH_PORT,
    DEFAULT_VOICE,
    DOMAIN,
    SparkService,
    conf_container,
    conf_port,
)
from .coordinator import build_client, enabled_services, service_port
from .data import SparkAudioConfigEntry
from .flow_forms import (
    as_input,
    connection_schema,
    entry_data,
    normalise,
    public_ssh,
    validate_form,
)
from .flow_identity import SparkIdentityFlow
from .identity import (
    async_identity,
    async_ssh_hostname,
    default_title,
    key_identity,
    normalise_ip,
    spark_hostname,
)
from .options_form import options_schema
from .repairs import host_key_issue_id
from .spark import (
    ServiceNotReadyError,
    SparkConnectionError,
    SparkError,
    SparkTimeoutError,
)
from .spark.errors import SparkSSHError
from .spark.installer.config import validate_hf_token
from .spark.remote.docker import validate_container_name
from .spark.remote.ssh_login import HostKey, fetch_host_key
from .ssh_access import async_check_login, async_forget_ssh, same_login, same_ssh_server

_LOGGER = logging.getLogger(__name__)


class SparkAudioConfigFlow(SparkIdentityFlow, domain=DOMAIN):
    """Add a DGX Spark: one entry per machine, every chosen service probed first.

    The entry is keyed on the Spark's SSH host key where one is known, else on its
    resolved address (identity.py); minor version 2 introduced that (see async_migrate_entry).
    """

    VERSION = 1
    MINOR_VERSION = 2
    _pending: dict[str, Any] | None = None
    _host_key: HostKey | None = None
    # (host, port, key) the user confirmed in this flow: not asked again after a failed login.
    _confirmed: tuple[str, int, str] | None = None
    # What zeroconf announced: the Spark's address, hostname and SSH port.
    _discovered: dict[str, Any] | None = None
    _ssh_hostname: str | None = None

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask where the Spark is and which services to use."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = entry_data({}, normalise(user_input))
            errors = validate_form(data) or await self._probe(data)
            if not errors:
                return await self._async_add(data)
        return self._connection_form("user", user_input, errors)

    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> ConfigFlowResult:
        """A Spark's sshd announced itself over mDNS (Avahi's ``_ssh._tcp``, as on DGX OS).

        The host key it presents (read without logging in) identifies the Spark, so a
        known Spark at a new address has its entry's host updated instead (with SSH, once
        the Spark confirms the address is its own: flow_identity).
        """
        name = spark_hostname(discovery_info.hostname)
        address = normalise_ip(discovery_info.host)
        if name is None or address is None:
            return self.async_abort(reason="not_spark")
        port = discovery_info.port or DEFAULT_SSH_PORT
        try:
            identity = (await fetch_host_key(address, port)).fingerprint
        except SparkSSHError:
            identity = address
        await self.async_set_unique_id(identity)
        await self._async_abort_if_discovered_known(address)
        if await self._address_taken(address):  # an entry keyed on this address (no SSH)
            self._async_key_address_entry(address, identity)
            return self.async_abort(reason="already_configured")
        self._discovered = {CONF_HOST: address, "name": name, CONF_SSH_PORT: port}
        self.context["title_placeholders"] = {"name": name}
        return await self.async_step_zeroconf_confirm()

    async def async_step_zeroconf_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The user confirms the discovered Spark, chooses its services and may add SSH."""
        assert self._discovered is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            typed = {**user_input, CONF_HOST: self._discovered[CONF_HOST]}
            data = entry_data({}, normalise(typed))
            errors = validate_form(data) or await self._probe(data)
            if not errors:
                if not data.get(CONF_SSH_USER):
                    # Keyed on what discovery read; added meanwhile by hand?
                    self._abort_if_unique_id_configured()
                    return self._finish(data)
                return await self._async_add(data)
        values = user_input or {CONF_SSH: {CONF_SSH_PORT: self._discovered[CONF_SSH_PORT]}}
        return self._connection_form("zeroconf_confirm", values, errors)

    async def _async_add(self, data: dict[str, Any]) -> ConfigFlowResult:
        """Key the flow on the Spark (aborting if it is configured), then add it.

        With SSH the key is the host key, read before the user confirms it and before any
        secret leaves HA; without, the resolved address.
        """
        if not data.get(CONF_SSH_USER):
            await self._async_set_identity(await async_identity(self.hass, data), data)
            return self._finish(data)
        errors = await self._fetch_host_key(data)
        if errors:
            return self._connection_form(self._form_step, as_input(data), errors)
        assert self._host_key is not None
        await self._async_set_identity(key_identity(self._host_key.openssh), data)
        return await self.async_step_ssh_host_key()

    @property
    def _form_step(self) -> str:
        """The host/services/SSH form this flow shows: the one a failed login goes back to."""
        step = "user"
        if self.source == SOURCE_RECONFIGURE:
            step = "reconfigure"
        elif self._discovered is not None:
            step = "zeroconf_confirm"
        return step

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the host, ports, services or SSH access (or remove it) of a Spark."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = entry_data(entry.data, normalise(user_input))
            errors = validate_form(data) or await self._probe(data)
            if not errors:
                if not data.get(CONF_SSH_USER):
                    await self._async_check_reconfigured_identity(data)
                    return self._finish(data)
                if not same_ssh_server(entry.data, data):
                    # A new server: its key is shown and confirmed before any login, and
                    # a key that is not this Spark's ends the flow there.
                    errors = await self._fetch_host_key(data)
                    if not errors:
                        assert self._host_key is not None
                        pending = {**data, CONF_SSH_HOST_KEY: self._host_key.openssh}
                        await self._async_check_reconfigured_identity(pending)
                        return await self.async_step_ssh_host_key()
                else:
                    data[CONF_SSH_HOST_KEY] = entry.data[CONF_SSH_HOST_KEY]
                    await self._async_check_reconfigured_identity(data)
                    if same_login(entry.data, data):
                        return self._finish(data)
                    errors = await async_check_login(data)
                    if not errors:
                        return self._finish(data)
        return self._connection_form("reconfigure", user_input or as_input(entry.data), errors)

    async def async_step_ssh_host_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the fingerprint; only once it is confirmed do credentials leave HA.

        The login trusts exactly the key that was shown, so a server swapped in
        since then is refused before it sees a secret.
        """
        assert self._pending is not None
        assert self._host_key is not None
        server = (
            self._pending[CONF_HOST],
            int(self._pending.get(CONF_SSH_PORT, DEFAULT_SSH_PORT)),
            self._host_key.openssh,
        )
        if user_input is None and server != self._confirmed:
            return self.async_show_form(
                step_id="ssh_host_key",
                data_schema=vol.Schema({}),
                description_placeholders={
                    "host": self._pending[CONF_HOST],
                    "fingerprint": self._host_key.fingerprint,
                },
            )
        self._confirmed = server
        data = {**self._pending, CONF_SSH_HOST_KEY: self._host_key.openssh}
        errors = await async_check_login(data)
        if errors:
            # Back to the form the user came from, to fix the login.
            return self._connection_form(self._form_step, as_input(data), errors)
        self._ssh_hostname = await async_ssh_hostname(data)
        return self._finish(data)

    def _connection_form(
        self, step_id: str, values: dict[str, Any] | None, errors: dict[str, str]
    ) -> ConfigFlowResult:
        """The host/services/SSH form, filled with what the user gave (secrets aside).

        A discovered Spark's form has no host field: discovery found it.
        """
        discovered = self._discovered
        schema = connection_schema(with_ssh=True, with_host=step_id != "zeroconf_confirm")
        if values is not None:
            shown = {**values, CONF_SSH: public_ssh(values.get(CONF_SSH))}
            schema = self.add_suggested_values_to_schema(schema, shown)
        placeholders = (
            {"name": discovered["name"], "host": discovered[CONF_HOST]} if discovered else None
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )

    def _finish(self, data: dict[str, Any]) -> ConfigFlowResult:
        """Create the entry, or replace the reconfigured entry's data with ``data``."""
        name = self._ssh_hostname or (self._discovered or {}).get("name")
        if self.source != SOURCE_RECONFIGURE:
            return self.async_create_entry(title=default_title(data[CONF_HOST], name), data=data)
        entry = self._get_reconfigure_entry()
        if entry.data.get(CONF_SSH_USER) and not data.get(CONF_SSH_USER):
            async_forget_ssh(self.hass, entry)
        elif data.get(CONF_SSH_HOST_KEY) != entry.data.get(CONF_SSH_HOST_KEY):
            ir.async_delete_issue(self.hass, DOMAIN, host_key_issue_id(entry.entry_id))
        # A title the user chose names the Spark's devices: keep it. Only a default title
        # (the host, or the name it starts with) follows a new host.
        old_host = str(entry.data.get(CONF_HOST, ""))
        title = entry.title
        if title in (old_host, default_title(old_host)):
            title = default_title(data[CONF_HOST], self._ssh_hostname)
        # The entry's update listener reloads it, applying the change.
        self.hass.config_entries.async_update_entry(
            entry, data=data, title=title, unique_id=self.unique_id
        )
        return self.async_abort(reason="reconfigure_successful")

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
            data.update(normalise({**data, CONF_SSH: user_input}))
            errors = validate_form(data) or await async_check_login(data)
            if not errors:
                # New credentials reload the entry once, through its update listener; the same
                # credentials again change nothing, so retry the login with one reload here.
                if not self.hass.config_entries.async_update_entry(entry, data=data):
                    self.hass.config_entries.async_schedule_reload(entry.entry_id)
                return self.async_abort(reason="reauth_successful")
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

    async def _fetch_host_key(self, data: dict[str, Any]) -> dict[str, str]:
        """The server's key, without logging in; kept with ``data`` for the confirm step."""
        try:
            key = await fetch_host_key(
                data[CONF_HOST], int(data.get(CONF_SSH_PORT, DEFAULT_SSH_PORT))
            )
        except SparkSSHError:
            return {"base": "ssh_cannot_connect"}
        self._pending, self._host_key = data, key
        return {}

    async def _probe(self, data: dict[str, Any]) -> dict[str, str]:
        """Probe every enabled service at once; errors land on its port field."""
        session = async_get_clientsession(self.hass)
        services = enabled_services(data)
        results = await asyncio.gather(
            *(
                build_client(s, session, data[CONF_HOST], service_port(data, s)).fetch_status()
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
    # A bug, not the user's input: say so on the form, keep the traceback in the log.
    _LOGGER.error("Unexpected error probing %s", service, exc_info=err)
    return "unknown"


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
            token = (user_input.get(CONF_HF_TOKEN) or "").strip()
            if token:
                try:
                    user_input[CONF_HF_TOKEN] = validate_hf_token(token)
                except ValueError:
                    errors[CONF_HF_TOKEN] = "invalid_hf_token"
            # An empty token field keeps the stored token (it is never shown back).
            elif CONF_HF_TOKEN in self.config_entry.options:
                user_input[CONF_HF_TOKEN] = self.config_entry.options[CONF_HF_TOKEN]
            else:
                user_input.pop(CONF_HF_TOKEN, None)
            if not errors:
                return self.async_create_entry(data=user_input)
            user_input.pop(CONF_HF_TOKEN, None)  # never sent back to the browser
        entry: SparkAudioConfigEntry = self.config_entry
        options = entry.options
        schema = options_schema(options, self._voice_selector())
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
