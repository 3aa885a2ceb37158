"""Each kind of Spark error reaches the user as its own translated message.

Entity actions go through `entity.translate_errors`; these tests press the real
container switch of a real entry (real sshd on loopback, stand-in docker).
"""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.update_coordinator import UpdateFailed
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN, SparkService
from custom_components.spark_audio.entity import ERROR_TRANSLATIONS
from custom_components.spark_audio.spark import errors
from custom_components.spark_audio.spark.remote.docker import DockerOverSSH
from tests.integration.conftest import standin_containers
from tests.integration.test_translations import EN
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost

SWITCH = "switch.127_0_0_1_parakeet_container_running"

# Every class of spark/errors.py, most specific first, and the message users must see.
TABLE: list[tuple[errors.SparkError, str]] = [
    (errors.SparkInvalidNameError("bad name"), "invalid_container_name"),
    (
        errors.SparkSSHHostKeyError(
            "key changed", expected_fingerprint="a", actual_fingerprint="b"
        ),
        "ssh_host_key_changed",
    ),
    (errors.SparkSSHAuthError("denied"), "ssh_login_refused"),
    (errors.SparkSSHTimeoutError("slow"), "ssh_timeout"),
    (errors.SparkSSHConnectionError("refused"), "ssh_unreachable"),
    (errors.SparkSSHCommandError("exit 1", exit_status=1, stderr="x"), "ssh_command_failed"),
    (errors.SparkSSHError("ssh broke"), "ssh_error"),
    (errors.SparkTimeoutError("late"), "spark_timeout"),
    (errors.SparkBackendFaultError("500", status=500), "spark_fault"),
    (errors.SparkResponseError("garbled", status=200), "spark_bad_response"),
    (errors.SparkConnectionError("reset"), "spark_connection_failed"),
    (errors.ServiceNotReadyError("loading"), "spark_not_ready"),
    (errors.InstallInProgressError("busy", job_id="j1"), "install_busy"),
    (errors.InstallError("no NVIDIA runtime"), "install_failed"),
    (errors.SparkError("other"), "spark_error"),
]


pytestmark = pytest.mark.usefixtures("all_entities_enabled")


@pytest.fixture
async def loaded(hass: HomeAssistant, ssh_entry: MockConfigEntry) -> Any:
    """The SSH entry set up, and unloaded while sshd still runs."""
    ssh_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    yield ssh_entry
    await hass.async_block_till_done(wait_background_tasks=True)
    if ssh_entry.state is ConfigEntryState.LOADED:
        await hass.config_entries.async_unload(ssh_entry.entry_id)
    await hass.async_block_till_done()


async def turn_on_error(hass: HomeAssistant) -> HomeAssistantError:
    with pytest.raises(HomeAssistantError) as caught:
        await hass.services.async_call("switch", "turn_on", {"entity_id": SWITCH}, blocking=True)
    return caught.value


def test_table_covers_every_error_class() -> None:
    """A new class in errors.py needs its own row, and every key its English text."""
    classes = {
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.SparkError)
    }
    assert {kind for kind, _ in ERROR_TRANSLATIONS} == classes
    assert {type(err) for err, _ in TABLE} == classes
    assert {key for _, key in ERROR_TRANSLATIONS} <= set(EN["exceptions"])


@pytest.mark.parametrize(("error", "key"), TABLE, ids=[k for _, k in TABLE])
async def test_error_kind_translated(
    hass: HomeAssistant, loaded: MockConfigEntry, error: errors.SparkError, key: str
) -> None:
    """Each error class maps to its own key, with the error in the placeholders.

    Faked, and why: `docker start` is made to raise each class directly, since
    most of them (an HTTP fault, a timeout) cannot come from a real docker start.
    The cases a real sshd can produce are tested below without fakes.
    """
    with patch.object(DockerOverSSH, "start", side_effect=error):
        err = await turn_on_error(hass)
    assert err.translation_domain == DOMAIN
    assert err.translation_key == key
    assert err.translation_placeholders == {"error": str(error)}
    assert str(error) in str(err)


async def test_missing_container_is_a_command_failure(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost, loaded: MockConfigEntry
) -> None:
    """Docker's own "No such container" comes back as a failed command, not a name error."""
    containers = standin_containers(spark_sim)
    del containers["parakeet"]
    ssh_host.write_containers(containers)
    err = await turn_on_error(hass)
    assert err.translation_key == "ssh_command_failed"
    assert "No such container" in str(err)


async def test_unreachable_sshd(
    hass: HomeAssistant, ssh_host: SSHTestHost, loaded: MockConfigEntry
) -> None:
    """sshd gone: the user reads that the Spark cannot be reached over SSH."""
    ssh_host.stop()
    ssh_host.drop_connections()
    err = await turn_on_error(hass)
    assert err.translation_key in {"ssh_unreachable", "ssh_timeout"}


async def test_changed_host_key(
    hass: HomeAssistant, ssh_host: SSHTestHost, loaded: MockConfigEntry
) -> None:
    """A new host key is refused, and the message says to confirm it in Repairs."""
    ssh_host.rotate_host_key()
    ssh_host.drop_connections()
    err = await turn_on_error(hass)
    assert err.translation_key == "ssh_host_key_changed"
    assert "Repairs" in str(err)


async def test_failed_polls_translated(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost, loaded: MockConfigEntry
) -> None:
    """A failed health or container poll carries a translated message naming what failed."""
    health = loaded.runtime_data.coordinators[SparkService.PARAKEET]
    await spark_sim.stop_service("parakeet")
    await health.async_refresh()
    assert isinstance(health.last_exception, UpdateFailed)
    assert health.last_exception.translation_key == "update_failed"
    assert str(health.last_exception).startswith("Parakeet did not answer its health check: ")

    containers = loaded.runtime_data.containers
    assert containers is not None
    ssh_host.stop()
    ssh_host.drop_connections()
    await containers.async_refresh()
    assert isinstance(containers.last_exception, UpdateFailed)
    assert containers.last_exception.translation_key == "containers_update_failed"
    assert str(containers.last_exception).startswith("Could not read the container states on ")
