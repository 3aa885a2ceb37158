"""The spark_audio integration: speech services on NVIDIA DGX Spark boxes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from homeassistant.const import CONF_HOST, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from .brand_fallback import async_serve_fallback_icon
from .const import (
    CONF_RESTART_MAX_PER_HOUR,
    CONF_RESTART_MIN_SPACING,
    DEFAULT_RESTART_MAX_PER_HOUR,
    DEFAULT_RESTART_MIN_SPACING,
    DOMAIN,
    SERVICE_DEFAULT_MODELS,
    SERVICE_MANUFACTURERS,
)
from .containers import ContainerCoordinator, container_names
from .coordinator import SparkServiceCoordinator, add_coordinators
from .data import SparkAudioConfigEntry, SparkAudioData
from .deep_check import DeepCheckCoordinator, make_probes, make_round_trip
from .entity import service_device_name, spark_name
from .gateway import async_register_views
from .identity import async_migrate_unique_id
from .install_views import async_register_install_views
from .provided import async_remove_stale_entities
from .recovery import ServiceRecovery, ssh_missing_issue_id
from .restart_history import RestartHistoryStore
from .restart_policy import RestartPolicy
from .services import async_register_services
from .spark.clients.probes import load_probe_clip
from .spark.remote.docker import DockerOverSSH
from .ssh_access import ssh_from_entry
from .transcription.jobs import JOBS_KEY, TranscriptionJobs
from .voiceprint_store import VOICEPRINTS_KEY, VoiceprintStore
from .whisperx_gpu import async_follow_whisperx_device
from .whisperx_install import async_resume_install

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.SENSOR,
    Platform.STT,
    Platform.SWITCH,
    Platform.TTS,
    Platform.UPDATE,
]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions and HTTP views once per HA start."""
    hass.data[JOBS_KEY] = jobs = TranscriptionJobs(hass)
    await jobs.async_load()
    hass.data[VOICEPRINTS_KEY] = voiceprints = VoiceprintStore(hass)
    await voiceprints.async_load()
    voiceprints.async_follow_persons(hass)  # for as long as HA runs, like the actions
    async_register_services(hass)
    async_register_views(hass)
    async_register_install_views(hass)
    await async_serve_fallback_icon(hass)
    return True


async def async_migrate_entry(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> bool:
    """Bring older entries up to date; False (not set up) for a version from the future."""
    if entry.version > 1:
        return False
    if entry.minor_version < 2:
        await async_migrate_unique_id(hass, entry)  # keyed on the Spark, not the host typed
    return True


async def async_setup_entry(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> bool:
    """Connect to the Spark's services; not ready while none of them answers."""
    host: str = entry.data[CONF_HOST]
    session = async_get_clientsession(hass)
    data = SparkAudioData(host=host, applied=_applied(entry))
    entry.runtime_data = data
    add_coordinators(hass, entry, session)
    async_follow_whisperx_device(hass, entry, data.whisperx)

    coordinators = list(data.coordinators.values())
    await asyncio.gather(*(c.async_refresh() for c in coordinators))
    if not any(c.last_update_success for c in coordinators):
        errors = "; ".join(str(c.last_exception) for c in coordinators)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="spark_unreachable",
            translation_placeholders={"host": host, "error": errors},
        )
    data.ssh = ssh_from_entry(entry)
    _register_devices(hass, entry, coordinators)

    if data.ssh is not None:
        data.docker = DockerOverSSH(data.ssh)
        ir.async_delete_issue(hass, DOMAIN, ssh_missing_issue_id(entry.entry_id))
        entry.async_on_unload(data.ssh.close)
        data.containers = ContainerCoordinator(hass, entry, data.docker, container_names(entry))
        await data.containers.async_refresh()

    clip = await hass.async_add_executor_job(load_probe_clip)
    names = container_names(entry)
    history = RestartHistoryStore(hass, entry.entry_id)
    stored = await history.async_load()
    probes = make_probes(entry, clip)
    for service, health in data.coordinators.items():
        deep = DeepCheckCoordinator(hass, entry, health, probes[service])
        data.deep[service] = deep
        data.recovery[service] = ServiceRecovery(
            hass,
            entry,
            deep,
            names[service],
            data.docker,
            RestartPolicy(
                min_spacing=timedelta(
                    minutes=entry.options.get(CONF_RESTART_MIN_SPACING, DEFAULT_RESTART_MIN_SPACING)
                ),
                max_per_hour=int(
                    entry.options.get(CONF_RESTART_MAX_PER_HOUR, DEFAULT_RESTART_MAX_PER_HOUR)
                ),
                history=stored[service],
            ),
            history,
        )
    data.round_trip = make_round_trip(hass, entry)

    # A WhisperX build this entry started before an HA restart goes on on the Spark: follow it.
    entry.async_create_background_task(
        hass, async_resume_install(hass, entry), "spark_audio whisperx install take-up"
    )
    entry.async_on_unload(entry.add_update_listener(_async_apply_update))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    async_remove_stale_entities(hass, entry)
    # First deep checks run in the background: they must not hold up HA's start.
    for deep in data.deep.values():
        entry.async_create_background_task(
            hass, deep.async_refresh(), f"spark_audio first deep check {deep.service}"
        )
    if data.round_trip is not None:
        entry.async_create_background_task(
            hass, data.round_trip.async_refresh(), "spark_audio first round trip"
        )
    # Background jobs a restart brought back wait for their Spark; once it is loaded they start.
    hass.loop.call_soon(hass.data[JOBS_KEY].async_spark_ready, entry.entry_id)
    return True


def _register_devices(
    hass: HomeAssistant,
    entry: SparkAudioConfigEntry,
    coordinators: list[SparkServiceCoordinator],
) -> None:
    """The Spark's hub device and one service device under it per service.

    Names carry the Spark's name (the entry title) so two Sparks never
    collide; a renamed entry renames its devices (the update listener calls this again).
    Devices of services turned off are dropped.
    """
    registry = dr.async_get(hass)
    hub = registry.async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, entry.entry_id)},
        name=spark_name(entry),
        manufacturer="NVIDIA",
        model="DGX Spark",
    )
    for coordinator in coordinators:
        service = coordinator.service
        health = coordinator.data.health if coordinator.data else None
        # via_device_id through an update: async_get_or_create's via_device is deprecated from
        # HA 2026 and its via_device_id does not exist in 2025.4.
        device = registry.async_get_or_create(
            config_entry_id=entry.entry_id,
            identifiers={coordinator.device_identifier},
            name=service_device_name(entry, service),
            manufacturer=SERVICE_MANUFACTURERS[service],
            model=(health and health.model) or SERVICE_DEFAULT_MODELS[service],
            sw_version=health.version if health else None,
            entry_type=dr.DeviceEntryType.SERVICE,
            configuration_url=coordinator.client.base_url,
        )
        if device.via_device_id != hub.id:
            registry.async_update_device(device.id, via_device_id=hub.id)
    current = {c.device_identifier for c in coordinators} | {(DOMAIN, entry.entry_id)}
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        if not device.identifiers & current:
            registry.async_update_device(device.id, remove_config_entry_id=entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> bool:
    """Unload the platforms; the SSH connection closes through async_on_unload."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> None:
    """Delete the entry's stored restart history and its repair issues with it."""
    await RestartHistoryStore(hass, entry.entry_id).async_remove()
    for domain, issue_id in list(ir.async_get(hass).issues):
        if domain == DOMAIN and entry.entry_id in issue_id:  # every issue id names its entry
            ir.async_delete_issue(hass, DOMAIN, issue_id)


def _applied(entry: SparkAudioConfigEntry) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a setup is made from: the entry's data and options (copies, compared later)."""
    return dict(entry.data), dict(entry.options)


async def _async_apply_update(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> None:
    """Apply an entry change: reload once for new data or options, rename for a new title.

    HA calls this on every change of the entry. A reload ends whatever the entry runs (probes,
    SSH), so it happens only when the setup depends on what changed: options, or the host,
    ports, services and SSH credentials (reconfigure, reauth, a confirmed host key). A new
    title only renames the Spark's devices, which are named after it.
    ``OptionsFlowWithReload`` would reload on options from HA 2025.8 on; this listener does the
    same on every supported release, and nothing else reloads on those changes.
    """
    data = entry.runtime_data
    if data.applied != _applied(entry):
        await hass.config_entries.async_reload(entry.entry_id)
        return
    _register_devices(hass, entry, list(data.coordinators.values()))
