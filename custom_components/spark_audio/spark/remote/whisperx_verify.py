"""Run the WhisperX container's own ``python -m app.verify --json`` over SSH and read its report.

The container checks on the Spark what no CI can (CUDA kernels, cuBLAS, both
compute types, alignment, the diarizer, torchcodec) and exits 0 (passed),
1 (a check failed) or 2 (invalid settings); only 0 and 1 carry a report. The
report is bounded here (checks, detail lengths, total size) before anyone
stores it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import SparkError
from .docker import DockerOverSSH

__all__ = ["VERIFY_COMMAND", "VerifyCheck", "VerifyReport", "WhisperXVerifyError", "run_verify"]

VERIFY_COMMAND = ("python", "-m", "app.verify", "--json")
# Two model loads, alignment and diarization: minutes on a cold cache, far less warm.
VERIFY_TIMEOUT_S = 900.0
MAX_OUTPUT_CHARS = 64 * 1024
MAX_CHECKS = 32
MAX_DETAIL_CHARS = 500
_FIELD_CHARS = 64
_DETAIL_CHARS = 300


class WhisperXVerifyError(SparkError):
    """The verify command gave no report (not running, an old image, bad settings)."""

    def __init__(self, message: str, *, exit_status: int) -> None:
        """Keep the exit status for the user's message."""
        super().__init__(message)
        self.exit_status = exit_status


@dataclass(frozen=True, slots=True)
class VerifyCheck:
    """One check's verdict (``passed``, ``failed`` or ``skipped``), what it saw, its time."""

    name: str
    status: str
    detail: str
    seconds: float


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The last verification of a Spark's WhisperX."""

    ran_at: datetime
    passed: bool
    version: str
    model: str
    device: str
    checks: tuple[VerifyCheck, ...]

    @property
    def failed(self) -> list[str]:
        """The names of the failed checks."""
        return [check.name for check in self.checks if check.status == "failed"]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for diagnostics."""
        return {
            "ran_at": self.ran_at.isoformat(),
            "passed": self.passed,
            "version": self.version,
            "model": self.model,
            "device": self.device,
            "checks": [
                {"name": c.name, "status": c.status, "detail": c.detail, "seconds": c.seconds}
                for c in self.checks
            ],
        }

    def as_text(self) -> str:
        """One line per check, as the command prints them."""
        lines = [f"WhisperX {self.version}: model {self.model} on {self.device}"]
        lines += [
            f"{c.status.upper()} {c.name} ({c.seconds:.1f} s): {c.detail}" for c in self.checks
        ]
        return "\n".join(lines)


async def run_verify(docker: DockerOverSSH, container: str, ran_at: datetime) -> VerifyReport:
    """``docker exec CONTAINER python -m app.verify --json`` and its parsed report.

    WhisperXVerifyError when it printed no report; SSH errors as SparkSSHError.
    """
    result = await docker.exec(container, *VERIFY_COMMAND, timeout=VERIFY_TIMEOUT_S)
    said = result.stderr.strip()[-_DETAIL_CHARS:]
    if result.exit_status not in (0, 1):
        raise WhisperXVerifyError(said or "no output", exit_status=result.exit_status)
    try:
        return parse_report(result.stdout, ran_at)
    except ValueError as err:
        message = f"{err}: {said}" if said else str(err)
        raise WhisperXVerifyError(message, exit_status=result.exit_status) from None


def parse_report(stdout: str, ran_at: datetime) -> VerifyReport:
    """The report from the command's last output line; ValueError when it is none."""
    if len(stdout) > MAX_OUTPUT_CHARS:
        raise ValueError(f"the report is larger than {MAX_OUTPUT_CHARS} characters")
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        raw = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        raw = None
    if not isinstance(raw, dict) or not isinstance(raw.get("checks"), list):
        raise ValueError("the command printed no report (is the image older than 0.3.0?)")
    checks = tuple(_check(item) for item in raw["checks"][:MAX_CHECKS] if isinstance(item, dict))
    return VerifyReport(
        ran_at=ran_at,
        passed=raw.get("passed") is True and all(c.status != "failed" for c in checks),
        version=_text(raw.get("version"), _FIELD_CHARS),
        model=_text(raw.get("model"), _FIELD_CHARS),
        device=_text(raw.get("device"), _FIELD_CHARS),
        checks=checks,
    )


def _check(item: dict[str, Any]) -> VerifyCheck:
    seconds = item.get("seconds")
    return VerifyCheck(
        name=_text(item.get("name"), _FIELD_CHARS),
        status=_text(item.get("status"), _FIELD_CHARS),
        detail=_text(item.get("detail"), MAX_DETAIL_CHARS),
        seconds=float(seconds) if isinstance(seconds, int | float) else 0.0,
    )


def _text(value: object, limit: int) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
