"""OpenAI's error shape: ``{"error": {message, type, param, code}}`` for every failure."""

from __future__ import annotations

from aiohttp import web

from ..transcription.errors import TranscriptionError


class GatewayError(TranscriptionError):
    """A refusal of the HTTP edge itself: a bad form or body, too large, too busy.

    Rendered exactly like the core's errors, so it shares their type.
    """


def bad_request(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    """A 400 in OpenAI's shape."""
    return GatewayError(400, message, param=param, code=code)


def error_response(err: TranscriptionError) -> web.Response:
    """The HTTP answer for ``err``."""
    kind = "invalid_request_error" if err.caller_fault else "server_error"
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after else None
    return web.json_response(
        {"error": {"message": err.message, "type": kind, "param": err.param, "code": err.code}},
        status=err.status,
        headers=headers,
    )
