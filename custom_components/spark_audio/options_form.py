"""The options form: every option with its current value as default.

Apart from the flow so the flow steps stay short; the voice field's selector
comes from the caller, which knows whether Magpie's live voice list is at hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.helpers import selector

from .const import (
    CONF_DEEP_CHECK_INTERVAL,
    CONF_DEFAULT_VOICE,
    CONF_HF_TOKEN,
    CONF_KEEP_VOICE_COMMANDS,
    CONF_MAX_CONCURRENT_UPLOADS,
    CONF_MAX_JOBS,
    CONF_MAX_JOBS_PER_USER,
    CONF_MAX_UPLOAD_MB,
    CONF_REQUEST_TIMEOUT,
    CONF_RESTART_MAX_PER_HOUR,
    CONF_RESTART_MIN_SPACING,
    CONF_STT_LANGUAGE,
    CONF_STT_VOCABULARY,
    CONF_WHISPERX_MODEL,
    CONF_WHISPERX_STT_LANGUAGE,
    DEFAULT_CONTAINERS,
    DEFAULT_DEEP_CHECK_INTERVAL,
    DEFAULT_KEEP_VOICE_COMMANDS,
    DEFAULT_MAX_CONCURRENT_UPLOADS,
    DEFAULT_MAX_JOBS,
    DEFAULT_MAX_JOBS_PER_USER,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_RESTART_MAX_PER_HOUR,
    DEFAULT_RESTART_MIN_SPACING,
    DEFAULT_STT_LANGUAGE,
    DEFAULT_STT_VOCABULARY,
    DEFAULT_VOICE,
    DEFAULT_WHISPERX_MODEL,
    WHISPERX_MODELS,
    SparkService,
    conf_container,
)
from .spark.clients import parakeet, whisperx


def whisperx_default_language(options: Mapping[str, Any]) -> str:
    """WhisperX's default language; entries from before it had one share Parakeet's."""
    stored = options.get(CONF_WHISPERX_STT_LANGUAGE)
    if stored in whisperx.LANGUAGES:
        return str(stored)
    shared = options.get(CONF_STT_LANGUAGE, DEFAULT_STT_LANGUAGE)
    return str(shared) if shared in whisperx.LANGUAGES else DEFAULT_STT_LANGUAGE


def options_schema(options: Mapping[str, Any], voice: selector.Selector[Any]) -> vol.Schema:
    """The options form; the HF token field is always empty (the token is never shown back)."""
    fields: dict[Any, Any] = {
        _current(options, CONF_DEFAULT_VOICE, DEFAULT_VOICE): voice,
        # Each engine's default language from its own list (Parakeet: 25, Whisper: ~100).
        _current(options, CONF_STT_LANGUAGE, DEFAULT_STT_LANGUAGE): selector.LanguageSelector(
            selector.LanguageSelectorConfig(languages=list(parakeet.LANGUAGES))
        ),
        _current(
            options, CONF_WHISPERX_STT_LANGUAGE, whisperx_default_language(options)
        ): selector.LanguageSelector(
            selector.LanguageSelectorConfig(languages=list(whisperx.LANGUAGES))
        ),
        _current(options, CONF_STT_VOCABULARY, DEFAULT_STT_VOCABULARY): selector.BooleanSelector(),
        _current(
            options, CONF_KEEP_VOICE_COMMANDS, DEFAULT_KEEP_VOICE_COMMANDS
        ): selector.BooleanSelector(),
        _current(options, CONF_REQUEST_TIMEOUT, DEFAULT_REQUEST_TIMEOUT): _count(5, 3600, "s"),
        _current(options, CONF_DEEP_CHECK_INTERVAL, DEFAULT_DEEP_CHECK_INTERVAL): _minutes(1, 1440),
        _current(options, CONF_RESTART_MIN_SPACING, DEFAULT_RESTART_MIN_SPACING): _minutes(1, 1440),
        _current(options, CONF_RESTART_MAX_PER_HOUR, DEFAULT_RESTART_MAX_PER_HOUR): _count(0, 60),
        # Gateway limits (the strictest over all Sparks applies)
        _current(options, CONF_MAX_UPLOAD_MB, DEFAULT_MAX_UPLOAD_MB): _count(1, 1024 * 1024, "MiB"),
        _current(options, CONF_MAX_CONCURRENT_UPLOADS, DEFAULT_MAX_CONCURRENT_UPLOADS): _count(
            1, 256
        ),
        # Background transcription queue (the strictest over all Sparks applies)
        _current(options, CONF_MAX_JOBS, DEFAULT_MAX_JOBS): _count(1, 1000),
        _current(options, CONF_MAX_JOBS_PER_USER, DEFAULT_MAX_JOBS_PER_USER): _count(1, 1000),
        _current(options, CONF_WHISPERX_MODEL, DEFAULT_WHISPERX_MODEL): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=list(WHISPERX_MODELS), mode=selector.SelectSelectorMode.DROPDOWN
            )
        ),
        vol.Optional(CONF_HF_TOKEN): selector.TextSelector(
            selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
        ),
        **{
            _current(
                options, conf_container(service), DEFAULT_CONTAINERS[service]
            ): selector.TextSelector()
            for service in SparkService
        },
    }
    return vol.Schema(fields)


def _current(options: Mapping[str, Any], key: str, default: Any) -> vol.Required:
    """A required field whose default is the stored option, else the integration's default."""
    return vol.Required(key, default=options.get(key, default))


def _minutes(low: int, high: int) -> selector.NumberSelector:
    return _count(low, high, "min")


def _count(low: int, high: int, unit: str | None = None) -> selector.NumberSelector:
    """A whole-number box from ``low`` to ``high``, optionally with a unit."""
    config = selector.NumberSelectorConfig(
        min=low, max=high, step=1, mode=selector.NumberSelectorMode.BOX
    )
    if unit is not None:
        config["unit_of_measurement"] = unit
    return selector.NumberSelector(config)
