"""One GPU job at a time, with a bounded queue of waiting jobs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class QueueFull(Exception):
    """Too many jobs are already waiting for the GPU."""


class GpuGate:
    """An asyncio lock with a waiting-room limit."""

    def __init__(self, max_queue: int) -> None:
        self._lock = asyncio.Lock()
        self._max_queue = max_queue
        self._waiting = 0

    @property
    def busy(self) -> bool:
        """Whether a job holds the GPU."""
        return self._lock.locked()

    @property
    def full(self) -> bool:
        """Whether a new job would be refused (GPU busy and waiting room full)."""
        return self._lock.locked() and self._waiting >= self._max_queue

    @property
    def waiting(self) -> int:
        """How many jobs wait for the GPU."""
        return self._waiting

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold the GPU; QueueFull when the waiting room is full."""
        if self.full:
            raise QueueFull
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._lock.release()
