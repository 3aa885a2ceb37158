"""The observable side of an install: phase, percent, a bounded log and its watchers.

Split from the steps so the job's bookkeeping (what HA's sensors, the update
entity and the streaming endpoint read) can be read on its own: phases and
their share of the bar, secret redaction of every line, listeners and an
async stream of updates that never drops the final one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final

__all__ = ["CONTAINER_PHASES", "PHASE_RANGES", "InstallProgress", "InstallUpdate", "Phase"]

_LOGGER = logging.getLogger(__name__)

_MAX_LINE_CHARS = 4000
_SUBSCRIBER_BACKLOG = 10_000


class Phase(StrEnum):
    """Where an install stands; `PHASE_RANGES` gives each one's share of the bar."""

    CONNECT = "connect"
    PREFLIGHT = "preflight"
    UPLOAD = "upload"
    BUILD = "build"
    REPLACE = "replace"
    RUN = "run"
    WAIT_HEALTHY = "wait_healthy"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Whether the job has ended."""
        return self in _TERMINAL

    @property
    def percent_range(self) -> tuple[int, int]:
        """(start, end) percent of this phase; the build dominates real installs."""
        return PHASE_RANGES[self]


_TERMINAL = frozenset({Phase.DONE, Phase.FAILED, Phase.CANCELLED})
# A cold build on a Spark takes tens of minutes (CTranslate2's CUDA compile, the torch
# download); everything else takes seconds, except the first start, which downloads
# the models before /health says ready.
PHASE_RANGES: Final[dict[Phase, tuple[int, int]]] = {
    Phase.CONNECT: (0, 1),
    Phase.PREFLIGHT: (1, 2),
    Phase.UPLOAD: (2, 4),
    Phase.BUILD: (4, 90),
    Phase.REPLACE: (90, 91),
    Phase.RUN: (91, 92),
    Phase.WAIT_HEALTHY: (92, 99),
    Phase.DONE: (100, 100),
    # Terminal failures keep the percent reached; the range is nominal.
    Phase.FAILED: (0, 100),
    Phase.CANCELLED: (0, 100),
}
# Phases after which the old container is gone: failing there must clean up.
CONTAINER_PHASES = frozenset({Phase.REPLACE, Phase.RUN, Phase.WAIT_HEALTHY})


@dataclass(frozen=True)
class InstallUpdate:
    """One event for watchers: the state now plus the log line that caused it, if any."""

    job_id: str
    phase: Phase
    percent: float
    elapsed: float
    line: str | None = None
    error: str | None = None
    final: bool = False
    """True only on the one last update a job sends (its state is then settled)."""


class Cancelled(Exception):
    """Raised inside the job when `cancel()` was asked for."""


class InstallProgress:
    """Phase, percent, log and watchers of one job; `InstallJob` adds the steps."""

    def __init__(self, job_id: str, *, secrets: tuple[str | None, ...], log_lines: int) -> None:
        """``secrets`` are replaced by ``***`` in every log line and error."""
        self.id = job_id
        self._redacted = tuple(secret for secret in secrets if secret)
        self.phase = Phase.CONNECT
        self.percent = 0.0
        self.error: str | None = None
        self.failed_phase: Phase | None = None
        self.started_at: float | None = None  # time.time() when run() began
        self.finished_at: float | None = None
        self._started_mono: float | None = None
        self._finished_mono: float | None = None
        self.phase_times: dict[Phase, float] = {}  # seconds spent in each phase
        self._phase_started = 0.0
        self._log: deque[str] = deque(maxlen=log_lines)
        self.total_lines = 0
        self._listeners: list[Callable[[InstallUpdate], None]] = []
        self._task: asyncio.Task[Any] | None = None
        self._cancel_requested = False
        self._finished = asyncio.Event()

    # State -------------------------------------------------------------------

    @property
    def lines(self) -> list[str]:
        """The log so far (the last `LOG_LINES` lines)."""
        return list(self._log)

    @property
    def done(self) -> bool:
        """Whether the job has ended (any terminal phase)."""
        return self.phase.terminal

    @property
    def elapsed(self) -> float:
        """Seconds since `run()` started (frozen once it ended)."""
        if self._started_mono is None:
            return 0.0
        end = self._finished_mono if self._finished_mono is not None else time.monotonic()
        return end - self._started_mono

    def snapshot(self) -> InstallUpdate:
        """The state now, as an update without a line."""
        return InstallUpdate(
            job_id=self.id,
            phase=self.phase,
            percent=round(self.percent, 1),
            elapsed=round(self.elapsed, 3),
            error=self.error,
            final=self._finished.is_set(),
        )

    # Watching ----------------------------------------------------------------

    def add_listener(self, listener: Callable[[InstallUpdate], None]) -> Callable[[], None]:
        """Call ``listener`` for every update (phase, percent, each log line); returns remover.

        Listeners run in the job's task and must not block; one that raises is
        logged and kept.
        """
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    async def updates(self, *, replay: bool = True) -> AsyncIterator[InstallUpdate]:
        """Stream updates until the job ends; the last one yielded is the final state.

        With ``replay``, the buffered log comes first (a late watcher sees the
        whole story). A watcher that falls more than 10,000 updates behind
        loses the oldest, never the final one.
        """
        pending: deque[InstallUpdate] = deque(maxlen=_SUBSCRIBER_BACKLOG)
        wake = asyncio.Event()

        def push(update: InstallUpdate) -> None:
            pending.append(update)
            wake.set()

        remove = self.add_listener(push)
        try:
            if replay:
                state = self.snapshot()
                for line in self.lines:
                    yield replace(state, line=line, error=None, final=False)
            if self._finished.is_set():
                yield self.snapshot()
                return
            while True:
                await wake.wait()
                wake.clear()
                while pending:
                    update = pending.popleft()
                    yield update
                    if update.final:
                        return
        finally:
            remove()

    async def wait(self) -> None:
        """Return once the job has ended."""
        await self._finished.wait()

    def _emit(self, line: str | None = None) -> None:
        update = replace(self.snapshot(), line=line)
        for listener in list(self._listeners):
            try:
                listener(update)
            except Exception:
                _LOGGER.exception("install listener failed")

    def _redact(self, text: str) -> str:
        for secret in self._redacted:
            text = text.replace(secret, "***")
        return text

    def log(self, line: str) -> None:
        """Append one line to the log (secrets redacted, long lines cut) and tell watchers."""
        line = self._redact(line)
        if len(line) > _MAX_LINE_CHARS:
            line = line[:_MAX_LINE_CHARS] + "…"
        self._log.append(line)
        self.total_lines += 1
        self._emit(line)

    def _set_phase(self, phase: Phase) -> None:
        if self._cancel_requested and not phase.terminal:
            # A step that swallowed the task cancel still stops at the next phase.
            raise Cancelled
        now = time.monotonic()
        if not self.phase.terminal and self._started_mono is not None:
            self.phase_times[self.phase] = self.phase_times.get(self.phase, 0.0) + (
                now - self._phase_started
            )
        self._phase_started = now
        self.phase = phase
        if phase is Phase.DONE:
            self.percent = 100.0
        elif not phase.terminal:
            self.percent = max(self.percent, float(phase.percent_range[0]))
        self.log(f"==> {phase.value}")

    def _progress(self, fraction: float) -> None:
        """Move within the current phase's range; never backwards."""
        start, end = self.phase.percent_range
        value = start + (end - start) * min(max(fraction, 0.0), 1.0)
        if value > self.percent + 0.05:
            self.percent = value
            self._emit()

    # Control -----------------------------------------------------------------

    def cancel(self) -> bool:
        """Ask the job to stop; it cleans up and ends CANCELLED. False if already ended."""
        if self.done:
            return False
        if self._cancel_requested:
            # Cancelling the task twice would throw a second CancelledError later.
            return True
        self._cancel_requested = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
        return True

    def _finish(self) -> None:
        self._finished_mono = time.monotonic()
        self.finished_at = time.time()
        self._task = None
        self._finished.set()
        self._emit()
