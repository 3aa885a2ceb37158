"""Settings from the environment, checked once at startup."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .auth import KeyConfigError, load_api_key, secret_setting
from .decoder import DEFAULT_MAX_AUDIO_S
from .engine import DEFAULT_MODEL, MODELS

ENGINES = ("whisperx", "stub")
DEVICES = ("cuda", "cpu")
DEFAULT_MAX_QUEUE = 4
_VERSION_FILE = Path(__file__).resolve().parent.parent / "VERSION"


class ConfigError(ValueError):
    """The environment asks for something this service cannot do."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What the service was told to do."""

    model: str = DEFAULT_MODEL
    engine: str = "whisperx"
    device: str = "cuda"
    hf_token: str | None = field(default=None, repr=False)
    max_queue: int = DEFAULT_MAX_QUEUE
    retry_after_s: int = 30
    api_key: str | None = field(default=None, repr=False)
    max_audio_s: int = DEFAULT_MAX_AUDIO_S

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the settings; ConfigError says what is wrong."""
        env = os.environ if env is None else env
        model = env.get("WHISPERX_MODEL", "").strip() or DEFAULT_MODEL
        if model not in MODELS:
            raise ConfigError(
                f"WHISPERX_MODEL={model!r} is not supported; use one of: {', '.join(MODELS)}"
            )
        engine = env.get("WHISPERX_ENGINE", "").strip() or "whisperx"
        if engine not in ENGINES:
            raise ConfigError(f"WHISPERX_ENGINE={engine!r} is not one of: {', '.join(ENGINES)}")
        # The image is for GPUs: CUDA is expected unless CPU is asked for by name, so a
        # missing NVIDIA runtime is reported (503 on /health), never a silent CPU fallback.
        device = env.get("WHISPERX_DEVICE", "").strip().lower() or "cuda"
        if device not in DEVICES:
            raise ConfigError(f"WHISPERX_DEVICE={device!r} is not one of: {', '.join(DEVICES)}")
        try:
            api_key = load_api_key(env)
            hf_token = secret_setting(env, "HF_TOKEN")
        except KeyConfigError as err:
            raise ConfigError(str(err)) from None
        return cls(
            model=model,
            engine=engine,
            device=device,
            hf_token=hf_token,
            max_queue=_int(env, "WHISPERX_MAX_QUEUE", DEFAULT_MAX_QUEUE, minimum=0),
            retry_after_s=_int(env, "WHISPERX_RETRY_AFTER_S", 30, minimum=1),
            api_key=api_key,
            max_audio_s=_int(env, "WHISPERX_MAX_AUDIO_S", DEFAULT_MAX_AUDIO_S, minimum=1),
        )


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be >= {minimum}")
    return value


def read_version(path: Path = _VERSION_FILE) -> str:
    """The service version from the VERSION file (or the image's env)."""
    try:
        return path.read_text(encoding="utf-8").strip() or "0.0.0"
    except OSError:
        return os.environ.get("WHISPERX_VERSION", "0.0.0")
