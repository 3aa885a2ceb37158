"""Routing a transcription to a healthy Spark, with failover; Spark failures as domain errors."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from homeassistant.core import HomeAssistant

from ..const import SERVICE_NAMES
from ..coordinator import SparkServiceCoordinator
from ..data import ServiceSlot, loaded_entries
from ..spark import (
    SparkBackendFaultError,
    SparkConnectionError,
    SparkError,
    SparkResponseError,
    SparkTimeoutError,
)
from ..spark.clients.http import SparkServiceClient
from .errors import TranscriptionError, invalid_input

_LOGGER = logging.getLogger(__name__)
RETRY_AFTER_S = 60
LONG_AUDIO_TIMEOUT_S = 3600.0
"""Uploaded files can be hours long: their calls get at least this long, not the Assist timeout."""


def upload_timeout(client: SparkServiceClient) -> float:
    """The timeout for a call carrying an uploaded file."""
    return max(client.timeout, LONG_AUDIO_TIMEOUT_S)


_PINNED: ContextVar[str | None] = ContextVar("spark_audio_pinned_spark", default=None)


@contextmanager
def pinned_spark(entry_id: str) -> Iterator[None]:
    """Calls made inside go to this Spark first (the others only as failover).

    A background job is queued on one Spark (the one with the shortest queue
    when it was submitted) and runs there, so the per-Spark job queue is what
    the GPUs see; a context variable so the deep call sites need no argument.
    """
    token = _PINNED.set(entry_id)
    try:
        yield
    finally:
        _PINNED.reset(token)


def queue_length(coordinator: SparkServiceCoordinator) -> int:
    """The work ahead of a new request: the service's reported queue plus HA's own in flight.

    ``busy``/``queue`` come from the last health poll (only services that
    report them, like our WhisperX container); HA's own requests are counted
    live by the client, so a Parakeet that reports nothing still shows the job
    this HA sent it. The two may overlap: they only order the candidates.
    """
    reported = 0
    if coordinator.last_update_success and coordinator.data is not None:
        health = coordinator.data.health
        reported = int(bool(health.busy)) + (health.queue or 0)
    return reported + coordinator.client.work_in_flight


def offering[ClientT: SparkServiceClient](
    hass: HomeAssistant, slot: ServiceSlot[ClientT], *, prefer: str | None = None
) -> list[SparkServiceCoordinator[ClientT]]:
    """The coordinators of ``slot``'s service on every loaded Spark, best first.

    Healthy ones first; a Spark pinned for the running job (`pinned_spark`)
    next; then the shortest queue (`queue_length`); on equal queues the
    ``prefer``red entry (an STT entity's own Spark), then the entries' order.
    """
    found = [
        coordinator
        for entry in loaded_entries(hass)
        if (coordinator := slot.get(entry.runtime_data)) is not None
    ]
    pinned = _PINNED.get()
    return sorted(
        found,
        key=lambda c: (
            not c.last_update_success,
            c.config_entry.entry_id != pinned,
            queue_length(c),
            c.config_entry.entry_id != prefer,
        ),
    )


def not_offered(slot: ServiceSlot[Any]) -> TranscriptionError:
    """The 404 for a service no configured Spark offers."""
    return TranscriptionError(
        404, f"No configured Spark offers {SERVICE_NAMES[slot.service]}", code="model_not_found"
    )


@dataclass(frozen=True, slots=True)
class Attempt[ClientT: SparkServiceClient]:
    """Which Spark a call went to, and whether it was the failover try."""

    coordinator: SparkServiceCoordinator[ClientT]
    failover: bool


async def call_with_failover[ClientT: SparkServiceClient, T](
    hass: HomeAssistant,
    slot: ServiceSlot[ClientT],
    call: Callable[[Attempt[ClientT]], Awaitable[T]],
    *,
    can_retry: Callable[[], bool] = lambda: True,
) -> T:
    """Run ``call`` on the healthy Spark with the shortest queue; on a connection error, the next.

    ``can_retry`` says whether the request can still be replayed (an upload
    streamed from the client cannot, once bytes have gone out).
    """
    service = slot.service
    candidates = [c for c in offering(hass, slot) if c.last_update_success]
    if not candidates:
        if not offering(hass, slot):
            raise not_offered(slot)
        raise TranscriptionError(
            502, f"{SERVICE_NAMES[service]} is unreachable on every Spark", code="backend_down"
        )
    for index, coordinator in enumerate(candidates[:2]):
        try:
            return await call(Attempt(coordinator, failover=index > 0))
        except SparkConnectionError as err:
            if index == 0 and len(candidates) > 1 and can_retry():
                _LOGGER.warning(
                    "%s on %s is unreachable (%s); trying %s",
                    SERVICE_NAMES[service],
                    coordinator.config_entry.title,
                    err,
                    candidates[1].config_entry.title,
                )
                continue
            raise map_spark_error(err, coordinator) from err
        except SparkError as err:
            raise map_spark_error(err, coordinator) from err
    raise AssertionError("unreachable")  # pragma: no cover


def map_spark_error(err: SparkError, coordinator: SparkServiceCoordinator) -> TranscriptionError:
    """A client error as the core reports it; a backend 5xx also triggers a deep check."""
    name = SERVICE_NAMES[coordinator.service]
    if isinstance(err, SparkTimeoutError):
        return TranscriptionError(504, f"{name} did not answer in time", code="backend_timeout")
    if isinstance(err, SparkBackendFaultError):
        coordinator.config_entry.runtime_data.report_backend_fault(coordinator.service)
        return TranscriptionError(
            503,
            f"{name} failed while processing the request (likely a CUDA wedge; a health check "
            f"was started). Retry in about {RETRY_AFTER_S} s.",
            code="backend_fault",
            retry_after=RETRY_AFTER_S,
        )
    if isinstance(err, SparkResponseError):
        if 400 <= err.status < 500:
            return invalid_input(f"{name} rejected the request: {err}", code="backend_rejected")
        return TranscriptionError(
            502, f"{name} returned an invalid response", code="bad_backend_reply"
        )
    # The reason names the Spark's address: HA's log has it, the client never does. Debug level:
    # a client that breaks its own upload mid-stream also ends here (and hears its own error).
    _LOGGER.debug("%s on %s is unreachable: %s", name, coordinator.config_entry.title, err)
    return TranscriptionError(502, f"{name} is unreachable", code="backend_unreachable")
