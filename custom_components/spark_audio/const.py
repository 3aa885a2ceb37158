"""Constants shared by the spark_audio integration."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from .spark.clients import magpie, parakeet, whisperx

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
CONF_STT_LANGUAGE: Final = "stt_language"  # Parakeet's (the key predates WhisperX's)
CONF_WHISPERX_STT_LANGUAGE: Final = "whisperx_stt_language"
CONF_REQUEST_TIMEOUT: Final = "request_timeout"
DEFAULT_VOICE: Final = "Magpie-Multilingual.EN-US.Mia"
DEFAULT_STT_LANGUAGE: Final = "en"
# Send the names Assist knows (exposed entities, areas, floors) as Whisper's prompt.
CONF_STT_VOCABULARY: Final = "stt_vocabulary"
DEFAULT_STT_VOCABULARY: Final = True
# Keep the audio of the last few Assist commands per STT entity, in memory only, so a
# person can be enrolled from them (opt-in: people's voice commands are sensitive).
CONF_KEEP_VOICE_COMMANDS: Final = "keep_voice_commands"
DEFAULT_KEEP_VOICE_COMMANDS: Final = False
DEFAULT_REQUEST_TIMEOUT: Final = 60
# Health poll of each service, in seconds: fixed (core's appropriate-polling rule);
# a "scan_interval" left in old entries' options is ignored.
HEALTH_CHECK_INTERVAL: Final = 30

ATTR_VOICE: Final = "voice"

# Health, wedge detection and recovery (options)
CONF_DEEP_CHECK_INTERVAL: Final = "deep_check_interval"
CONF_RESTART_MIN_SPACING: Final = "restart_min_spacing"
CONF_RESTART_MAX_PER_HOUR: Final = "restart_max_per_hour"
DEFAULT_DEEP_CHECK_INTERVAL: Final = 5  # minutes
DEFAULT_RESTART_MIN_SPACING: Final = 10  # minutes
DEFAULT_RESTART_MAX_PER_HOUR: Final = 3
DEFAULT_CONTAINERS: Final[dict[SparkService, str]] = {
    SparkService.PARAKEET: "parakeet",
    SparkService.MAGPIE: "magpie-tts",
    SparkService.WHISPERX: "whisperx-asr",
}


def conf_container(service: SparkService) -> str:
    """Option key holding ``service``'s Docker container name."""
    return f"{service}_container"


CONF_SSH_HOST_KEY: Final = "ssh_host_key"

EVENT_WEDGE_DETECTED: Final = "spark_audio_wedge_detected"
EVENT_SERVICE_RESTARTED: Final = "spark_audio_service_restarted"
EVENT_RESTART_FAILED: Final = "spark_audio_restart_failed"
EVENT_SERVICE_RECOVERED: Final = "spark_audio_service_recovered"
EVENT_TRANSCRIPTION_DONE: Final = "spark_audio_transcription_done"
EVENT_TRANSCRIPTION_FAILED: Final = "spark_audio_transcription_failed"
SERVICE_CANCEL_TRANSCRIPTION: Final = "cancel_transcription"

SERVICE_RESTART: Final = "restart_service"
SERVICE_DEEP_CHECK: Final = "deep_check"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_SERVICE: Final = "service"

# How recovery waits for a restarted service to work again.
RECOVERY_PROBE_INTERVAL: Final = 2.0  # seconds
RECOVERY_TIMEOUT: Final = 300.0  # seconds
RESTART_RETRY_DELAY: Final = 60.0  # seconds, after a restart that failed over SSH
HEALTHY_TO_CLEAR_ISSUE: Final = 3600.0  # seconds

# WhisperX install (options)
CONF_HF_TOKEN: Final = "hf_token"  # noqa: S105 (a config key, not a secret)
CONF_WHISPERX_MODEL: Final = "whisperx_model"
# The installed container's API key (entry data, a secret): sent as a bearer token.
CONF_WHISPERX_API_KEY: Final = "whisperx_api_key"
WHISPERX_MODELS: Final = ("tiny", "base", "small", "medium", "large-v3")
DEFAULT_WHISPERX_MODEL: Final = "medium"

# At most one state write per this many seconds while an install job logs (recorder churn).
INSTALL_WRITE_INTERVAL: Final = 10.0

# Gateway limits (options; the strictest value over all loaded Sparks applies)
CONF_MAX_UPLOAD_MB: Final = "max_upload_mb"
CONF_MAX_CONCURRENT_UPLOADS: Final = "max_concurrent_uploads"
DEFAULT_MAX_UPLOAD_MB: Final = 4096  # MiB
DEFAULT_MAX_CONCURRENT_UPLOADS: Final = 8
# Background transcriptions queued or running at once: in all, and per Home Assistant user
# (automations and other calls without a user count only in all).
CONF_MAX_JOBS: Final = "max_jobs"
CONF_MAX_JOBS_PER_USER: Final = "max_jobs_per_user"
DEFAULT_MAX_JOBS: Final = 50
DEFAULT_MAX_JOBS_PER_USER: Final = 10
