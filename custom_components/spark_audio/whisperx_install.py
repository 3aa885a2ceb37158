"""Installing WhisperX on a Spark from Home Assistant: job start, state, and what follows.

The build runs detached on the Spark (`spark.installer.remote_build`) and each job has
its own SSH connection, so saving options or any other reload leaves a running
install alone. When HA stops, the jobs stop following (nothing on the Spark is
stopped); at the next setup of the entry, `async_resume_install` finds the
build the entry started and follows it to the end of the install.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path

from homeassistant.const import CONF_HOST, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util.hass_dict import HassKey

from .const import (
    CONF_HF_TOKEN,
    CONF_WHISPERX_API_KEY,
    CONF_WHISPERX_MODEL,
    DEFAULT_PORTS,
    DEFAULT_WHISPERX_MODEL,
    DOMAIN,
    SparkService,
    conf_enabled,
    conf_port,
)
from .containers import container_names
from .data import SparkAudioConfigEntry, signal_install
from .spark.clients.whisperx import HealthCheck, whisperx_health_check
from .spark.errors import InstallInProgressError, SparkError
from .spark.installer.build_context import read_context_version
from .spark.installer.config import InstallConfig, validate_hf_token
from .spark.installer.job import InstallJob, remote_base_dir
from .spark.installer.manager import InstallManager
from .spark.installer.progress import InstallUpdate, Phase
from .spark.installer.remote_build import BuildState, RemoteBuild
from .spark.remote.ssh import SparkSSH
from .ssh_access import ssh_from_entry

_LOGGER = logging.getLogger(__name__)
CONTEXT_DIR = Path(__file__).parent / "whisperx_container"
"""The build context ships inside the integration, so a HACS install carries it."""
_NOTIFY_EVERY_S = 1.0
INSTALL_MANAGER: HassKey[InstallManager] = HassKey(f"{DOMAIN}_install_manager")
INSTALL_STATE: HassKey[dict[str, EntryInstallState]] = HassKey(f"{DOMAIN}_install_state")


def bundled_context() -> Path:
    """The WhisperX build context of this copy of the integration (blocking: executor)."""
    if not (CONTEXT_DIR / "Dockerfile").is_file():
        raise FileNotFoundError(f"no WhisperX build context at {CONTEXT_DIR}")
    return CONTEXT_DIR


def bundled_version() -> str:
    """The version the bundled build context produces (blocking: executor)."""
    return read_context_version(bundled_context())


@dataclass
class EntryInstallState:
    """The install job of one Spark entry, surviving entry reloads."""

    job: InstallJob | None = None


@callback
def async_notify_install(hass: HomeAssistant, entry_id: str) -> None:
    """Tell the entry's install entities that its job changed."""
    async_dispatcher_send(hass, signal_install(entry_id))


def install_state(hass: HomeAssistant, entry_id: str) -> EntryInstallState:
    """The install state of an entry (created on first use)."""
    return hass.data.setdefault(INSTALL_STATE, {}).setdefault(entry_id, EntryInstallState())


def manager(hass: HomeAssistant) -> InstallManager:
    """The process-wide install manager (one install per Spark at a time).

    When HA stops it stops following the builds, which go on on the Sparks.
    """
    if INSTALL_MANAGER not in hass.data:
        installs = InstallManager(create_task=hass.async_create_background_task)
        hass.data[INSTALL_MANAGER] = installs

        async def stop_following(_: Event) -> None:
            await installs.shutdown()

        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, stop_following)
    return hass.data[INSTALL_MANAGER]


def whisperx_api_key(entry: SparkAudioConfigEntry) -> str:
    """The key the installed container will require.

    Made once per Spark (the first install) and kept for upgrades, so a failed
    or interrupted upgrade never leaves the entry and the running container
    with different keys. It is stored in the entry when the install succeeds.
    """
    key = entry.data.get(CONF_WHISPERX_API_KEY)
    return key if isinstance(key, str) and key else secrets.token_urlsafe(32)


@dataclass(frozen=True)
class _Install:
    """What a job for the entry is made of (for a new install and a taken-up one alike)."""

    config: InstallConfig
    context: Path
    health_check: HealthCheck
    port: int
    api_key: str


def _in_progress(job_id: str) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="install_in_progress",
        translation_placeholders={"job_id": job_id},
    )


async def _install_for(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> _Install:
    """The install config, context and health check from the entry (translated errors)."""
    context = await hass.async_add_executor_job(bundled_context)
    version = await hass.async_add_executor_job(read_context_version, context)
    port = int(
        entry.data.get(conf_port(SparkService.WHISPERX), DEFAULT_PORTS[SparkService.WHISPERX])
    )
    token = entry.options.get(CONF_HF_TOKEN)
    if token is not None:
        try:
            validate_hf_token(token)
        except ValueError as err:
            # Stored before the options flow checked tokens: ask for a new one.
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="invalid_hf_token"
            ) from err
    api_key = whisperx_api_key(entry)
    config = InstallConfig(
        container_name=container_names(entry)[SparkService.WHISPERX],
        image_tag=f"spark-audio/whisperx:{version}",
        host_port=port,
        model=entry.options.get(CONF_WHISPERX_MODEL, DEFAULT_WHISPERX_MODEL),
        hf_token=token,
        api_key=api_key,
    )
    check = whisperx_health_check(
        async_get_clientsession(hass), entry.data[CONF_HOST], port, require_diarizer=bool(token)
    )
    return _Install(config, context, check, port, api_key)


async def _remote_build(ssh: SparkSSH, config: InstallConfig) -> BuildState | None:
    """The build recorded on the Spark (running, or ended unreported), if any."""
    return await RemoteBuild(ssh, await remote_base_dir(ssh, config)).state()


async def async_start_install(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> InstallJob:
    """Start building and running WhisperX on the entry's Spark.

    Refused (translated) while an install runs on that Spark: from this HA,
    or a build another HA (or this one before a restart) left running there.
    """
    if entry.runtime_data.ssh is None or (ssh := ssh_from_entry(entry)) is None:
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="ssh_not_configured")
    if (running := manager(hass).active(entry.entry_id)) is not None:
        raise _in_progress(running.id)
    try:
        install = await _install_for(hass, entry)
        try:
            remote = await _remote_build(ssh, install.config)
        except SparkError as err:
            # The job reports an unreachable Spark itself, with its log.
            _LOGGER.debug("Cannot read the install state on %s: %s", ssh.host, err)
            remote = None
        if remote is not None and remote.running:
            raise _in_progress(remote.record.job_id if remote.record else "unknown")
        # The image tag is given, so creating the job only stats the Dockerfile.
        job = manager(hass).start(
            ssh,
            install.config,
            install.context,
            install.health_check,
            host_key=entry.entry_id,
            owns_ssh=True,
        )
    except InstallInProgressError as err:
        await ssh.close()
        raise _in_progress(err.job_id) from err
    except BaseException:
        await ssh.close()
        raise
    _watch(hass, entry.entry_id, job, install)
    return job


async def async_resume_install(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> None:
    """At setup: take up the build this entry started on its Spark before a restart.

    Finds it through the files the build keeps on the Spark; a build of
    another owner (another HA) is left alone. A job still running in this HA
    (the entry was only reloaded) needs nothing.
    """
    entry_ssh = entry.runtime_data.ssh
    if entry_ssh is None or manager(hass).active(entry.entry_id) is not None:
        return
    try:
        install = await _install_for(hass, entry)
        # The entry's connection asks; only a build to follow gets one of its own.
        remote = await _remote_build(entry_ssh, install.config)
        record = remote.record if remote is not None else None
        if record is None or record.owner != entry.entry_id:
            return
        config = replace(install.config, image_tag=record.image)
    except (SparkError, HomeAssistantError, OSError, ValueError) as err:
        _LOGGER.debug("No WhisperX install to take up on %s: %s", entry.data[CONF_HOST], err)
        return
    ssh = ssh_from_entry(entry)
    if ssh is None:
        return
    try:
        job = manager(hass).start(
            ssh,
            config,
            install.context,
            install.health_check,
            host_key=entry.entry_id,
            job_id=record.job_id,
            resume=True,
            owns_ssh=True,
        )
    except InstallInProgressError:
        await ssh.close()  # an install was started here meanwhile: it holds the Spark
        return
    _LOGGER.info("Following the WhisperX install still running on %s", entry.data[CONF_HOST])
    _watch(hass, entry.entry_id, job, install)


def _watch(hass: HomeAssistant, entry_id: str, job: InstallJob, install: _Install) -> None:
    """Show the job on the entry's entities; on its end, make WhisperX a managed service."""
    install_state(hass, entry_id).job = job
    last_notified = 0.0
    trailing: asyncio.TimerHandle | None = None

    @callback
    def notify() -> None:
        nonlocal last_notified, trailing
        if trailing is not None:
            trailing.cancel()
            trailing = None
        last_notified = time.monotonic()
        async_notify_install(hass, entry_id)

    @callback
    def on_update(update: InstallUpdate) -> None:
        # Builds print thousands of lines: refresh entities on phase changes and at
        # most once a second for log lines, not once per line. A burst's last lines
        # (a log read again after a restart) still show, a second later.
        nonlocal trailing
        wait = _NOTIFY_EVERY_S - (time.monotonic() - last_notified)
        if update.line is None or update.final or wait <= 0:
            notify()
        elif trailing is None:
            trailing = hass.loop.call_later(wait, notify)
        if update.final and not job.detached:
            _finished(hass, entry_id, update, install.port, install.api_key)

    job.add_listener(on_update)
    async_notify_install(hass, entry_id)


@callback
def _finished(
    hass: HomeAssistant, entry_id: str, update: InstallUpdate, port: int, api_key: str
) -> None:
    """On success, make WhisperX a managed service: the entry reloads with it enabled."""
    entry: SparkAudioConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None:
        return
    if update.phase is Phase.DONE:
        _LOGGER.info("WhisperX is installed on %s", entry.data[CONF_HOST])
        hass.config_entries.async_update_entry(
            entry,
            data={
                **entry.data,
                conf_enabled(SparkService.WHISPERX): True,
                conf_port(SparkService.WHISPERX): port,
                CONF_WHISPERX_API_KEY: api_key,
            },
        )
    else:
        _LOGGER.warning(
            "WhisperX install on %s ended %s: %s", entry.data[CONF_HOST], update.phase, update.error
        )
