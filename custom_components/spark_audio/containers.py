"""Container states over SSH (``docker inspect``), one poll for all of a Spark's services."""

from __future__ import annotations

import logging
from datetime import timedelta

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import DEFAULT_CONTAINERS, DOMAIN, SparkService, conf_container
from .data import SparkAudioConfigEntry
from .repairs import async_raise_host_key_changed
from .spark.errors import (
    SparkError,
    SparkInvalidNameError,
    SparkSSHAuthError,
    SparkSSHError,
    SparkSSHHostKeyError,
)
from .spark.remote.docker import ContainerState, DockerOverSSH

_LOGGER = logging.getLogger(__name__)
# As often as the health polls: WhisperX started or removed outside HA shows within one interval.
CONTAINER_POLL = timedelta(seconds=30)


def container_names(entry: SparkAudioConfigEntry) -> dict[SparkService, str]:
    """Each service's Docker container name, from the options or the defaults."""
    return {
        service: entry.options.get(conf_container(service), DEFAULT_CONTAINERS[service])
        for service in SparkService
    }


class ContainerCoordinator(DataUpdateCoordinator[dict[SparkService, ContainerState]]):
    """Polls ``docker inspect`` for every configured service's container.

    A refused login starts Home Assistant's reauth flow; a changed host key
    raises a repair issue and stops all SSH use until the user accepts it.
    """

    config_entry: SparkAudioConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SparkAudioConfigEntry,
        docker: DockerOverSSH,
        containers: dict[SparkService, str],
    ) -> None:
        """Watch ``containers`` (service -> name) through ``docker``."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"Containers on {entry.runtime_data.host}",
            update_interval=CONTAINER_POLL,
        )
        self.docker = docker
        self.containers = containers

    async def _async_update_data(self) -> dict[SparkService, ContainerState]:
        try:
            return {
                service: await self.docker.inspect_state(name)
                for service, name in self.containers.items()
            }
        except SparkSSHAuthError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="ssh_auth_failed",
                translation_placeholders={"host": self.config_entry.runtime_data.host},
            ) from err
        except SparkSSHHostKeyError as err:
            async_raise_host_key_changed(self.hass, self.config_entry, err)
            raise self._failed(err) from err
        except (SparkSSHError, SparkInvalidNameError) as err:
            raise self._failed(err) from err

    def _failed(self, err: SparkError) -> UpdateFailed:
        """A translated poll failure (logged once by the base class, shown in diagnostics)."""
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key="containers_update_failed",
            translation_placeholders={
                "host": self.config_entry.runtime_data.host,
                "error": str(err) or type(err).__name__,
            },
        )
