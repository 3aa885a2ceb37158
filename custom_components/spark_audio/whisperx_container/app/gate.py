"""One GPU job at a time, a bounded queue, and voice commands first.

A request is ``interactive`` (the default: an Assist command waits for it) or
``background`` (a long recording nobody waits on). Waiting interactive jobs get
the GPU before waiting background ones, and a running background job hands it
over between its units (batches of VAD chunks, see `between_units`): a voice
command waits for at most one unit of a long job, never for all of it. The
background job takes the GPU back before any other background job starts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from .progress import JobCancelled, raise_if_cancelled


class QueueFull(Exception):
    """Too many jobs are already waiting for the GPU."""


class Priority(StrEnum):
    """The ``priority`` form field."""

    INTERACTIVE = "interactive"
    BACKGROUND = "background"


class _Rank(IntEnum):
    """Who gets the GPU first: interactive, then a background job taking it back, then new ones."""

    INTERACTIVE = 0
    RESUMING = 1
    BACKGROUND = 2


@dataclass(slots=True)
class Turn:
    """One job's claim on the GPU."""

    priority: Priority
    holding: bool = False
    waiting: asyncio.Future[None] | None = None


class GpuGate:
    """A priority lock with a waiting-room limit (asyncio; the loop's thread only)."""

    def __init__(self, max_queue: int) -> None:
        self._max_queue = max_queue
        self._held = False
        self._queues: tuple[deque[asyncio.Future[None]], ...] = tuple(deque() for _ in _Rank)

    @property
    def busy(self) -> bool:
        """Whether a job holds the GPU."""
        return self._held

    @property
    def full(self) -> bool:
        """Whether a new job would be refused (GPU busy and waiting room full)."""
        return self._held and self.waiting >= self._max_queue

    @property
    def waiting(self) -> int:
        """How many new jobs wait for the GPU (a paused background job is not one)."""
        return len(self._queues[_Rank.INTERACTIVE]) + len(self._queues[_Rank.BACKGROUND])

    @property
    def interactive_waiting(self) -> bool:
        """Whether a voice command waits (read by a background job between its units)."""
        return bool(self._queues[_Rank.INTERACTIVE])

    @asynccontextmanager
    async def slot(self, priority: Priority = Priority.INTERACTIVE) -> AsyncIterator[Turn]:
        """Hold the GPU; QueueFull when the waiting room is full."""
        if self.full:
            raise QueueFull
        turn = Turn(priority)
        rank = _Rank.INTERACTIVE if priority is Priority.INTERACTIVE else _Rank.BACKGROUND
        await self._acquire(turn, rank)
        try:
            yield turn
        finally:
            if turn.holding:
                turn.holding = False
                self._release()
            elif turn.waiting is not None:
                turn.waiting.cancel()  # a paused job whose request ended: it never resumes

    async def hand_over(self, turn: Turn) -> bool:
        """Let waiting interactive jobs run, then take the GPU back before other background work.

        Called for `turn` (which holds the GPU) between two of its units; False
        when nobody interactive waits (it keeps the GPU). CancelledError when the
        request ended while it waited.
        """
        if not turn.holding or not self.interactive_waiting:
            return False
        turn.holding = False
        self._release()
        await self._acquire(turn, _Rank.RESUMING)
        return True

    async def _acquire(self, turn: Turn, rank: _Rank) -> None:
        if not self._held and not any(self._queues):
            self._held = turn.holding = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues[rank].append(future)
        turn.waiting = future
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # handed the GPU just as it was cancelled: pass it on
            elif future in self._queues[rank]:
                self._queues[rank].remove(future)
            raise
        finally:
            turn.waiting = None
        turn.holding = True

    def _release(self) -> None:
        """Hand the GPU to the first waiter by rank, or free it."""
        for queue in self._queues:
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)  # it holds the GPU now: `_held` stays set
                    return
        self._held = False


@dataclass(frozen=True, slots=True)
class RunningJob:
    """What the engine's thread needs to hand the GPU over: the gate, its loop, the turn."""

    gate: GpuGate
    loop: asyncio.AbstractEventLoop
    turn: Turn


# Set by the app around a job's thread (``asyncio.to_thread`` copies it in), like the progress.
running_job: ContextVar[RunningJob | None] = ContextVar("whisperx_gpu_turn", default=None)


def is_background() -> bool:
    """Whether the current job is background work (the engine then runs it in units)."""
    job = running_job.get()
    return job is not None and job.turn.priority is Priority.BACKGROUND


def between_units() -> None:
    """Called by the engine's thread between two units of a background job.

    Blocks while waiting voice commands use the GPU, then continues; JobCancelled
    when the client cancelled the job or its request ended meanwhile.
    """
    raise_if_cancelled()
    job = running_job.get()
    if job is None or job.turn.priority is not Priority.BACKGROUND:
        return
    if not job.gate.interactive_waiting:
        return
    handed = asyncio.run_coroutine_threadsafe(job.gate.hand_over(job.turn), job.loop)
    try:
        handed.result()
    except concurrent.futures.CancelledError:
        raise JobCancelled("the request ended while its job waited for the GPU") from None
    raise_if_cancelled()
