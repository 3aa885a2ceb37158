"""Run the simulated Spark services on loopback inside the current loop.

Stopping a service closes its listening socket, so clients see a real
"connection refused" (the container is gone), and starting it again binds
the same port (the container came back).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Self

from aiohttp import web

from . import magpie, parakeet, whisperx
from .faults import HANDLER_TASKS_KEY, ServiceState
from .gpu import GPU_KEY, GpuQueue

type AppFactory = Callable[[ServiceState], web.Application]

_FACTORIES: dict[str, AppFactory] = {
    "parakeet": parakeet.create_parakeet_app,
    "magpie": magpie.create_magpie_app,
    "whisperx": whisperx.create_whisperx_app,
}
_DEFAULT_STATES: dict[str, Callable[[], ServiceState]] = {
    "parakeet": parakeet.default_state,
    "magpie": magpie.default_state,
    "whisperx": whisperx.default_state,
}
# In-flight handlers get this long before a stopped service cancels them.
_SHUTDOWN_TIMEOUT_S = 0.25


class SparkSim:
    """The three services of one simulated DGX Spark."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        parakeet_port: int = 0,
        magpie_port: int = 0,
        whisperx_port: int = 0,
        with_whisperx: bool = True,
    ) -> None:
        """Prepare states; nothing listens until `start()`."""
        self.host = host
        wanted = {
            "parakeet": parakeet_port,
            "magpie": magpie_port,
            "whisperx": whisperx_port,
        }
        names = [n for n in _FACTORIES if with_whisperx or n != "whisperx"]
        self._ports: dict[str, int] = {n: wanted[n] for n in names}
        self._states: dict[str, ServiceState] = {n: _DEFAULT_STATES[n]() for n in names}
        self._runners: dict[str, web.AppRunner] = {}

    @property
    def ports(self) -> dict[str, int]:
        """Bound port per service (the requested port before first start)."""
        return dict(self._ports)

    @property
    def states(self) -> dict[str, ServiceState]:
        """Live state per service; mutate it to inject faults."""
        return self._states

    def url(self, name: str) -> str:
        """Base URL of one service, e.g. http://127.0.0.1:41234."""
        return f"http://{self.host}:{self._ports[name]}"

    @property
    def urls(self) -> dict[str, str]:
        """Base URL per service."""
        return {name: self.url(name) for name in self._ports}

    def gpu(self, name: str) -> GpuQueue:
        """The GPU queue of a running service (``finish_running`` ends a long job now)."""
        return self._runners[name].app[GPU_KEY]

    def is_running(self, name: str) -> bool:
        """Whether the service is listening."""
        return name in self._runners

    async def start(self) -> None:
        """Start every service."""
        for name in self._ports:
            await self.start_service(name)

    async def stop(self) -> None:
        """Stop every service."""
        for name in list(self._runners):
            await self.stop_service(name)

    async def start_service(self, name: str) -> None:
        """Listen again (on the same port once one was bound)."""
        if name not in self._states:
            raise KeyError(f"unknown or disabled service {name!r}")
        if name in self._runners:
            return
        runner = web.AppRunner(
            _FACTORIES[name](self._states[name]),
            access_log=None,
            shutdown_timeout=_SHUTDOWN_TIMEOUT_S,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._ports[name], reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._ports[name] = int(runner.addresses[0][1])
        self._runners[name] = runner

    async def stop_service(self, name: str) -> None:
        """Close the service: new connections are refused."""
        if name not in self._states:
            raise KeyError(f"unknown or disabled service {name!r}")
        runner = self._runners.pop(name, None)
        if runner is None:
            return
        app = runner.app
        await runner.cleanup()
        # Handlers whose clients already hung up are not tracked by aiohttp.
        leftovers = [t for t in app[HANDLER_TASKS_KEY] if not t.done()]
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=_SHUTDOWN_TIMEOUT_S)

    async def __aenter__(self) -> Self:
        """Start on entry."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop on exit."""
        await self.stop()
