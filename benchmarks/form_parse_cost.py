"""Our form parsing without a profiler: the raw scan alone, and the scan plus aiohttp's re-read.

``gateway/multipart_raw.py`` scans every byte that is not the file (bounded);
``gateway/upload_form.py`` then hands those bytes to aiohttp's MultipartReader
to read the fields. Both run here in-process on the SDK's form (model first) and
curl's (file first), so the cost of each step is measured without cProfile's
per-call overhead, interleaved, median of many rounds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from aiohttp.base_protocol import BaseProtocol
from aiohttp.streams import StreamReader

from custom_components.spark_audio.gateway import multipart_raw, upload_form

BOUNDARY = "0f3c9a7d2b8e4c6a1d5f7e9b3a2c4d6e"
FIELDS = (("model", "parakeet-tdt-0.6b-v3"), ("response_format", "json"))
AUDIO = b"RIFF" + bytes(65532)


def _fields() -> bytes:
    return b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in FIELDS
    )


FILE_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="bench.wav"\r\n'
    "Content-Type: audio/wav\r\n\r\n"
).encode()
END = f"--{BOUNDARY}--\r\n".encode()


def _raw(data: bytes) -> multipart_raw.RawBody:
    loop = asyncio.get_running_loop()
    stream = StreamReader(BaseProtocol(loop), 2**20, loop=loop)
    stream.feed_data(data)
    stream.feed_eof()
    return multipart_raw.RawBody(stream, BOUNDARY.encode())


async def _head_scan(data: bytes) -> None:
    await multipart_raw.read_fields_head(_raw(data), upload_form._is_file_part)


async def _head_read(data: bytes) -> None:
    await upload_form.read_form_head(_raw(data))


async def _tail_scan(data: bytes) -> None:
    await multipart_raw.read_fields_tail(_raw(data), b"")


async def _tail_read(data: bytes) -> None:
    await upload_form.read_fields_after(_raw(data), b"", upload_form.UploadForm())


async def _median_us(step: Callable[[bytes], Awaitable[None]], data: bytes, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        await step(data)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


async def form_parse_costs(rounds: int = 400) -> list[tuple[str, float, float]]:
    """(form, µs for multipart_raw's scan alone, µs for the scan plus upload_form's reading)."""
    model_first = _fields() + FILE_HEAD + AUDIO
    file_first_tail = b"--" + BOUNDARY.encode() + b"\r\n" + _fields()[len(BOUNDARY) + 4 :] + END
    cases = (
        ("model first: fields and file header", _head_scan, _head_read, model_first),
        ("model first: the closing after the file", _tail_scan, _tail_read, END),
        ("file first: file header", _head_scan, _head_read, FILE_HEAD + AUDIO),
        ("file first: fields after the file", _tail_scan, _tail_read, file_first_tail),
    )
    results = []
    for name, scan, read, data in cases:
        scans, reads = [], []
        for _ in range(5):  # interleaved, so the machine's noise hits both alike
            scans.append(await _median_us(scan, data, rounds // 5))
            reads.append(await _median_us(read, data, rounds // 5))
        results.append((name, statistics.median(scans), statistics.median(reads)))
    return results


def form_parse_table(results: list[tuple[str, float, float]]) -> str:
    """Markdown: per form piece, the scan, the scan + aiohttp's re-read, and the difference."""
    lines = [
        "| form piece | multipart_raw scan | + upload_form's aiohttp re-read | re-read alone |",
        "|---|---:|---:|---:|",
    ]
    for name, scan, read in results:
        lines.append(f"| {name} | {scan:.0f} µs | {read:.0f} µs | {read - scan:.0f} µs |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(form_parse_table(asyncio.run(form_parse_costs())))
