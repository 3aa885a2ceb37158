"""Job progress a client can poll: ``GET /v1/jobs/{id}`` for the id it sent in ``X-Job-Id``.

A long recording takes minutes; the client (Home Assistant) shows how far it is.
The engine reports phases (loading audio, transcribing with a percent by audio
time processed, aligning, diarizing) through ``report`` from its worker thread,
and stops at the next report after ``DELETE /v1/jobs/{id}``;
a context variable routes them to the request's job (``asyncio.to_thread``
copies the context into the thread). The overall percent weighs the phases by
their usual share of the work. Finished jobs stay readable for a while.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

JOB_HEADER = "X-Job-Id"
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KEEP = 64
# Share of the whole job per phase (start, end): transcription dominates.
PHASES: dict[str, tuple[float, float]] = {
    "queued": (0.0, 0.0),
    "loading_audio": (0.0, 2.0),
    "transcribing": (2.0, 70.0),
    "aligning": (70.0, 80.0),
    "diarizing": (80.0, 99.0),
    "done": (100.0, 100.0),
    "failed": (0.0, 0.0),
    "cancelled": (0.0, 0.0),
}
_FINAL = frozenset({"failed", "cancelled"})


class JobCancelled(Exception):
    """The client cancelled the job: the engine stops at its next progress report."""


@dataclass
class JobState:
    """What a poll answers."""

    job_id: str
    phase: str = "queued"
    phase_percent: float | None = None
    percent: float = 0.0
    cancelled: bool = False
    updated: float = field(default_factory=time.monotonic)

    def as_json(self) -> dict[str, object]:
        """The poll's body."""
        return {
            "job_id": self.job_id,
            "phase": self.phase,
            "phase_percent": self.phase_percent,
            "percent": round(self.percent, 1),
        }


class JobRegistry:
    """The recent jobs by client id (thread-safe: the engine reports from its thread)."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, JobState] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, job_id: str) -> JobState:
        """Register a job (queued until the engine reports)."""
        with self._lock:
            state = self._jobs[job_id] = JobState(job_id)
            while len(self._jobs) > KEEP:
                self._jobs.popitem(last=False)
            return state

    def get(self, job_id: str) -> JobState | None:
        """The job's state, if it is recent."""
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> JobState | None:
        """Mark the job cancelled (None when unknown); its engine stops at the next report."""
        with self._lock:
            state = self._jobs.get(job_id)
            if state is not None:
                state.cancelled = True
            return state

    def update(self, state: JobState, phase: str, phase_percent: float | None) -> None:
        """Move the job on; the overall percent never goes back."""
        low, high = PHASES.get(phase, (state.percent, state.percent))
        share = 0.0 if phase_percent is None else max(0.0, min(phase_percent, 100.0)) / 100
        with self._lock:
            state.phase = phase
            state.phase_percent = None if phase_percent is None else round(phase_percent, 1)
            if phase not in _FINAL:
                state.percent = max(state.percent, low + (high - low) * share)
            state.updated = time.monotonic()


current_job: ContextVar[tuple[JobRegistry, JobState] | None] = ContextVar(
    "whisperx_job", default=None
)


def report(phase: str, phase_percent: float | None = None) -> None:
    """Called by the engine: the current request's job is in ``phase``.

    Raises JobCancelled when the client cancelled the job, which ends the
    engine's work there (a GPU job cannot be interrupted from outside).
    """
    raise_if_cancelled()
    if (job := current_job.get()) is not None:
        job[0].update(job[1], phase, phase_percent)


def raise_if_cancelled() -> None:
    """JobCancelled when the client cancelled the current request's job.

    For an engine step that has no progress to report but must still stop there.
    """
    if (job := current_job.get()) is not None and job[1].cancelled:
        raise JobCancelled(job[1].job_id)


@contextmanager
def tracked(registry: JobRegistry, job_id: str | None) -> Iterator[None]:
    """Track the request's job (when the client named one): done or failed at the end."""
    if job_id is None:
        yield
        return
    state = registry.start(job_id)
    token = current_job.set((registry, state))
    try:
        yield
    except JobCancelled:
        registry.update(state, "cancelled", None)
        raise
    except BaseException:
        registry.update(state, "failed", None)
        raise
    else:
        registry.update(state, "done", 100)
    finally:
        current_job.reset(token)


def job_id_of(value: str | None) -> str | None:
    """The client's job id header, validated (ValueError names the rule)."""
    if value is None:
        return None
    if not JOB_ID.match(value):
        raise ValueError(f"{JOB_HEADER} must be 1 to 64 letters, digits, '-' or '_'")
    return value
