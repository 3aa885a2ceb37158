"""Every service client is made in one place, for the config flow's check and the coordinators."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio import coordinator as coordinator_module
from custom_components.spark_audio.const import CONF_WHISPERX_API_KEY, SparkService
from custom_components.spark_audio.spark import SparkServiceClient
from tests.spark_sim.server import SparkSim

from .conftest import entry_data


async def test_coordinators_take_their_clients_from_build_client(
    hass: HomeAssistant, spark_sim: SparkSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spied, not faked: the real ``build_client`` makes each client; the spy only records it."""
    made: dict[SparkService, tuple[SparkServiceClient, dict[str, Any]]] = {}
    real = coordinator_module.build_client

    def spy(service: SparkService, *args: Any, **kwargs: Any) -> SparkServiceClient:
        client = real(service, *args, **kwargs)
        made[service] = (client, kwargs)
        return client

    monkeypatch.setattr(coordinator_module, "build_client", spy)
    entry = MockConfigEntry(
        domain="spark_audio",
        title="127.0.0.1",
        unique_id="127.0.0.1",
        minor_version=2,
        data=entry_data(spark_sim, **{CONF_WHISPERX_API_KEY: "k" * 32}),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    try:
        coordinators = entry.runtime_data.coordinators
        assert set(made) == set(coordinators) == set(SparkService)
        for service, coordinator in coordinators.items():
            assert coordinator.client is made[service][0]
        assert made[SparkService.WHISPERX][1] == {"whisperx_api_key": "k" * 32}
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
