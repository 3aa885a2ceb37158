"""Checks of the form fields, so bad input is a 400 before any upload or GPU work."""

from __future__ import annotations

import math
import re

from .gate import Priority
from .languages import LANGUAGES

GRANULARITIES = frozenset({"word", "segment"})
MAX_FILENAME = 255
_ODD_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\]")
TEMPERATURE_UNSUPPORTED = (
    "temperature {value:g} is not supported: whisperX's batched decoder always decodes "
    "deterministically (beam search, temperature 0); omit temperature or send 0"
)


class BadRequest(ValueError):
    """A client mistake, answered with 400 and this message."""


def optional_int(name: str, raw: str | None) -> int | None:
    """A positive integer field, or None when absent."""
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if value < 1:
        raise BadRequest(f"{name} must be >= 1")
    return value


def language(raw: str | None) -> str | None:
    """A Whisper language code (lower-cased), or None to detect it."""
    if raw is None:
        return None
    code = raw.strip().lower()
    if not code:
        raise BadRequest("language must not be empty")
    if code not in LANGUAGES:
        raise BadRequest(
            f"Unsupported language {raw.strip()[:20]!r}; use a Whisper language code "
            "(ISO 639-1, e.g. en, de, fr) or leave it out to detect it"
        )
    return code


def temperature(raw: str | None) -> None:
    """Accept only what the decoder does (0); anything else is refused, not ignored."""
    if raw is None or not raw.strip():
        return
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"temperature must be a number, got {raw[:20]!r}") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise BadRequest("temperature must be between 0 and 1")
    if value != 0.0:
        raise BadRequest(TEMPERATURE_UNSUPPORTED.format(value=value))


def granularities(raw: list[str] | None) -> frozenset[str]:
    """OpenAI's ``timestamp_granularities[]``; segment timing is always there."""
    chosen = frozenset(g.strip() for g in raw or () if g.strip())
    unknown = chosen - GRANULARITIES
    if unknown:
        raise BadRequest(f"Unsupported timestamp_granularities: {sorted(unknown)}")
    return chosen


def filename(raw: str | None) -> None:
    """Refuse names with control characters or path separators (they never touch disk)."""
    if raw is None:
        return
    if len(raw) > MAX_FILENAME or _ODD_FILENAME.search(raw):
        raise BadRequest(
            "file name must be a plain name without control characters or path separators, "
            f"at most {MAX_FILENAME} characters"
        )


def priority(raw: str | None) -> Priority:
    """``interactive`` (the default: someone waits) or ``background`` (runs in units)."""
    if raw is None or not raw.strip():
        return Priority.INTERACTIVE
    try:
        return Priority(raw.strip().lower())
    except ValueError:
        raise BadRequest(
            f"Unsupported priority {raw.strip()[:20]!r}; use one of: "
            + ", ".join(p.value for p in Priority)
        ) from None
