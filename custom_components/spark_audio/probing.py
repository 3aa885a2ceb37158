"""Wiring between a config entry and the HA-free probes, SSH and Docker helpers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant

from .const import (
    CONF_DEFAULT_VOICE,
    CONF_SSH_HOST_KEY,
    CONF_SSH_KEY,
    CONF_SSH_PASSWORD,
    CONF_SSH_PORT,
    CONF_SSH_USER,
    DEFAULT_CONTAINERS,
    DEFAULT_SSH_PORT,
    DEFAULT_VOICE,
    SparkService,
    conf_container,
)
from .coordinator import SparkServiceCoordinator
from .data import SparkAudioConfigEntry
from .deep_check import Probe, RoundTripCoordinator
from .spark import MagpieClient
from .spark.probes import (
    ProbeResult,
    RoundTripResult,
    probe_synthesis,
    probe_transcription,
    round_trip,
)
from .spark.ssh import SparkSSH
from .spark.ssh_login import SSHCredentials
from .spark.transcription import OpenAITranscriptionClient


def container_names(entry: SparkAudioConfigEntry) -> dict[SparkService, str]:
    """Each service's Docker container name, from the options or the defaults."""
    return {
        service: entry.options.get(conf_container(service), DEFAULT_CONTAINERS[service])
        for service in SparkService
    }


def ssh_from_entry(entry: SparkAudioConfigEntry) -> SparkSSH | None:
    """SSH access to the Spark, when SSH is configured and its host key pinned."""
    data = entry.data
    if not data.get(CONF_SSH_USER) or not data.get(CONF_SSH_HOST_KEY):
        return None
    return ssh_client(data, data[CONF_SSH_HOST_KEY])


def ssh_client(data: Mapping[str, Any], host_key: str) -> SparkSSH:
    """An SSH client for the host and credentials in ``data``, trusting only ``host_key``."""
    credentials = SSHCredentials(
        username=data[CONF_SSH_USER],
        private_key=data.get(CONF_SSH_KEY),
        password=data.get(CONF_SSH_PASSWORD),
        port=int(data.get(CONF_SSH_PORT, DEFAULT_SSH_PORT)),
    )
    return SparkSSH(data[CONF_HOST], credentials, pinned_host_key=host_key)


def probe_voice(entry: SparkAudioConfigEntry, magpie: SparkServiceCoordinator[MagpieClient]) -> str:
    """The configured default voice if Magpie offers it, else its first voice."""
    wanted = entry.options.get(CONF_DEFAULT_VOICE, DEFAULT_VOICE)
    catalog = magpie.data.voices if magpie.data else None
    if catalog is None or not catalog.voices or catalog.get(wanted) is not None:
        return str(wanted)
    return catalog.voices[0].name


def make_probes(entry: SparkAudioConfigEntry, clip: bytes) -> dict[SparkService, Probe]:
    """Each service's deep probe: real inference, small input."""
    data = entry.runtime_data
    probes: dict[SparkService, Probe] = {}
    if (magpie := data.magpie) is not None:
        probes[magpie.service] = _synthesis_probe(entry, magpie)
    for stt in (data.parakeet, data.whisperx):
        if stt is not None:
            probes[stt.service] = _transcription_probe(stt.client, clip)
    return probes


def _synthesis_probe(
    entry: SparkAudioConfigEntry, magpie: SparkServiceCoordinator[MagpieClient]
) -> Probe:
    async def probe() -> ProbeResult:
        return await probe_synthesis(magpie.client, voice=probe_voice(entry, magpie))

    return probe


def _transcription_probe(client: OpenAITranscriptionClient, clip: bytes) -> Probe:
    async def probe() -> ProbeResult:
        return await probe_transcription(client, clip)

    return probe


def make_round_trip(
    hass: HomeAssistant, entry: SparkAudioConfigEntry
) -> RoundTripCoordinator | None:
    """Magpie -> Parakeet round trip, when the Spark runs both."""
    data = entry.runtime_data
    magpie, parakeet = data.magpie, data.parakeet
    if magpie is None or parakeet is None:
        return None

    async def run() -> RoundTripResult:
        return await round_trip(magpie.client, parakeet.client, voice=probe_voice(entry, magpie))

    return RoundTripCoordinator(hass, entry, run)
