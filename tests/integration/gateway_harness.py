"""Helpers for the gateway hardening tests: raw multipart bodies, raw sockets, temp files.

Bodies are written by hand because the point is to send what well-behaved
clients never would (no part name, bogus charsets, cut-off bodies).
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant

from custom_components.spark_audio.transcription.limits import active_uploads
from custom_components.spark_audio.transcription.spool import SPOOL_PREFIX
from tests.spark_sim.audio import wav_bytes
from tests.spark_sim.server import SparkSim

type Client = TestClient[web.Request, web.Application]
"""A test client of HA's own HTTP app (the ``gateway`` fixture)."""
BOUNDARY = "HardenedBoundary7MA4YWxk"
BASE = "/api/spark_audio/v1"
T = "audio/transcriptions"
MIB = 1024 * 1024
WAV = wav_bytes(b"\x00\x01" * 16000, 16000)  # one second
WAIT_S = 60.0


def part(
    name: str | None,
    value: bytes | str,
    *,
    filename: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """One multipart part; ``name=None`` leaves the name out."""
    disposition = "form-data"
    if name is not None:
        disposition += f'; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    lines = [f"Content-Disposition: {disposition}"]
    lines += [f"{key}: {val}" for key, val in (headers or {}).items()]
    data = value.encode() if isinstance(value, str) else value
    return f"--{BOUNDARY}\r\n".encode() + "\r\n".join(lines).encode() + b"\r\n\r\n" + data + b"\r\n"


def field(name: str, value: bytes | str, **headers: str) -> bytes:
    """A text field's part, with any extra part headers."""
    return part(name, value, headers=headers or None)


def audio(
    data: bytes = WAV, filename: str = "a.wav", headers: dict[str, str] | None = None
) -> bytes:
    """The file part: ``data`` as audio/wav (one second of audio by default)."""
    return part(
        "file", data, filename=filename, headers={"Content-Type": "audio/wav", **(headers or {})}
    )


def body(*parts: bytes, closed: bool = True) -> bytes:
    """Parts joined, with the closing boundary unless ``closed`` is False."""
    return b"".join(parts) + (f"--{BOUNDARY}--\r\n".encode() if closed else b"")


def form_type() -> str:
    """The Content-Type of ``body()``."""
    return f"multipart/form-data; boundary={BOUNDARY}"


def ours(folder: Path) -> set[str]:
    """Names in the temporary directory."""
    return set(os.listdir(folder))


def child_processes() -> set[int]:
    """PIDs whose parent is this process, zombies (unreaped children) included."""
    found = set()
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Field 4 is the parent PID; the command name (field 2) may contain spaces.
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            found.add(int(entry))
    return found


async def wait_for(condition: Callable[[], Any], what: str) -> None:
    """Wait until ``condition()`` holds; fail (naming ``what``) after a generous deadline.

    Only the failure path depends on the deadline: a busy machine is slower,
    not wrong.
    """
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def open_raw(
    gateway: Client, token: str, head: bytes, content_length: int, path: str = T
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw HTTP request to ``gateway`` whose body is only partly sent (``head``)."""
    host, port = gateway.server.host, gateway.server.port
    assert host is not None
    assert port is not None
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        (
            f"POST {BASE}/{path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: {form_type()}\r\n"
            f"Content-Length: {content_length}\r\n\r\n"
        ).encode()
        + head
    )
    await writer.drain()
    return reader, writer


async def post_form(gateway: Client, *parts: bytes) -> Any:
    """The form ``parts`` posted to the transcriptions view."""
    return await gateway.post(
        f"{BASE}/{T}", data=body(*parts), headers={"Content-Type": form_type()}
    )


def uploads_running(hass: HomeAssistant, count: int) -> Callable[[], bool]:
    """A condition: exactly ``count`` gateway uploads are in progress."""
    return lambda: active_uploads(hass) == count


def assert_openai_error(result: Any, status: int) -> None:
    """OpenAI's error shape, exactly: ``{"error": {message, type, param, code}}``."""
    assert set(result) == {"error"}, result
    error = result["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert "Traceback" not in error["message"]
    assert error["type"] == ("invalid_request_error" if status < 500 else "server_error")


def assert_no_leak(text: str, sim: SparkSim, spool: Path) -> None:
    """No backend address, temp path, spool name or process id in a client-facing answer.

    A PID below 2000 (a container's) is not looked for as a bare number: it would
    match the limits the messages name; spool names (which carry it) still are.
    """
    found = [host for host in (sim.host, "localhost", "/tmp", str(spool), SPOOL_PREFIX)
             if host in text]  # fmt: skip
    found += [f"port {port}" for port in sim.ports.values() if re.search(rf"\b{port}\b", text)]
    found += [p for p in (tempfile.gettempdir(), "ConnectionKey", "Traceback") if p in text]
    if (pid := os.getpid()) >= 2000 and re.search(rf"\b{pid}\b", text):
        found.append(f"pid {pid}")
    assert not found, (found, text)
