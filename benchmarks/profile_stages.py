"""A process's CPU by request stage, from a cProfile dump (see profile_hook/sitecustomize.py).

Functions in a stage's own modules count for that stage. Everything shared
(aiohttp's streams and helpers, multidict, yarl, the standard library,
builtins such as ``bytes.find``) counts for the stages that called it, in the
proportions cProfile recorded per caller; what no stage called is "event loop,
other". Coroutines are attributed through their await chain (cProfile records a
resumed frame as called by the frame that awaits it).

cProfile's own cost (about a microsecond per call, half of it clocked inside the
callee and half in the caller) is calibrated here with the same clock and taken
off every function's time, so call-heavy stages are not overstated; where the
process's CPU without the profiler was measured, that overhead is scaled so the
stages add up to it (the calibration's tight loop catches only part of it).
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
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
    ("spark_audio/transcription/limits.py", STREAM),
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


@dataclass(frozen=True, slots=True)
class StageCost:
    """A stage's time under cProfile, and the part of it the calibration says is cProfile's."""

    profiled: float
    overhead: float

    def real(self, fit: float = 1.0) -> float:
        """Seconds without the profiler, ``fit`` scaling the calibrated overhead."""
        return max(0.0, self.profiled - fit * self.overhead)


def stage_cpu(path: Path) -> dict[str, StageCost]:
    """Seconds of CPU per stage in the dump at ``path``, with cProfile's estimated share."""
    stats: dict[Func, tuple[int, int, float, float, dict[Func, tuple[float, ...]]]]
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    inside, outside = profiler_bias()
    made: dict[Func, int] = defaultdict(int)
    for _, _, _, _, callers in stats.values():
        for caller, entry in callers.items():
            made[caller] += int(entry[0])
    overhead = {
        func: (inside * calls + outside * made[func]) / own if own > 0 else 0.0
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

    profiled: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    spent: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    def add(stage: str, seconds: float, func: Func) -> None:
        profiled[stage] += seconds
        spent[stage] += seconds * overhead[func]

    for func, (_, _, own, _, callers) in stats.items():
        if (stage := _fixed(func)) is not None or not callers:
            add(stage or LOOP, own, func)
            continue
        for caller, entry in callers.items():
            for stage_name, part in share(caller).items():
                add(stage_name, entry[2] * part, func)
    return {stage: StageCost(profiled[stage], spent[stage]) for stage in STAGES}


def stage_table(
    columns: Iterable[tuple[str, dict[str, StageCost], int]], measured: Iterable[float] = ()
) -> str:
    """A markdown table: ms of CPU per request by stage, one column per (name, costs, requests).

    ``measured``: each column's event-loop CPU per request without the profiler (ms). Given,
    cProfile's overhead is scaled so that each column adds up to it (the calibration's
    tight loop does not catch all of it); otherwise the calibrated overhead is taken off.
    """
    cols = list(columns)
    totals = list(measured)
    fits = []
    for index, (_, costs, requests) in enumerate(cols):
        fit = 1.0
        if index < len(totals):
            profiled = sum(c.profiled for c in costs.values())
            spent = sum(c.overhead for c in costs.values())
            fit = max(0.0, (profiled - totals[index] * requests / 1000) / spent) if spent else 1.0
        fits.append(fit)
    lines = [
        "| stage | " + " | ".join(name for name, _, _ in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for stage in (*STAGES, "total"):
        cells = []
        for (_, costs, requests), fit in zip(cols, fits, strict=True):
            chosen = costs.values() if stage == "total" else [costs[stage]]
            seconds = sum(cost.real(fit) for cost in chosen)
            cells.append(f"{seconds * 1000 / requests:.3f}")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    if totals:
        cells = [f"{ms:.2f}" for ms in totals]
        lines.append(
            "| event-loop thread without the profiler (schedstat) | " + " | ".join(cells) + " |"
        )
        cells = [f"{fit:.2f}" for fit in fits]
        lines.append("| cProfile overhead fitted, x calibration | " + " | ".join(cells) + " |")
    return "\n".join(lines)
