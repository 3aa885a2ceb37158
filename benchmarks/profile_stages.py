"""A process's CPU by request stage, from a cProfile dump (see profile_hook/sitecustomize.py).

Functions in a stage's own modules count for that stage. Everything shared
(aiohttp's streams and helpers, multidict, yarl, the standard library,
builtins such as ``bytes.find``) counts for the stages that called it, in the
proportions cProfile recorded per caller; what no stage called is "event loop,
other". Coroutines are attributed through their await chain (cProfile records a
resumed frame as called by the frame that awaits it).

cProfile's own cost (about a microsecond per call, half of it clocked inside the
callee and half in the caller) is measured here with the same clock and taken
off every function's time, so call-heavy stages are not overstated.
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

type Func = tuple[str, int, str]

HA = "HA: http middlewares, auth, view wrapper"
SERVER = "aiohttp server: HTTP parsing, request, routing"
FORM = "ours: form parsing (multipart_raw, upload_form)"
STREAM = "ours: upload stream (upload, limits)"
VIEW = "ours: view, routing, rendering (the relay's handler)"
WRITER = "ours: outbound writer (clients/multipart, http)"
CLIENT = "aiohttp client: send, connection, read the answer"
RESPONSE = "the response: aiohttp's prepare and write"
LOOP = "event loop, other"
STAGES = (HA, SERVER, FORM, STREAM, VIEW, WRITER, CLIENT, RESPONSE, LOOP)

# (fragment of "path:function", stage); the first match wins. Builtins ("~") match on their name.
_RULES: tuple[tuple[str, str], ...] = (
    ("aiohttp/web_response.py", RESPONSE),
    ("aiohttp/web_protocol.py:finish_response", RESPONSE),
    ("homeassistant/components/http/", HA),
    ("homeassistant/auth/", HA),
    ("homeassistant/helpers/http.py", HA),
    ("/jwt/", HA),
    ("spark_audio/gateway/multipart_raw.py", FORM),
    ("spark_audio/gateway/upload_form.py", FORM),
    ("spark_audio/gateway/upload.py", STREAM),
    ("spark_audio/gateway/limits.py", STREAM),
    ("spark_audio/transcription/spool.py", STREAM),
    ("spark_audio/gateway/", VIEW),
    ("spark_audio/transcription/", VIEW),
    ("spark_audio/spark/transcripts/", VIEW),
    ("spark_audio/data.py", VIEW),
    ("benchmarks/bare_relay.py", VIEW),
    ("spark_audio/spark/clients/", WRITER),
    ("aiohttp/web_", SERVER),
    ("aiohttp/http_parser.py", SERVER),
    ("aiohttp._http_parser", SERVER),
    ("aiohttp/client.py", CLIENT),
    ("aiohttp/client_reqrep.py", CLIENT),
    ("aiohttp/client_proto.py", CLIENT),
    ("aiohttp/connector.py", CLIENT),
    ("aiohttp/tracing.py", CLIENT),
    ("/asyncio/", LOOP),
    ("/selectors.py", LOOP),
)


def _fixed(func: Func) -> str | None:
    where = func[2] if func[0] == "~" else f"{func[0]}:{func[2]}"
    return next((stage for fragment, stage in _RULES if fragment in where), None)


def _noop() -> None:
    """What the calibration calls."""


def _calls(count: int) -> None:
    for _ in range(count):
        _noop()


def _calibration_once(count: int) -> tuple[float, float]:
    start = time.process_time()
    _calls(count)
    bare = time.process_time() - start
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    start = time.process_time()
    _calls(count)
    profiled = time.process_time() - start
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    inside = next(v[2] for k, v in stats.items() if k[2] == "_noop")
    extra = max(0.0, profiled - bare) / count
    return min(inside / count, extra), extra - min(inside / count, extra)


_BIAS: list[tuple[float, float]] = []


def profiler_bias() -> tuple[float, float]:
    """cProfile's seconds per call: clocked in the callee, and in the caller (median of 5)."""
    if not _BIAS:
        runs = [_calibration_once(100_000) for _ in range(5)]
        _BIAS.append((statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)))
    return _BIAS[0]


def stage_cpu(path: Path) -> dict[str, float]:
    """Seconds of CPU per stage in the dump at ``path``, cProfile's own cost taken off."""
    stats: dict[Func, tuple[int, int, float, float, dict[Func, tuple[float, ...]]]]
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    inside, outside = profiler_bias()
    made: dict[Func, int] = defaultdict(int)
    for _, _, _, _, callers in stats.values():
        for caller, entry in callers.items():
            made[caller] += int(entry[0])
    scale = {
        func: max(0.0, own - inside * calls - outside * made[func]) / own if own > 0 else 0.0
        for func, (_, calls, own, _, _) in stats.items()
    }
    shares: dict[Func, dict[str, float]] = {}
    visiting: set[Func] = set()

    def share(func: Func) -> dict[str, float]:
        """How ``func``'s time divides over the stages, by who called it."""
        if (stage := _fixed(func)) is not None:
            return {stage: 1.0}
        if func in shares:
            return shares[func]
        callers = stats[func][4] if func in stats else {}
        weight = sum(entry[3] for entry in callers.values())
        if func in visiting or weight <= 0:
            return {LOOP: 1.0}
        visiting.add(func)
        mix: dict[str, float] = defaultdict(float)
        for caller, entry in callers.items():
            for stage, part in share(caller).items():
                mix[stage] += part * entry[3] / weight
        visiting.discard(func)
        shares[func] = dict(mix)
        return shares[func]

    totals: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    for func, (_, _, own, _, callers) in stats.items():
        if (stage := _fixed(func)) is not None or not callers:
            totals[stage or LOOP] += own * scale[func]
            continue
        for caller, entry in callers.items():
            for stage_name, part in share(caller).items():
                totals[stage_name] += entry[2] * scale[func] * part
    return totals


def stage_table(columns: Iterable[tuple[str, dict[str, float], int]]) -> str:
    """A markdown table: ms of CPU per request by stage, one column per (name, totals, requests)."""
    cols = list(columns)
    lines = [
        "| stage | " + " | ".join(name for name, _, _ in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for stage in (*STAGES, "total"):
        cells = []
        for _, totals, requests in cols:
            seconds = sum(totals.values()) if stage == "total" else totals.get(stage, 0.0)
            cells.append(f"{seconds * 1000 / requests:.3f}")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
