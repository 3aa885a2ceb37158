"""What the WhisperX install builds and runs, checked before any SSH traffic.

Every value that ends up in a docker argv or a remote path is validated where
it is created, so bad input is a ValueError in the form, never shell syntax on
the Spark. The HF token and API key are hidden from repr().
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Final

from ..clients.whisperx import DEFAULT_PORT as WHISPERX_PORT
from ..remote.docker import validate_container_name
from .build_context import IMAGE_VERSION
from .secret_files import SecretFile

__all__ = [
    "APP_PORT",
    "TARGETS",
    "InstallConfig",
    "validate_base_dir",
    "validate_hf_token",
    "validate_image_tag",
]

APP_PORT: Final = 8000
_HEALTH_POLL_S = 2.0
_IMAGE_REPO = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")
_MEMORY = re.compile(r"[1-9][0-9]*[bkmgBKMG]?")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")
# Hugging Face tokens are "hf_" and letters/digits; older ones use '-' or '.' too.
_TOKEN = re.compile(r"[A-Za-z0-9_.-]{8,512}")
TARGETS: Final = ("spark", "x86_64")


def _check_port(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"{what} must be 1..65535, got {value!r}")


@dataclass(frozen=True)
class InstallConfig:
    """What to build and how to run it; validated on creation, so bad input never hits SSH.

    ``image_tag`` None means ``spark-audio/whisperx:<VERSION of the context>``.
    ``remote_base_dir`` None means the login's ``$HOME``; the build context
    always goes to its ``spark-audio-whisperx-build`` subfolder, the only
    folder this job ever deletes.
    """

    container_name: str = "whisperx-asr"
    image_tag: str | None = None
    host_port: int = WHISPERX_PORT
    app_port: int = APP_PORT
    memory: str = "40g"
    cache_volume: str = "whisperx-cache"
    model: str = "medium"
    hf_token: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    """The key the new container requires (``WHISPERX_API_KEY``); None runs it open."""
    remote_base_dir: str | None = None
    target: str = "spark"
    docker: tuple[str, ...] = ("docker",)
    min_free_gib: float = 40.0
    upload_timeout: float = 300.0
    # Cold builds take tens of minutes; a slow link to the package index can triple that.
    build_timeout: float = 3 * 3600.0
    # No build output for this long means a hung build (compile steps print per object,
    # the biggest wheel download is minutes).
    build_idle_timeout: float = 1800.0
    # The first start downloads the models (GBs) before /health reports them loaded.
    health_timeout: float = 1800.0
    health_interval: float = _HEALTH_POLL_S
    require_diarizer: bool | None = None

    def __post_init__(self) -> None:
        validate_container_name(self.container_name)
        try:
            validate_container_name(self.cache_volume)
        except ValueError:
            raise ValueError(f"invalid cache volume name {self.cache_volume!r}") from None
        if self.image_tag is not None:
            validate_image_tag(self.image_tag)
        _check_port(self.host_port, "host port")
        _check_port(self.app_port, "app port")
        if not _MEMORY.fullmatch(self.memory):
            raise ValueError(f"memory cap must look like 40g or 512m, got {self.memory!r}")
        if not _MODEL.fullmatch(self.model):
            raise ValueError(f"invalid model name {self.model!r}")
        if self.hf_token is not None:
            validate_hf_token(self.hf_token)
        if self.api_key is not None and not _TOKEN.fullmatch(self.api_key):
            raise ValueError("API key must be printable ASCII without spaces")
        if self.target not in TARGETS:
            raise ValueError(f"build target must be one of {TARGETS}, got {self.target!r}")
        if not isinstance(self.docker, tuple) or not self.docker or not all(self.docker):
            raise ValueError("docker must be a non-empty argv prefix, e.g. ('docker',)")
        if self.remote_base_dir is not None:
            validate_base_dir(self.remote_base_dir)
        for name in (
            "upload_timeout",
            "build_timeout",
            "build_idle_timeout",
            "health_timeout",
            "health_interval",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.min_free_gib < 0:
            raise ValueError("min_free_gib must not be negative")

    @property
    def diarizer_required(self) -> bool:
        """Wait for the diarizer too? By default only when a token lets it load."""
        if self.require_diarizer is None:
            return bool(self.hf_token)
        return self.require_diarizer

    @property
    def secret_files(self) -> list[SecretFile]:
        """The secrets the container reads from mounted files (never from its environment)."""
        found = (
            SecretFile("hf_token", "HF_TOKEN_FILE", self.hf_token or ""),
            SecretFile("whisperx_api_key", "WHISPERX_API_KEY_FILE", self.api_key or ""),
        )
        return [secret for secret in found if secret.value]

    def run_options(self) -> tuple[str, ...]:
        """``docker run`` options before the secrets' mounts: GPUs, limits, port, cache."""
        return (
            *("--gpus", "all", "--restart", "unless-stopped", "--memory", self.memory),
            *("-p", f"{self.host_port}:{self.app_port}", "-v", f"{self.cache_volume}:/cache"),
            *("-e", f"WHISPERX_MODEL={self.model}"),
        )


def validate_hf_token(token: str) -> str:
    """``token`` when it can be a Hugging Face token; ValueError (never quoting it) otherwise.

    The one check for forms and the install job alike: a token with a space
    or a control character would break the line it travels on to the Spark.
    """
    if not _TOKEN.fullmatch(token):
        raise ValueError("HF token must be 8 to 512 letters, digits, '_', '-' or '.'")
    return token


def validate_image_tag(tag: str) -> None:
    """ValueError unless ``tag`` is ``repo/name:version`` as Docker accepts it."""
    repo, sep, version = tag.rpartition(":")
    if not sep or not _IMAGE_REPO.fullmatch(repo) or not IMAGE_VERSION.fullmatch(version):
        raise ValueError(f"invalid image tag {tag!r}: expected repo/name:version")


def validate_base_dir(path: str) -> None:
    """ValueError unless ``path`` is absolute, without '..' or line breaks (it goes to rm -rf)."""
    if any(c in path for c in "\0\n\r"):
        raise ValueError("remote folder must not contain NUL or newlines")
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts:
        raise ValueError(f"remote folder must be an absolute path without '..', got {path!r}")
