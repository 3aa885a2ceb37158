"""Our form parsing without a profiler: now against a git revision of it, in the same run.

``gateway/multipart_raw.py`` and ``gateway/upload_form.py`` as they are now (one
scan builds the fields) and as they were at a git revision (default: before
that, when aiohttp's MultipartReader read the scanned bytes a second time) read
the SDK's form (model first) and curl's (file first) in-process, interleaved,
median of many rounds, so each step's cost shows without cProfile's per-call
overhead.

Run: .venv/bin/python -m benchmarks.form_parse_cost [--revision REV] [--rounds N]
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.base_protocol import BaseProtocol
from aiohttp.streams import StreamReader

from custom_components.spark_audio.gateway import multipart_raw, upload_form

from .common import run_against_revision

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "custom_components.spark_audio.gateway"
GATEWAY = "custom_components/spark_audio/gateway"
BEFORE = "6f0c6da"
"""The last revision whose upload_form re-read the form with aiohttp's MultipartReader."""
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


def _module_at(revision: str, name: str, replace: tuple[str, str] | None = None) -> Any:
    """``gateway/<name>.py`` at ``revision``, loaded into the gateway package under a new name."""
    source = subprocess.run(
        ["git", "show", f"{revision}:{GATEWAY}/{name}.py"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if replace is not None:
        source = source.replace(*replace)
    module_name = f"{PACKAGE}._{name}_at_{revision}"
    module = types.ModuleType(module_name)
    module.__package__ = PACKAGE
    sys.modules[module_name] = module  # dataclasses look their module up while they are made
    exec(compile(source, f"{revision}:{GATEWAY}/{name}.py", "exec"), module.__dict__)
    return module


def modules_at(revision: str) -> tuple[Any, Any]:
    """(multipart_raw, upload_form) as they were at ``revision``."""
    raw = _module_at(revision, "multipart_raw")
    form = _module_at(
        revision,
        "upload_form",
        ("from .multipart_raw import", f"from ._multipart_raw_at_{revision} import"),
    )
    return raw, form


def _stream(data: bytes) -> StreamReader:
    loop = asyncio.get_running_loop()
    stream = StreamReader(BaseProtocol(loop), 2**20, loop=loop)
    stream.feed_data(data)
    stream.feed_eof()
    return stream


type Step = Callable[[bytes], Awaitable[object]]


def steps(raw: Any, form: Any) -> tuple[Step, Step]:
    """Reading a form's head (fields and file header) and its tail, with these modules."""

    async def head(data: bytes) -> object:
        return await form.read_form_head(raw.RawBody(_stream(data), BOUNDARY.encode()))

    async def tail(data: bytes) -> object:
        body = raw.RawBody(_stream(data), BOUNDARY.encode())
        return await form.read_fields_after(body, b"", form.UploadForm())

    return head, tail


async def _median_us(step: Step, data: bytes, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        await step(data)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


async def form_parse_costs(
    rounds: int = 400, revision: str = BEFORE
) -> list[tuple[str, float, float]]:
    """(form piece, µs at ``revision``, µs now), interleaved so noise hits both alike."""
    old_head, old_tail = steps(*modules_at(revision))
    new_head, new_tail = steps(multipart_raw, upload_form)
    model_first = _fields() + FILE_HEAD + AUDIO
    file_first_tail = b"--" + BOUNDARY.encode() + b"\r\n" + _fields()[len(BOUNDARY) + 4 :] + END
    cases = (
        ("model first: fields and file header", old_head, new_head, model_first),
        ("model first: the closing after the file", old_tail, new_tail, END),
        ("file first: file header", old_head, new_head, FILE_HEAD + AUDIO),
        ("file first: fields after the file", old_tail, new_tail, file_first_tail),
    )
    results = []
    for name, old, new, data in cases:
        befores, afters = [], []
        for _ in range(5):
            befores.append(await _median_us(old, data, rounds // 5))
            afters.append(await _median_us(new, data, rounds // 5))
        results.append((name, statistics.median(befores), statistics.median(afters)))
    return results


def form_parse_table(results: list[tuple[str, float, float]], revision: str = BEFORE) -> str:
    """Markdown: per form piece, the reading at ``revision``, now, and the difference."""
    lines = [
        f"| form piece | before ({revision}: scan + aiohttp's re-read) | now (one scan) | saved |",
        "|---|---:|---:|---:|",
    ]
    for name, before, now in results:
        lines.append(f"| {name} | {before:.0f} µs | {now:.0f} µs | {before - now:.0f} µs |")
    return "\n".join(lines)


async def _print_costs(rounds: int, revision: str) -> None:
    print(form_parse_table(await form_parse_costs(rounds, revision), revision))


def main() -> None:
    """Print the table for the chosen revision."""
    run_against_revision(__doc__ or "", _print_costs, BEFORE)


if __name__ == "__main__":
    main()
