"""Upload limits: how large an upload may be and how many run at once, from the options.

The gateway's views and the ``transcribe`` action share them. They serve every
configured Spark, so the strictest value over the loaded entries applies; with no
entry loaded the defaults do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from ..const import (
    CONF_MAX_CONCURRENT_UPLOADS,
    CONF_MAX_UPLOAD_MB,
    DEFAULT_MAX_CONCURRENT_UPLOADS,
    DEFAULT_MAX_UPLOAD_MB,
)
from ..data import strictest_option
from .errors import TranscriptionError

MIB = 1024 * 1024
BUSY_RETRY_AFTER_S = 10


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """What one request may use, and how many uploads may run at once."""

    max_upload_bytes: int
    max_concurrent_uploads: int


@dataclass(slots=True)
class _Active:
    uploads: int = 0


ACTIVE_UPLOADS: HassKey[_Active] = HassKey("spark_audio_active_uploads")


def upload_limits(hass: HomeAssistant) -> UploadLimits:
    """The strictest configured limits over every loaded Spark."""
    upload_mb = strictest_option(hass, CONF_MAX_UPLOAD_MB, DEFAULT_MAX_UPLOAD_MB)
    concurrent = strictest_option(hass, CONF_MAX_CONCURRENT_UPLOADS, DEFAULT_MAX_CONCURRENT_UPLOADS)
    return UploadLimits(upload_mb * MIB, concurrent)


def active_uploads(hass: HomeAssistant) -> int:
    """How many uploads (gateway requests and transcribe actions) are being handled right now."""
    active = hass.data.get(ACTIVE_UPLOADS)
    return active.uploads if active else 0


@contextmanager
def upload_slot(hass: HomeAssistant, limits: UploadLimits) -> Iterator[None]:
    """Hold one of the concurrent upload slots; a 429 with Retry-After when none is free."""
    active = hass.data.setdefault(ACTIVE_UPLOADS, _Active())
    if active.uploads >= limits.max_concurrent_uploads:
        raise TranscriptionError(
            429,
            f"{active.uploads} uploads are already being processed (at most "
            f"{limits.max_concurrent_uploads}); retry in {BUSY_RETRY_AFTER_S} s",
            code="too_many_uploads",
            retry_after=BUSY_RETRY_AFTER_S,
        )
    active.uploads += 1
    try:
        yield
    finally:
        active.uploads -= 1


def check_declared_size(content_length: int | None, limits: UploadLimits) -> None:
    """Refuse a body whose declared length is already past the cap (before reading it)."""
    if content_length is not None and content_length > limits.max_upload_bytes + MIB:
        raise too_large(limits)


def too_large(limits: UploadLimits) -> TranscriptionError:
    """The 413 for an upload past the configured cap."""
    return TranscriptionError(
        413,
        f"The upload is larger than the configured maximum of {limits.max_upload_bytes // MIB} MiB",
        param="file",
        code="file_too_large",
    )
