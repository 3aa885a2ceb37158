"""Constants shared by the spark_audio integration."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from .spark import magpie, parakeet, whisperx

DOMAIN: Final = "spark_audio"


class SparkService(StrEnum):
    """The speech services a Spark can run; also the device and entity keys."""

    PARAKEET = "parakeet"
    MAGPIE = "magpie"
    WHISPERX = "whisperx"


SERVICE_NAMES: Final[dict[SparkService, str]] = {
    SparkService.PARAKEET: "Parakeet",
    SparkService.MAGPIE: "Magpie",
    SparkService.WHISPERX: "WhisperX",
}
SERVICE_DEFAULT_MODELS: Final[dict[SparkService, str]] = {
    SparkService.PARAKEET: "parakeet-tdt-0.6b-v3",
    SparkService.MAGPIE: "Magpie-Multilingual TTS NIM",
    SparkService.WHISPERX: "WhisperX",
}
SERVICE_MANUFACTURERS: Final[dict[SparkService, str]] = {
    SparkService.PARAKEET: "NVIDIA",
    SparkService.MAGPIE: "NVIDIA",
    SparkService.WHISPERX: "Spark Audio",
}
DEFAULT_PORTS: Final[dict[SparkService, int]] = {
    SparkService.PARAKEET: parakeet.DEFAULT_PORT,
    SparkService.MAGPIE: magpie.DEFAULT_PORT,
    SparkService.WHISPERX: whisperx.DEFAULT_PORT,
}
DEFAULT_ENABLED: Final[dict[SparkService, bool]] = {
    SparkService.PARAKEET: True,
    SparkService.MAGPIE: True,
    SparkService.WHISPERX: False,
}


def conf_enabled(service: SparkService) -> str:
    """Config key saying whether ``service`` is used."""
    return f"{service}_enabled"


def conf_port(service: SparkService) -> str:
    """Config key holding ``service``'s port."""
    return f"{service}_port"


# Config entry data
CONF_SSH: Final = "ssh"
CONF_SSH_USER: Final = "ssh_user"
CONF_SSH_PORT: Final = "ssh_port"
CONF_SSH_KEY: Final = "ssh_private_key"
CONF_SSH_PASSWORD: Final = "ssh_password"  # noqa: S105 (a config key, not a secret)
DEFAULT_SSH_PORT: Final = 22

# Options
CONF_DEFAULT_VOICE: Final = "default_voice"
CONF_STT_LANGUAGE: Final = "stt_language"
CONF_REQUEST_TIMEOUT: Final = "request_timeout"
CONF_SCAN_INTERVAL: Final = "scan_interval"
DEFAULT_VOICE: Final = "Magpie-Multilingual.EN-US.Mia"
DEFAULT_STT_LANGUAGE: Final = "en"
DEFAULT_REQUEST_TIMEOUT: Final = 60
DEFAULT_SCAN_INTERVAL: Final = 30

ATTR_VOICE: Final = "voice"
