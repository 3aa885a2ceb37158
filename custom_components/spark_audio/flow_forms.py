"""The host/services/SSH form of the config flows: schema, tidying, offline checks.

Kept apart from the flow steps so each stays small; nothing here touches the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.const import CONF_HOST
from homeassistant.data_entry_flow import section
from homeassistant.helpers import selector

from .const import (
    CONF_SSH,
    CONF_SSH_HOST_KEY,
    CONF_SSH_KEY,
    CONF_SSH_PASSWORD,
    CONF_SSH_PORT,
    CONF_SSH_USER,
    DEFAULT_ENABLED,
    DEFAULT_PORTS,
    DEFAULT_SSH_PORT,
    SparkService,
    conf_enabled,
    conf_port,
)
from .coordinator import enabled_services
from .spark.remote.ssh_login import check_private_key

_PORT = selector.NumberSelector(
    selector.NumberSelectorConfig(min=1, max=65535, mode=selector.NumberSelectorMode.BOX)
)
SSH_FORM_KEYS = (CONF_SSH_USER, CONF_SSH_PORT, CONF_SSH_KEY, CONF_SSH_PASSWORD)


def connection_schema(with_ssh: bool, with_host: bool = True) -> vol.Schema:
    """Host (unless discovery found it), a switch and a port per service, then (optionally) SSH."""
    fields: dict[Any, Any] = {}
    if with_host:
        fields[vol.Required(CONF_HOST)] = selector.TextSelector()
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


def normalise(user_input: dict[str, Any]) -> dict[str, Any]:
    """Flatten the SSH section and tidy values into what the entry stores."""
    data = {k: v for k, v in user_input.items() if k != CONF_SSH}
    data[CONF_HOST] = str(user_input[CONF_HOST]).strip().lower()
    for service in SparkService:
        data[conf_port(service)] = int(user_input[conf_port(service)])
    ssh = user_input.get(CONF_SSH) or {}
    for key in SSH_FORM_KEYS:
        value = ssh.get(key)
        if isinstance(value, str):
            value = value.strip() or None
        if value is not None:
            data[key] = int(value) if key == CONF_SSH_PORT else value
    return data


def validate_form(data: dict[str, Any]) -> dict[str, str]:
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
        elif key and not _usable_private_key(key):
            errors["base"] = "invalid_ssh_key"
    elif data.get(CONF_SSH_KEY) or data.get(CONF_SSH_PASSWORD):
        errors["base"] = "ssh_user_missing"
    return errors


def _usable_private_key(key: str) -> bool:
    """Whether asyncssh can load the key as it will at connect time (no passphrase)."""
    try:
        check_private_key(key)
    except ValueError:
        return False
    return True


def as_input(data: Mapping[str, Any]) -> dict[str, Any]:
    """Stored or pending data in the form's shape, for suggested values; never the secrets."""
    form = {k: v for k, v in data.items() if k not in SSH_FORM_KEYS and k != CONF_SSH_HOST_KEY}
    form[CONF_SSH] = {k: data[k] for k in (CONF_SSH_USER, CONF_SSH_PORT) if k in data}
    return form


def public_ssh(section_values: Mapping[str, Any] | None) -> dict[str, Any]:
    """The SSH section without its secrets: they are never sent back to the browser."""
    return {k: v for k, v in (section_values or {}).items() if k in (CONF_SSH_USER, CONF_SSH_PORT)}


def entry_data(old: Mapping[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The entry data a form asks for: it replaces everything the form shows.

    An empty SSH user means no SSH at all (a secret given without a user stays,
    for validation to refuse). Stored secrets are never shown back, so a key or
    password left empty keeps the stored one(s) for that login.
    """
    if not new.get(CONF_SSH_USER):
        return {k: v for k, v in new.items() if k not in (CONF_SSH_USER, CONF_SSH_PORT)}
    if not new.get(CONF_SSH_KEY) and not new.get(CONF_SSH_PASSWORD):
        for key in (CONF_SSH_KEY, CONF_SSH_PASSWORD):
            if old.get(key):
                new[key] = old[key]
    return new
