"""WhisperX's "Verify on the GPU": the container's ``app.verify`` over a real sshd, report kept.

Faked, and why: no Docker engine or GPU runs here, so the sshd's PATH starts
with a stand-in ``docker`` (tests/ssh_host/docker_standin.py) whose ``exec NAME
python -m app.verify --json`` prints the canned report each test writes (the
command itself is tested in whisperx_container/app_tests and the engine lane).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from homeassistant.auth.models import User
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, Unauthorized
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.spark_audio.const import DOMAIN, SparkService
from custom_components.spark_audio.data import async_entry_device
from custom_components.spark_audio.spark.errors import SparkInvalidNameError
from custom_components.spark_audio.spark.remote.whisperx_verify import MAX_DETAIL_CHARS
from custom_components.spark_audio.whisperx_verify import verify_state
from tests.integration.conftest import standin_containers
from tests.integration.test_translations import untranslated_attributes
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost

BUTTON = "button.127_0_0_1_whisperx_verify_on_the_gpu"
VERIFY_CALL = ["docker", "exec", "whisperx-asr", "python", "-m", "app.verify", "--json"]


def report(**statuses: str) -> dict[str, Any]:
    """A report as ``app.verify --json`` prints it; every check passes unless told."""
    names = (
        "cuda_kernels",
        "transcribe_float16",
        "transcribe_int8_float16",
        "alignment",
        "diarization",
        "torchcodec",
    )
    checks = [
        {
            "name": name,
            "status": statuses.get(name, "passed"),
            "detail": f"{name} saw this",
            "seconds": 1.25,
        }
        for name in names
    ]
    return {
        "passed": all(c["status"] != "failed" for c in checks),
        "version": "0.3.0",
        "model": "medium",
        "device": "cuda",
        "checks": checks,
    }


def canned(ssh_host: SSHTestHost, body: dict[str, Any] | str, exit_status: int) -> None:
    """What the stand-in's ``docker exec ... app.verify --json`` prints and exits with."""
    stdout = body if isinstance(body, str) else "loading...\n" + json.dumps(body) + "\n"
    ssh_host.set_standin(verify={"stdout": stdout, "stderr": "", "exit": exit_status})


@pytest.fixture(autouse=True)
async def unload_entries(hass: HomeAssistant) -> Any:
    """Unload what a test set up while the simulator and sshd still run."""
    yield
    await hass.async_block_till_done(wait_background_tasks=True)
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


async def press(hass: HomeAssistant, context: Context | None = None) -> None:
    await hass.services.async_call(
        "button", "press", {"entity_id": BUTTON}, blocking=True, context=context
    )


def attributes(hass: HomeAssistant) -> dict[str, Any]:
    state = hass.states.get(BUTTON)
    assert state is not None
    return dict(state.attributes)


async def test_a_passing_report_is_kept_and_shown(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
) -> None:
    """The press runs the command in the WhisperX container; the report lands everywhere."""
    canned(ssh_host, report(diarization="skipped"), 0)
    await setup(hass, ssh_entry)
    entity = er.async_get(hass).async_get(BUTTON)
    assert entity is not None
    assert entity.entity_category == "diagnostic"
    assert attributes(hass)["running"] is False
    assert "passed" not in attributes(hass)

    await press(hass)

    assert ssh_host.docker_calls().count(VERIFY_CALL) == 1
    shown = attributes(hass)
    assert shown["passed"] is True
    assert shown["failed_checks"] == []
    assert shown["checks"]["diarization"] == "skipped"
    assert shown["checks"]["cuda_kernels"] == "passed"
    assert shown["report"].splitlines()[1] == "PASSED cuda_kernels (1.2 s): cuda_kernels saw this"
    assert shown["last_verified"]

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, ssh_entry)
    stored = diagnostics["whisperx_verify"]["last_report"]
    assert stored["passed"] is True
    assert stored["device"] == "cuda"
    assert [c["name"] for c in stored["checks"]][:2] == ["cuda_kernels", "transcribe_float16"]
    device = async_entry_device(
        hass, ssh_entry.entry_id, (DOMAIN, f"{ssh_entry.entry_id}_whisperx")
    )
    assert device is not None
    on_device = await get_diagnostics_for_device(hass, hass_client, ssh_entry, device)
    assert on_device["whisperx_verify"] == diagnostics["whisperx_verify"]


async def test_a_failed_check_is_kept_and_raised(
    hass: HomeAssistant, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """Exit 1 with a report: stored, then a translated error naming the failed checks."""
    canned(ssh_host, report(transcribe_int8_float16="failed", torchcodec="failed"), 1)
    await setup(hass, ssh_entry)
    with pytest.raises(HomeAssistantError) as err:
        await press(hass)
    assert err.value.translation_key == "whisperx_verify_failed"
    assert err.value.translation_placeholders == {"checks": "transcribe_int8_float16, torchcodec"}
    shown = attributes(hass)
    assert shown["passed"] is False
    assert shown["failed_checks"] == ["transcribe_int8_float16", "torchcodec"]
    assert shown["running"] is False
    assert untranslated_attributes(hass) == {}


@pytest.mark.parametrize(
    ("container", "verify", "status", "says"),
    [
        # An image from before the command existed.
        ({"state": "running"}, None, "1", "No module named app.verify"),
        ({"state": "exited"}, "report", "1", "is not running"),
        ({"state": "running"}, "not json", "1", "printed no report"),
        ({"state": "running"}, "config", "2", "Invalid configuration"),
    ],
)
async def test_no_report_is_a_translated_error(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
    container: dict[str, Any],
    verify: str | None,
    status: str,
    says: str,
) -> None:
    """Whatever keeps a report from coming back is named, and no old report is replaced."""
    await setup(hass, ssh_entry)
    canned(ssh_host, report(), 0)
    await press(hass)
    first = attributes(hass)["last_verified"]
    ssh_host.write_containers(standin_containers(spark_sim, **{"whisperx-asr": container}))
    if verify is None:
        ssh_host.set_standin(verify=None)
    elif verify == "config":
        ssh_host.set_standin(
            verify={"stdout": "", "stderr": "Invalid configuration: WHISPERX_MODEL", "exit": 2}
        )
    elif verify == "not json":
        canned(ssh_host, "Traceback (most recent call last):\n", 1)
    with pytest.raises(HomeAssistantError) as err:
        await press(hass)
    assert err.value.translation_key == "whisperx_verify_no_report"
    placeholders = err.value.translation_placeholders
    assert placeholders is not None
    assert placeholders["container"] == "whisperx-asr"
    assert placeholders["status"] == status
    assert says in placeholders["error"]
    assert attributes(hass)["last_verified"] == first
    assert attributes(hass)["running"] is False


async def test_the_report_is_bounded(
    hass: HomeAssistant, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """Long details are cut, and an output past the cap is refused rather than stored."""
    body = report()
    body["checks"][0]["detail"] = "x" * 5000
    canned(ssh_host, body, 0)
    await setup(hass, ssh_entry)
    await press(hass)
    stored = verify_state(hass, ssh_entry.entry_id).report
    assert stored is not None
    assert len(stored.checks[0].detail) == MAX_DETAIL_CHARS

    body["checks"] = [{**body["checks"][1], "detail": "y" * 400}] * 400
    canned(ssh_host, body, 0)
    with pytest.raises(HomeAssistantError) as err:
        await press(hass)
    assert err.value.translation_key == "whisperx_verify_no_report"
    assert verify_state(hass, ssh_entry.entry_id).report is stored


async def test_the_configured_container_is_used(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """A renamed WhisperX container (options) is the one verified."""
    containers = standin_containers(spark_sim)
    containers["whisperx_asr.1"] = containers.pop("whisperx-asr")
    ssh_host.write_containers(containers)
    ssh_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        ssh_entry, options={**ssh_entry.options, "whisperx_container": "whisperx_asr.1"}
    )
    canned(ssh_host, report(), 0)
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await press(hass)
    assert ["docker", "exec", "whisperx_asr.1", *VERIFY_CALL[3:]] in ssh_host.docker_calls()


async def test_one_verification_at_a_time(
    hass: HomeAssistant, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """A second press while one runs is refused (it would load a third model copy)."""
    canned(ssh_host, report(), 0)
    await setup(hass, ssh_entry)
    verify_state(hass, ssh_entry.entry_id).running = True
    with pytest.raises(HomeAssistantError) as err:
        await press(hass)
    assert err.value.translation_key == "whisperx_verify_busy"
    assert VERIFY_CALL not in ssh_host.docker_calls()


async def test_only_administrators_verify(
    hass: HomeAssistant,
    hass_read_only_user: User,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
) -> None:
    """It loads models on the Spark's GPU: a non-administrator's press is refused."""
    canned(ssh_host, report(), 0)
    await setup(hass, ssh_entry)
    with pytest.raises(Unauthorized):
        await press(hass, Context(user_id=hass_read_only_user.id))
    assert VERIFY_CALL not in ssh_host.docker_calls()


async def test_no_button_without_ssh(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Without SSH there is nothing to run the command with: no button."""
    await setup(hass, mock_config_entry)
    assert hass.states.get(BUTTON) is None
    assert SparkService.WHISPERX in mock_config_entry.runtime_data.deep


async def test_exec_refuses_a_name_that_is_not_a_container_name(
    hass: HomeAssistant, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """``docker exec`` validates the name before any SSH traffic: no shell syntax reaches sshd."""
    await setup(hass, ssh_entry)
    docker = ssh_entry.runtime_data.docker
    assert docker is not None
    calls = len(ssh_host.docker_calls())
    with pytest.raises(SparkInvalidNameError):
        await docker.exec("$(reboot)", "python", "-m", "app.verify", "--json")
    assert len(ssh_host.docker_calls()) == calls
