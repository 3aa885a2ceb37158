"""A switch per service that starts and stops its container over SSH."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import SparkService
from .data import SparkAudioConfigEntry, SparkAudioData
from .entity import SparkRecoveryEntity, async_require_admin, translate_errors
from .provided import async_add_provided
from .spark.remote.docker import ContainerState

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SparkAudioConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Container switches, only when SSH is configured."""
    data = entry.runtime_data
    switches = [SparkContainerSwitch(data, service) for service in data.deep]
    async_add_provided(
        entry, Platform.SWITCH, async_add_entities, switches if data.docker is not None else ()
    )


class SparkContainerSwitch(SparkRecoveryEntity, SwitchEntity):
    """On while the container runs; turning it off stops the service."""

    _attr_translation_key = "container"
    _attr_entity_category = EntityCategory.CONFIG
    # Stopping a speech service is rare and disruptive: opt in (the restart button stays).
    _attr_entity_registry_enabled_default = False

    def __init__(self, data: SparkAudioData, service: SparkService) -> None:
        """Key the switch to its service."""
        super().__init__(data, service, "container")

    @property
    def available(self) -> bool:
        """Known only while ``docker inspect`` works."""
        return self.data.containers is not None and self.data.containers.last_update_success

    @property
    def is_on(self) -> bool | None:
        """Running or restarting counts as on."""
        containers = self.data.containers
        if containers is None or not containers.data:
            return None
        return containers.data.get(self.service) in (
            ContainerState.RUNNING,
            ContainerState.RESTARTING,
        )

    @translate_errors
    async def async_turn_on(self, **kwargs: Any) -> None:
        """``docker start``."""
        await async_require_admin(self)
        assert self.data.docker is not None
        assert self.data.containers is not None
        await self.data.docker.start(self.recovery.container)
        await self.data.containers.async_refresh()

    @translate_errors
    async def async_turn_off(self, **kwargs: Any) -> None:
        """``docker stop``."""
        await async_require_admin(self)
        assert self.data.docker is not None
        assert self.data.containers is not None
        await self.data.docker.stop(self.recovery.container)
        await self.data.containers.async_refresh()
