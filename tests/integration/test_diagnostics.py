"""Diagnostics downloads carry the state needed to debug, and never a secret."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from tests.integration.conftest import SECRETS
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost

WHISPERX_KEY = "wx-diagnostics-key-never-shown-42"
SECRETS.add(WHISPERX_KEY)


def secret_lines(ssh_host: SSHTestHost) -> list[str]:
    """Every line of the private key's body: any one leaking is a failure."""
    return [
        line
        for line in ssh_host.client_private_key.splitlines()
        if line and not line.startswith("-----")
    ]


async def test_entry_and_device_diagnostics_redact_secrets(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    ssh_entry: MockConfigEntry,
    ssh_host: SSHTestHost,
    spark_sim: SparkSim,
    device_registry: dr.DeviceRegistry,
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    spark_sim.states["whisperx"].api_key = WHISPERX_KEY
    ssh_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        ssh_entry,
        data={
            **ssh_entry.data,
            "ssh_password": "hunter2-secret",
            "whisperx_api_key": WHISPERX_KEY,
        },
    )
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, ssh_entry)
    assert diagnostics["entry"]["data"]["ssh_private_key"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["ssh_password"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["whisperx_api_key"] == "**REDACTED**"
    # The keyed WhisperX answered the deep check's real transcription: the key was sent.
    assert diagnostics["services"]["whisperx"]["deep_check"]["ok"] is True
    assert diagnostics["services"]["whisperx"]["health"]["details"]["auth"] is True
    assert diagnostics["entry"]["data"]["ssh_user"] == ssh_host.username
    assert diagnostics["ssh_configured"] is True
    parakeet = diagnostics["services"]["parakeet"]
    assert parakeet["health_ok"] is True
    assert parakeet["deep_check"]["ok"] is True
    assert parakeet["container_state"] == "running"
    assert parakeet["recovery"]["container"] == "parakeet"

    device = next(
        d
        for d in dr.async_entries_for_config_entry(device_registry, ssh_entry.entry_id)
        if d.name == "127.0.0.1 Magpie"
    )
    device_diagnostics = await get_diagnostics_for_device(hass, hass_client, ssh_entry, device)
    assert device_diagnostics["service"] == "magpie"
    assert device_diagnostics["health"]["voices"] == 11

    dumped = json.dumps([diagnostics, device_diagnostics])
    assert "hunter2-secret" not in dumped
    assert WHISPERX_KEY not in dumped
    for line in secret_lines(ssh_host):
        assert line not in dumped
    await hass.config_entries.async_unload(ssh_entry.entry_id)
