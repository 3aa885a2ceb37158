"""The /_sim/* control endpoints every simulated service carries.

They let tests and `scripts/develop` drive faults and read what a service
received, in-process or across the network, without touching the
service's real API surface.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web

from .faults import (
    HANDLER_TASKS_KEY,
    IN_FLIGHT_KEY,
    STATE_KEY,
    ServiceState,
    create_fault_middleware,
    drop_in_flight,
)
from .gpu import GPU_KEY, GpuQueue

_MAX_RESTART_DELAY_S = 600.0


async def _json_body(request: web.Request) -> dict[str, object] | web.Response:
    """The request's JSON object body ({} when empty), or a 400 answer."""
    raw = await request.text()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as err:
        return web.json_response({"error": f"invalid JSON: {err}"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "body must be a JSON object"}, status=400)
    return body


async def _state(request: web.Request) -> web.Response:
    """GET /_sim/state: the knobs and counters."""
    return web.json_response(request.app[STATE_KEY].snapshot())


async def _requests(request: web.Request) -> web.Response:
    """GET /_sim/requests: every recorded request, oldest first."""
    return web.json_response([r.as_json() for r in request.app[STATE_KEY].requests])


async def _control(request: web.Request) -> web.Response:
    """POST /_sim/control: change fault, delays, transcript, voices."""
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    state = request.app[STATE_KEY]
    try:
        state.apply(body)
    except (ValueError, TypeError) as err:
        return web.json_response({"error": str(err)}, status=400)
    return web.json_response(state.snapshot())


async def _restart(request: web.Request) -> web.Response:
    """POST /_sim/restart: like `docker restart`, cure a wedge after `restart_delay_s`.

    The requests in flight are dropped (their connections reset, their GPU
    jobs gone); then the service refuses connections for `restart_delay_s`,
    the time the real container takes to load its models before it listens.
    """
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    delay = body.get("restart_delay_s", 0)
    if (
        isinstance(delay, bool)
        or not isinstance(delay, int | float)
        or not 0 <= delay <= _MAX_RESTART_DELAY_S
    ):
        return web.json_response(
            {"error": f"restart_delay_s must be a number 0..{_MAX_RESTART_DELAY_S:g}"},
            status=400,
        )
    state = request.app[STATE_KEY]
    state.restart(float(delay))
    dropped = drop_in_flight(request.app)
    return web.json_response(state.snapshot() | {"dropped": dropped})


async def _clear(request: web.Request) -> web.Response:
    """POST /_sim/clear: forget recorded requests and upload markers."""
    state = request.app[STATE_KEY]
    state.reset_records()
    return web.json_response(state.snapshot())


def add_control_routes(app: web.Application) -> None:
    """Register the /_sim/* routes on a service app."""
    app.router.add_get("/_sim/state", _state)
    app.router.add_get("/_sim/requests", _requests)
    app.router.add_post("/_sim/control", _control)
    app.router.add_post("/_sim/restart", _restart)
    app.router.add_post("/_sim/clear", _clear)


def new_service_app(
    state: ServiceState, inference_paths: frozenset[str], wedge_body: Mapping[str, str]
) -> web.Application:
    """An app with the state attached, the fault middleware and /_sim routes."""
    app = web.Application(middlewares=[create_fault_middleware(state, inference_paths, wedge_body)])
    app[STATE_KEY] = state
    app[HANDLER_TASKS_KEY] = set()
    app[IN_FLIGHT_KEY] = {}
    app[GPU_KEY] = GpuQueue()
    add_control_routes(app)
    return app
