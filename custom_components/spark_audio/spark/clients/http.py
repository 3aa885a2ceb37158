"""The HTTP plumbing every Spark client shares: requests, timeouts, error mapping."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

import aiohttp

from ..errors import (
    ServiceNotReadyError,
    SparkBackendFaultError,
    SparkConnectionError,
    SparkResponseError,
    SparkTimeoutError,
)
from ..models import ServiceStatus
from .multipart import AudioSource, FormFields, multipart_form

DEFAULT_TIMEOUT = 60.0
HEALTH_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0
_DETAIL_LIMIT = 300
MIB = 1024 * 1024
MAX_STATUS_BYTES = MIB
"""Health, metadata, voice lists, job progress: a few KiB; a poll never reads more than this."""
MAX_RESULT_BYTES = 64 * MIB
"""A transcript as JSON. The longest recording is 12 h (the integration decodes no more);
at a fast 250 words a minute, each word's text, times and speaker (~150 bytes, with its text
again in the segments) make under 30 MB, so this bound leaves twice that and still stops a
reply of gigabytes."""
MAX_ERROR_BYTES = 64 * 1024
"""An error reply's body is only read for its message; the rest is left unread."""
_CHECKING: ContextVar[bool] = ContextVar("spark_check_requests", default=False)


@contextmanager
def check_requests() -> Iterator[None]:
    """Requests made inside are the integration's own checks (probes), not the service's work.

    They are left out of `SparkServiceClient.work_in_flight`, so a deep check
    never takes the round trip running beside it for a busy GPU.
    """
    token = _CHECKING.set(True)
    try:
        yield
    finally:
        _CHECKING.reset(token)


class SparkServiceClient(ABC):
    """Base of the per-service clients: one base URL, one injected session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        host: str,
        port: int,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        scheme: str = "http",
        api_key: str | None = None,
    ) -> None:
        """Remember where the service is; the session belongs to the caller.

        ``api_key`` goes out as ``Authorization: Bearer`` on every request (never logged or
        shown); without one no header is sent.
        """
        self._session = session
        self.base_url = f"{scheme}://{_format_host(host)}:{port}"
        self.timeout = timeout
        self._auth = {aiohttp.hdrs.AUTHORIZATION: f"Bearer {api_key}"} if api_key else {}
        self.work_in_flight = 0
        """Requests other than GETs and checks (the service's work) waiting for answers."""
        self.last_fault: str | None = None
        """The latest 5xx this client received, until a deep check takes it (`take_fault`)."""

    def take_fault(self) -> str | None:
        """The latest 5xx's message since the last call (deep checks weigh it once)."""
        fault, self.last_fault = self.last_fault, None
        return fault

    @abstractmethod
    async def status(self) -> ServiceStatus:
        """What the service says about itself; every client answers the same shape.

        One method for all clients, so callers poll any service without asking
        which one it is (as python-homewizard-energy's clients do behind one base).
        """

    async def fetch_status(self) -> ServiceStatus:
        """``status()``, raising ServiceNotReadyError while the service is still loading."""
        status = await self.status()
        if not status.health.ready:
            raise ServiceNotReadyError(
                status.health.problem or "the service reports it is not ready",
                health=status.health,
            )
        return status

    @asynccontextmanager
    async def _request(
        self,
        method: str,
        path: str,
        *,
        timeout: float | None = None,
        stream: bool = False,
        answered: Collection[int] = (),
        **kwargs: Any,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send one request and map every failure onto the Spark exception tree.

        ``stream=True`` bounds the wait for each read instead of the whole call,
        so a long streamed answer is not cut off while it is still flowing.
        ``answered`` are error statuses whose body the caller reads itself.
        """
        seconds = self.timeout if timeout is None else timeout
        client_timeout = (
            aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=seconds)
            if stream
            else aiohttp.ClientTimeout(total=seconds, sock_connect=CONNECT_TIMEOUT)
        )
        url = f"{self.base_url}{path}"
        if self._auth:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), **self._auth}
        work = method != "GET" and not _CHECKING.get()
        self.work_in_flight += work
        try:
            async with self._session.request(
                method, url, timeout=client_timeout, **kwargs
            ) as response:
                if response.status >= 400 and response.status not in answered:
                    await _raise_for_status(response)
                yield response
        except SparkBackendFaultError as err:
            self.last_fault = str(err)
            raise
        except TimeoutError as err:
            raise SparkTimeoutError(f"{method} {path} timed out after {seconds:g} s") from err
        except aiohttp.ClientError as err:
            raise SparkConnectionError(f"{method} {path} failed: {_describe(err)}") from err
        finally:
            self.work_in_flight -= work

    async def _get_json(self, path: str, *, timeout: float | None = None) -> dict[str, Any]:
        """GET a small JSON object (status, progress: at most `MAX_STATUS_BYTES`)."""
        async with self._request("GET", path, timeout=timeout) as response:
            return await read_json(response, MAX_STATUS_BYTES)

    async def _post_form(
        self,
        path: str,
        fields: FormFields,
        *,
        audio: AudioSource | None = None,
        filename: str = "audio.wav",
        content_type: str = "audio/wav",
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """POST a multipart form (optionally with an audio file) and read JSON."""
        form = multipart_form(fields, audio=audio, filename=filename, content_type=content_type)
        async with self._request("POST", path, data=form, timeout=timeout) as response:
            return await read_json(response)


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, refused once it runs past ``limit`` bytes (a SparkResponseError).

    A fake or hijacked Spark could answer a health poll with gigabytes. The
    declared length is checked first; without one, reading stops one byte past
    the limit (the connection is then closed, not drained).
    """
    declared = response.content_length
    if declared is not None and declared > limit:
        raise _too_large(response, limit)
    body = await _read_start(response, limit + 1)
    if len(body) > limit:
        raise _too_large(response, limit)
    return body


async def _read_start(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most the first ``limit`` bytes of the body (an error's message needs no more)."""
    body = bytearray()
    while len(body) < limit and (chunk := await response.content.read(limit - len(body))):
        body += chunk
    return bytes(body)


def _too_large(response: aiohttp.ClientResponse, limit: int) -> SparkResponseError:
    """The path only: the Spark's address never reaches a client through this message."""
    return SparkResponseError(
        f"{response.url.path} answered more than {_size(limit)}, more than any real reply; refused",
        status=response.status,
    )


def _size(count: int) -> str:
    return f"{count // MIB} MiB" if count % MIB == 0 else f"{count // 1024} KiB"


async def read_json(
    response: aiohttp.ClientResponse, limit: int = MAX_RESULT_BYTES
) -> dict[str, Any]:
    """Parse a JSON object body of at most ``limit`` bytes; anything else is a bad response."""
    body = await read_bounded(response, limit)
    try:
        data = json.loads(body)
    except ValueError as err:
        raise SparkResponseError(
            f"{response.url.path} returned invalid JSON", status=response.status
        ) from err
    if not isinstance(data, dict):
        raise SparkResponseError(
            f"{response.url.path} returned {type(data).__name__}, expected an object",
            status=response.status,
        )
    return data


async def _raise_for_status(response: aiohttp.ClientResponse) -> None:
    """Turn a 4xx/5xx into the matching exception, keeping the server's reason."""
    try:
        start = await _read_start(response, MAX_ERROR_BYTES)
    except aiohttp.ClientError:
        start = b""
    try:
        body = start.decode(response.charset or "utf-8", errors="replace")
    except LookupError:
        body = start.decode("utf-8", errors="replace")
    detail = _detail_from_body(body) or response.reason or ""
    message = f"{response.method} {response.url.path} -> {response.status}: {detail}"
    if response.status >= 500:
        raise SparkBackendFaultError(message, status=response.status)
    raise SparkResponseError(message, status=response.status)


def _detail_from_body(body: str) -> str:
    """The human part of an error body (FastAPI ``detail``, NIM ``error``...)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:_DETAIL_LIMIT]
    if isinstance(data, dict):
        for key in ("detail", "error", "message"):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("message", value)
            if value:
                return str(value)[:_DETAIL_LIMIT]
    return body.strip()[:_DETAIL_LIMIT]


def _describe(err: aiohttp.ClientError) -> str:
    """A short reason without the full repr noise."""
    return str(err) or type(err).__name__


def _format_host(host: str) -> str:
    """Bracket bare IPv6 addresses for use in a URL."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
