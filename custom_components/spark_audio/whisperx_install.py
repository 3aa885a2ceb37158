"""Installing WhisperX on a Spark from Home Assistant: job start, state, and what follows."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
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
from .data import SparkAudioConfigEntry, signal_install
from .probing import container_names
from .spark.buildcontext import read_context_version
from .spark.errors import InstallInProgressError
from .spark.install_config import InstallConfig, validate_hf_token
from .spark.install_manager import InstallManager
from .spark.install_progress import InstallUpdate, Phase
from .spark.installer import InstallJob
from .spark.whisperx import whisperx_health_check

_LOGGER = logging.getLogger(__name__)
CONTEXT_DIR = Path(__file__).parent / "whisperx_container"
"""The build context ships inside the integration, so a HACS install carries it."""
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
    """The process-wide install manager (one install per Spark at a time)."""
    if INSTALL_MANAGER not in hass.data:
        hass.data[INSTALL_MANAGER] = InstallManager(create_task=hass.async_create_background_task)
    return hass.data[INSTALL_MANAGER]


def whisperx_api_key(entry: SparkAudioConfigEntry) -> str:
    """The key the installed container will require.

    Made once per Spark (the first install) and kept for upgrades, so a failed
    or interrupted upgrade never leaves the entry and the running container
    with different keys. It is stored in the entry when the install succeeds.
    """
    key = entry.data.get(CONF_WHISPERX_API_KEY)
    return key if isinstance(key, str) and key else secrets.token_urlsafe(32)


def whisperx_issue_id(entry_id: str) -> str:
    """Repair issue offering the install."""
    return f"whisperx_not_installed_{entry_id}"


@callback
def async_update_install_issue(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> None:
    """Offer the install (a fixable repair) when SSH is set and WhisperX is not used."""
    if entry.runtime_data.ssh is not None and not entry.data.get(
        conf_enabled(SparkService.WHISPERX)
    ):
        ir.async_create_issue(
            hass,
            DOMAIN,
            whisperx_issue_id(entry.entry_id),
            is_fixable=True,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="whisperx_not_installed",
            translation_placeholders={"host": entry.data[CONF_HOST]},
            data={"entry_id": entry.entry_id, "kind": "install_whisperx"},
        )
    else:
        ir.async_delete_issue(hass, DOMAIN, whisperx_issue_id(entry.entry_id))


async def async_start_install(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> InstallJob:
    """Start building and running WhisperX on the entry's Spark."""
    data = entry.runtime_data
    if data.ssh is None:
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="ssh_not_configured")
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
    try:
        # The image tag is given, so creating the job only stats the Dockerfile.
        job = manager(hass).start(data.ssh, config, context, check, host_key=entry.entry_id)
    except InstallInProgressError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="install_in_progress",
            translation_placeholders={"job_id": err.job_id},
        ) from err
    state = install_state(hass, entry.entry_id)
    state.job = job
    entry_id = entry.entry_id
    last_notified = 0.0

    @callback
    def on_update(update: InstallUpdate) -> None:
        # Builds print thousands of lines: refresh entities on phase changes and at
        # most once a second for log lines, not once per line.
        nonlocal last_notified
        now = time.monotonic()
        if update.line is None or update.final or now - last_notified >= 1.0:
            last_notified = now
            async_notify_install(hass, entry_id)
        if update.final:
            _finished(hass, entry_id, update, port, api_key)

    job.add_listener(on_update)
    async_notify_install(hass, entry_id)
    return job


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
        ir.async_delete_issue(hass, DOMAIN, whisperx_issue_id(entry_id))
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
