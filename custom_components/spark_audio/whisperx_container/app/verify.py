"""``python -m app.verify [--json]``: what only a real Spark can prove, checked on the Spark.

Run inside the running container (``docker exec whisperx-asr python -m app.verify``,
which is what the WhisperX device's "Verify on the GPU" button does): CTranslate2's
CUDA kernels and the cuBLAS it loaded, transcription of a bundled speech clip in both
compute types, word alignment, the diarizer (with an HF token) and torchcodec, each
timed. One line per check (``--json``: one JSON object); exit status 0 when nothing
failed (skipped checks do not fail), 1 when a check failed, 2 when the settings are
invalid. It loads its own copies of the models beside the service's, outside the
service's job queue: run it when the Spark has room for a second model.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .config import ConfigError, Settings, read_version
from .verify_checks import FAILED, PASSED, SKIPPED, Skipped, VerifyProbe

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
_DETAIL_CHARS = 500
ProbeFactory = Callable[[Settings], VerifyProbe]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's verdict, what it saw and how long it took."""

    name: str
    status: str
    detail: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Report:
    """Every check of one run."""

    version: str
    model: str
    device: str
    checks: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        """No check failed (skipped ones do not count)."""
        return all(check.status != FAILED for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` form (what Home Assistant stores)."""
        return {
            "passed": self.passed,
            "version": self.version,
            "model": self.model,
            "device": self.device,
            "checks": [asdict(check) for check in self.checks],
        }

    def as_text(self) -> str:
        """One line per check, then the verdict."""
        lines = [f"WhisperX {self.version} verify: model {self.model} on {self.device}"]
        for check in self.checks:
            lines.append(
                f"{check.status.upper():7} {check.name} ({check.seconds:.1f} s): {check.detail}"
            )
        failed = [check.name for check in self.checks if check.status == FAILED]
        lines.append(f"FAILED: {', '.join(failed)}" if failed else "ALL PASSED")
        return "\n".join(lines)


def planned_checks(probe: VerifyProbe) -> list[tuple[str, Callable[[], str]]]:
    """The checks in the order they run: the GPU first, then what builds on it."""
    checks: list[tuple[str, Callable[[], str]]] = [("cuda_kernels", probe.cuda_kernels)]
    for compute_type in probe.compute_types():
        checks.append((f"transcribe_{compute_type}", _bound(probe.transcribe, compute_type)))
    checks += [
        ("alignment", probe.align),
        ("diarization", probe.diarize),
        ("torchcodec", probe.torchcodec),
    ]
    return checks


def _bound(func: Callable[[str], str], arg: str) -> Callable[[], str]:
    return lambda: func(arg)


def run_checks(
    probe: VerifyProbe, version: str, clock: Callable[[], float] = time.perf_counter
) -> Report:
    """Run every check (a failing one does not stop the rest) and time each.

    A probe that cannot even tell its device (torch does not import) gives one
    failed ``device`` check instead of a traceback, so the caller still gets a report.
    """
    started = clock()
    try:
        device, plan = probe.device, planned_checks(probe)
    except Exception as err:
        failed = CheckResult(
            "device", FAILED, _one_line(f"{type(err).__name__}: {err}"), round(clock() - started, 3)
        )
        return Report(version, probe.model, "unknown", (failed,))
    results = [_run_one(name, check, clock) for name, check in plan]
    return Report(version, probe.model, device, tuple(results))


def _run_one(name: str, check: Callable[[], str], clock: Callable[[], float]) -> CheckResult:
    started = clock()
    try:
        detail, status = check(), PASSED
    except Skipped as skipped:
        detail, status = f"skipped: {skipped}", SKIPPED
    except Exception as err:
        detail, status = f"{type(err).__name__}: {err}", FAILED
    return CheckResult(name, status, _one_line(detail), round(clock() - started, 3))


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _DETAIL_CHARS else flat[: _DETAIL_CHARS - 1] + "…"


def _real_probe(settings: Settings) -> VerifyProbe:
    from .verify_engine import WhisperXProbe  # the ML stack only when really verifying

    return WhisperXProbe(settings)


def main(argv: Sequence[str] | None = None, probe_factory: ProbeFactory = _real_probe) -> int:
    """Parse the arguments, run the checks, print the report; the exit status says the verdict."""
    parser = argparse.ArgumentParser(prog="python -m app.verify", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as err:
        print(f"Invalid configuration: {err}", file=sys.stderr)
        return EXIT_CONFIG
    # Whatever the ML stack prints goes to stderr: stdout carries only the report.
    with contextlib.redirect_stdout(sys.stderr):
        report = run_checks(probe_factory(settings), read_version())
    print(json.dumps(report.as_json()) if args.json else report.as_text(), flush=True)
    return EXIT_OK if report.passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
