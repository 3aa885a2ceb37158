"""Every byte of an upload that is not the file counts against one budget; HA's memory stays flat.

aiohttp 3.11 keeps every header line of a multipart part, so a part whose header
block is megabytes of short lines once grew HA by hundreds of MB. The floods
here are streamed in 64 KiB pieces made on the fly, so the test process's own
peak RSS (HA, the client and the simulated Spark share it) shows what the
gateway kept: the peak is reset just before each request where the kernel
allows it (``/proc/self/clear_refs``), else the resident size after it is used.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.gateway.multipart_raw import (
    MAX_FORM_BYTES,
    MAX_PART_HEADER_LINES,
)
from tests.integration.gateway_harness import (
    BASE,
    BOUNDARY,
    MIB,
    WAV,
    Client,
    T,
    assert_openai_error,
    body,
    form_type,
    ours,
    part,
    uploads_running,
    wait_for,
)

FLOOD_BYTES = 8 * MIB
# Just under the 4 MiB the fields after the file were once buffered to (then parsed at once).
AFTER_FILE_FLOOD_BYTES = 4 * MIB - 128 * 1024
MAX_GROWTH_BYTES = 16 * MIB
MODEL = part("model", "parakeet")
FILE = part("file", WAV, filename="a.wav", headers={"Content-Type": "audio/wav"})


def _status_kib(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        found = re.search(rf"^{key}:\s+(\d+) kB", status.read(), re.MULTILINE)
    assert found is not None, key
    return int(found.group(1)) * 1024


def _reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM); False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


async def _streamed(head: bytes, unit: bytes, size: int, tail: bytes) -> AsyncIterator[bytes]:
    """``head``, then ``unit`` repeated to ``size`` bytes in 64 KiB pieces, then ``tail``."""
    yield head
    piece = unit * (64 * 1024 // len(unit))
    for _ in range(size // len(piece)):
        yield piece
    yield tail


def _part_start(name: str, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()


FLOODS = {
    # (the body before the flood, the repeated unit, its size, the body after it, status, code)
    "part headers before the file": (
        MODEL + _part_start("file", "a.wav"),
        b"ab\r\n",
        FLOOD_BYTES,
        b"\r\n" + WAV + f"\r\n--{BOUNDARY}--\r\n".encode(),
        400,
        "part_headers_too_large",
    ),
    "part headers after the file": (
        MODEL + FILE + _part_start("prompt"),
        b"ab\r\n",
        AFTER_FILE_FLOOD_BYTES,
        f"\r\nhello\r\n--{BOUNDARY}--\r\n".encode(),
        400,
        "part_headers_too_large",
    ),
    "a field after the file": (
        MODEL + FILE + _part_start("prompt") + b"\r\n",
        b"words ",
        FLOOD_BYTES,
        f"\r\n--{BOUNDARY}--\r\n".encode(),
        413,
        "form_too_large",
    ),
    "the preamble": (
        b"",
        b"preamble\r\n",
        FLOOD_BYTES,
        body(MODEL, FILE),
        413,
        "form_too_large",
    ),
}


@pytest.mark.parametrize("flood", list(FLOODS))
async def test_flood_refused_with_memory_flat(
    hass: HomeAssistant,
    gateway: Client,
    init_integration: MockConfigEntry,
    spool: Path,
    flood: str,
) -> None:
    """Megabytes of headers, field or preamble: a 4xx, and HA's memory grows far less than that.

    Before the change the header floods grew the process's peak by about 115 MiB (8 MiB
    before the file) and 40-65 MiB (4 MiB after it); now by 1-2 MiB.
    """
    head, unit, size, tail, status, code = FLOODS[flood]
    peak = _reset_peak()
    before = _status_kib("VmRSS")
    response = await gateway.post(
        f"{BASE}/{T}",
        data=_streamed(head, unit, size, tail),
        headers={"Content-Type": form_type()},
    )
    result = await response.json()
    grown = _status_kib("VmHWM" if peak else "VmRSS") - before
    assert response.status == status, result
    assert_openai_error(result, status)
    assert result["error"]["code"] == code, result
    assert grown < MAX_GROWTH_BYTES, f"RSS grew by {grown // 1024} KiB"
    await wait_for(uploads_running(hass, 0), "the upload to finish")
    assert ours(spool) == set()


async def test_budget_is_shared_before_and_after_the_file(
    hass: HomeAssistant, gateway: Client, init_integration: MockConfigEntry, spool: Path
) -> None:
    """Fields each under their own cap, under the budget on either side, over it together."""
    half = MAX_FORM_BYTES // 2
    fields = [part(f"f{i}", "x" * 60_000) for i in range(half // 60_000 + 1)]
    for data, status in (
        (body(MODEL, *fields, FILE), 200),
        (body(MODEL, FILE, *fields), 200),
        (body(MODEL, *fields, FILE, *fields), 413),
    ):
        response = await gateway.post(
            f"{BASE}/{T}", data=data, headers={"Content-Type": form_type()}
        )
        assert response.status == status, await response.text()
    await wait_for(uploads_running(hass, 0), "the upload to finish")
    assert ours(spool) == set()


async def test_header_lines_up_to_the_cap_are_accepted(
    gateway: Client, init_integration: MockConfigEntry
) -> None:
    """The cap leaves room for clients that send several headers per part."""
    headers = {"Content-Type": "audio/wav"} | {
        f"X-Extra-{i}": "yes" for i in range(MAX_PART_HEADER_LINES - 2)
    }
    data = body(MODEL, part("file", WAV, filename="a.wav", headers=headers))
    response = await gateway.post(f"{BASE}/{T}", data=data, headers={"Content-Type": form_type()})
    assert response.status == 200, await response.text()
