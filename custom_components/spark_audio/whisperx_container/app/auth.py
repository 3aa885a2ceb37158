"""Bearer-key authentication for every path but /health.

The key comes from ``WHISPERX_API_KEY`` or a file named by
``WHISPERX_API_KEY_FILE`` (never a command line). With neither set the app
runs open, so a container installed before keys existed keeps working.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/health"})
_KEY_ENV = "WHISPERX_API_KEY"


class KeyConfigError(ValueError):
    """A secret's settings are unusable (both given, unreadable or empty file)."""


def secret_setting(env: Mapping[str, str], name: str) -> str | None:
    """``name``'s value, or the content of the file ``{name}_FILE`` names; never quotes it.

    The installer mounts secrets as read-only files (``docker inspect`` shows
    a container's environment, not its files); the plain variable stays for
    hand-made containers.
    """
    file_env = f"{name}_FILE"
    direct = env.get(name, "").strip()
    file_name = env.get(file_env, "").strip()
    if direct and file_name:
        raise KeyConfigError(f"set only one of {name} and {file_env}")
    if not file_name:
        return direct or None
    try:
        value = Path(file_name).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise KeyConfigError(
            f"{file_env}={file_name!r} is not readable: {type(err).__name__}"
        ) from None
    if not value:
        raise KeyConfigError(f"{file_env}={file_name!r} is empty")
    return value


def load_api_key(env: Mapping[str, str]) -> str | None:
    """The configured key, or None for an open service; never quotes the key."""
    key = secret_setting(env, _KEY_ENV)
    if key is not None and not all(33 <= ord(c) <= 126 for c in key):
        raise KeyConfigError("the API key must be printable ASCII without spaces")
    return key


def authorized(header: str | None, key: str) -> bool:
    """Whether an ``Authorization`` header carries `key` (constant-time compare)."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), key.encode())


class BearerAuthMiddleware:
    """Checks the key from headers alone, before any body byte is read."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap `app`; the key is read from the started service."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 401 without the key; pass everything else on."""
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        service = getattr(scope["app"].state, "service", None)
        key = None if service is None else service.settings.api_key
        if key is not None:
            header = next(
                (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None
            )
            if not authorized(header, key):
                response = JSONResponse(
                    {"detail": "missing or wrong API key (Authorization: Bearer <key>)"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
