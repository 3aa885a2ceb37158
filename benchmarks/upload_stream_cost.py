"""The upload stream's CPU per chunk: now against a git revision of it, in the same run.

``gateway/upload.py`` as it is now (each chunk passes through one generator, the
first chunk is not copied) and as it was at a git revision (default: before, when
it passed through four or five async-generator layers and a helper coroutine)
hand the same 1 MB file part on, in the 256 KiB chunks a busy loopback delivers,
from a connection that answers at once (so only the stream's own CPU is timed),
fields before the file (the SDK) and after it (curl), interleaved, median of many
rounds. The clock runs from the file part's first bytes (``Upload.begin``, which
sniffs them) to its end; the form before it is read first and the fields after it
not at all (``form_parse_cost`` times those), so the figures are the stream's
layers and ``multipart_raw.part_body``'s boundary search, which both versions share.

Run: .venv/bin/python -m benchmarks.upload_stream_cost [--revision REV] [--rounds N]
"""

from __future__ import annotations

import statistics
import time
from typing import Any, cast

from homeassistant.core import HomeAssistant

from custom_components.spark_audio.gateway import multipart_raw, upload, upload_form
from custom_components.spark_audio.transcription.limits import UploadLimits

from .common import run_against_revision
from .form_parse_cost import BEFORE, BOUNDARY, END, FILE_HEAD, _fields, _module_at, modules_at

CHUNK = 256 * 1024  # what asyncio reads per call on a busy loopback (selector max_size)
MB = 1024 * 1024
LIMITS = UploadLimits(max_upload_bytes=1024 * MB, max_concurrent_uploads=4)


class Connection:
    """A request body already received, handed out one network chunk per read."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks[::-1]

    async def readany(self) -> bytes:
        return self._chunks.pop() if self._chunks else b""


def body(file_first: bool) -> list[bytes]:
    """A form with a 1 MB file, cut into network chunks."""
    fields = _fields()
    head = FILE_HEAD if file_first else fields + FILE_HEAD
    tail = b"\r\n" + (fields if file_first else b"") + END
    data = head + b"RIFF" + bytes(MB - 4) + tail
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


async def _no_fields(raw: object, after: bytes, form: object) -> None:
    """The fields after the file, not read: both versions skip the same work."""


async def stream_once(modules: tuple[Any, Any, Any], chunks: list[bytes]) -> float:
    """Seconds to hand the file on: ``Upload.begin`` (its first chunk) and ``chunks()``."""
    raw_module, form_module, upload_module = modules
    raw = raw_module.RawBody(Connection(chunks), BOUNDARY.encode())
    form = await form_module.read_form_head(raw)
    received = upload_module.Upload(cast(HomeAssistant, None), LIMITS)
    start = time.perf_counter()  # from the file part's first bytes (begin reads and sniffs them)
    await received.begin(form, ("model",), raw, forward_early=True)
    received._keep_copy = False  # one Spark with Parakeet only: nothing to replay, no spool
    async for _ in received.chunks():
        pass
    took = time.perf_counter() - start
    await received.close()
    return took


async def upload_stream_costs(
    rounds: int = 400, revision: str = BEFORE
) -> list[tuple[str, float, float]]:
    """(form order, µs per 1 MB at ``revision``, µs now), interleaved."""
    old_raw, old_form = modules_at(revision)
    old_upload = _module_at(
        revision,
        "upload",
        ("from .upload_form import", f"from ._upload_form_at_{revision} import"),
    )
    # upload.py imports multipart_raw too: the old one, so its RawBody matches its form reader.
    old_upload.RawBody = old_raw.RawBody
    old_upload.part_body = old_raw.part_body
    old = (old_raw, old_form, old_upload)
    new = (multipart_raw, upload_form, upload)
    now: Any = upload  # its imported names, patched for the run
    saved = now.read_fields_after
    old_upload.read_fields_after = now.read_fields_after = _no_fields
    try:
        return await _interleaved(old, new, rounds)
    finally:
        now.read_fields_after = saved


async def _interleaved(
    old: tuple[Any, Any, Any], new: tuple[Any, Any, Any], rounds: int
) -> list[tuple[str, float, float]]:
    results = []
    for order, first in (("model first (SDK)", False), ("file first", True)):
        chunks = body(first)
        befores, afters = [], []
        for _ in range(rounds):
            befores.append(await stream_once(old, chunks))
            afters.append(await stream_once(new, chunks))
        results.append((order, statistics.median(befores) * 1e6, statistics.median(afters) * 1e6))
    return results


def upload_stream_table(results: list[tuple[str, float, float]], revision: str = BEFORE) -> str:
    """Markdown: per form order, µs per 1 MB (256 KiB chunks) before, now, and per 200 MB."""
    lines = [
        f"| form order | before ({revision}) per 1 MB | now per 1 MB | saved per 1 MB "
        "| saved per 200 MB |",
        "|---|---:|---:|---:|---:|",
    ]
    for order, before, now in results:
        lines.append(
            f"| {order} | {before:.0f} µs | {now:.0f} µs | {before - now:.0f} µs "
            f"| {(before - now) * 200 / 1000:.1f} ms |"
        )
    return "\n".join(lines)


async def _print_costs(rounds: int, revision: str) -> None:
    print(upload_stream_table(await upload_stream_costs(rounds, revision), revision))


def main() -> None:
    """Print the table for the chosen revision."""
    run_against_revision(__doc__ or "", _print_costs, BEFORE)


if __name__ == "__main__":
    main()
