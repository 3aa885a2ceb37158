"""The integration's icon where Home Assistant cannot show it from ``brand/`` (before 2026.3)."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.spark_audio.brand_fallback import (
    FALLBACK_ICON_URL,
    ICON,
    ha_serves_brand_images,
)
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost

UPDATE = "update.127_0_0_1_whisperx"


async def test_update_entity_shows_the_integrations_icon(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
) -> None:
    """Before 2026.3 HA points an update's picture at the brands site, which has no custom
    integrations: ours points at brand/icon.png, served here to a browser (no token, as an
    ``<img>`` asks). From 2026.3 HA's own picture, which serves brand/, is kept."""
    ssh_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await hass.async_block_till_done()
    update = hass.states.get(UPDATE)
    assert update is not None
    picture = update.attributes["entity_picture"]
    client = await hass_client_no_auth()
    response = await client.get(FALLBACK_ICON_URL)
    if ha_serves_brand_images():
        assert picture == "/api/brands/integration/spark_audio/icon.png"
        assert response.status == 404  # nothing of ours beside HA's brands view
    else:
        assert picture == FALLBACK_ICON_URL
        assert response.status == 200
        assert await response.read() == ICON.read_bytes()
    await hass.config_entries.async_unload(ssh_entry.entry_id)
