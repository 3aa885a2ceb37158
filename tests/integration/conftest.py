"""Fixtures for tests that run the integration inside a real Home Assistant."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import PropertyMock, patch

import pytest
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.spark_audio.const import (
    DEFAULT_CONTAINERS,
    DOMAIN,
    SparkService,
    conf_enabled,
    conf_port,
)
from custom_components.spark_audio.identity import key_identity
from tests.integration.gateway_harness import Client
from tests.integration.long_audio import MINUTES_25, RATE, write_long_wav
from tests.spark_sim.audio import speak
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let HA load custom_components/spark_audio in every test here."""


def entry_data(sim: SparkSim, **overrides: Any) -> dict[str, Any]:
    """Config entry data pointing at ``sim``; every service it runs is enabled."""
    data: dict[str, Any] = {CONF_HOST: "127.0.0.1"}
    for service in SparkService:
        running = service.value in sim.ports
        data[conf_enabled(service)] = running
        data[conf_port(service)] = sim.ports.get(service.value, 1)
    data.update(overrides)
    return data


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """HA's snapshot serialiser in both test lanes (one lane would not pick it up)."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture(autouse=True)
def tts_cache_in_tmp(tmp_path: Path) -> Iterator[None]:
    """Keep HA's TTS file cache per test: a shared one would answer from old runs."""
    with patch("homeassistant.components.tts.DEFAULT_CACHE_DIR", str(tmp_path / "tts")):
        yield


# Secrets handed to the integration during the run; no log line may contain one.
SECRETS: set[str] = {"hunter2-secret"}


@pytest.fixture
def ssh_host(socket_enabled: None) -> Iterator[SSHTestHost]:
    """A real OpenSSH server on loopback with a stand-in ``docker`` on its PATH."""
    with SSHTestHost() as host:
        SECRETS.update(
            line
            for line in host.client_private_key.splitlines()
            if line and not line.startswith("-----")
        )
        SECRETS.add(host.password)
        yield host


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail any test during which a log line (or its traceback) carried a secret."""
    yield
    for record in caplog.get_records("call") + caplog.get_records("teardown"):
        text = record.getMessage() + (record.exc_text or "")
        if record.exc_info and record.exc_info[1] is not None:
            text += repr(record.exc_info[1])
        leaked = [s for s in SECRETS if s in text]
        assert not leaked, f"secret in log line from {record.name}: {record.getMessage()[:80]}"


def standin_containers(sim: SparkSim, **overrides: Any) -> dict[str, dict[str, Any]]:
    """The stand-in docker's containers: the default names, backed by ``sim``'s services."""
    containers = {
        DEFAULT_CONTAINERS[SparkService(name)]: {"state": "running", "control_url": url}
        for name, url in sim.urls.items()
    }
    for name, changes in overrides.items():
        containers[name].update(changes)
    return containers


@pytest.fixture
def ssh_entry(spark_sim: SparkSim, ssh_host: SSHTestHost) -> MockConfigEntry:
    """An entry for the simulated Spark with SSH to the loopback sshd, host key pinned."""
    ssh_host.write_containers(standin_containers(spark_sim))
    return MockConfigEntry(
        domain=DOMAIN,
        title="127.0.0.1",
        unique_id=key_identity(ssh_host.host_public_key),
        minor_version=2,
        data=entry_data(
            spark_sim,
            ssh_user=ssh_host.username,
            ssh_port=ssh_host.port,
            ssh_private_key=ssh_host.client_private_key,
            ssh_host_key=ssh_host.host_public_key,
        ),
        entry_id="01SPARKENTRY",
    )


@pytest.fixture
def mock_config_entry(spark_sim: SparkSim) -> MockConfigEntry:
    """An entry for the simulated Spark, not yet added to HA."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="127.0.0.1",
        unique_id="127.0.0.1",
        minor_version=2,
        data=entry_data(spark_sim),
        entry_id="01SPARKENTRY",
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> AsyncIterator[MockConfigEntry]:
    """The entry, set up and loaded; unloaded again after the test."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    yield mock_config_entry
    if mock_config_entry.state.recoverable:
        await hass.config_entries.async_unload(mock_config_entry.entry_id)
        await hass.async_block_till_done()


@pytest.fixture
def all_entities_enabled() -> Iterator[None]:
    """Enable entities that start disabled (container switches, restart counters...)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary directory of this test's own, so leftovers are visible exactly."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
async def without_whisperx(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> AsyncIterator[MockConfigEntry]:
    """The simulated Spark loaded without WhisperX: the Parakeet + Sortformer fallback."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, data={**mock_config_entry.data, "whisperx_enabled": False}
    )
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    yield mock_config_entry
    await hass.config_entries.async_unload(mock_config_entry.entry_id)


@pytest.fixture
async def gateway(
    hass: HomeAssistant,
    aiohttp_client: ClientSessionGenerator,
    hass_access_token: str,
    socket_enabled: None,
    spool: Path,
    init_integration: MockConfigEntry,
) -> Client:
    """HA's HTTP app served with ``handler_cancellation=True``, as HA serves it."""
    client: Client = await aiohttp_client(
        hass.http.app,
        server_kwargs={"handler_cancellation": True},
        headers={"Authorization": f"Bearer {hass_access_token}"},
    )
    return client


@pytest.fixture
async def media_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A local media folder HA may read and write (the transcribe action's files)."""
    folder = tmp_path / "media"
    await hass.async_add_executor_job(folder.mkdir)
    hass.config.media_dirs = {"local": str(folder)}
    hass.config.allowlist_external_dirs = {str(folder)}
    return folder


@pytest.fixture
async def recording(hass: HomeAssistant, media_dir: Path) -> Path:
    """25 minutes of speech in the media folder: three units (10, 10 and 5 minutes)."""
    clip = await speak("good morning everyone", "en-US", RATE)
    target = media_dir / "meeting.wav"
    await hass.async_add_executor_job(write_long_wav, target, clip, MINUTES_25)
    return target
