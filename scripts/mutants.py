"""Apply one-line changes (mutants) where long work is decided, and report which tests catch.

Each mutant replaces one exact fragment in one module of a scratch copy of the checkout (a git
worktree of HEAD, sharing this checkout's .venv), runs the test files that cover that module, and
counts as killed when they fail. A mutant whose fragment is no longer in the code (or is there more
than once) is reported as stale: the table below needs updating, which is as bad as a survivor.

    .venv/bin/python scripts/mutants.py            # every mutant
    .venv/bin/python scripts/mutants.py NAME ...   # some of them
    .venv/bin/python scripts/mutants.py --list

Exit status 1 when any mutant survived or is stale. It takes a few minutes (each mutant runs its
test files once); it is not part of CI.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = "custom_components/spark_audio"
TIMEOUT_S = 900


@dataclass(frozen=True)
class Mutant:
    """One change: ``old`` (exactly once in ``path``) becomes ``new``; ``tests`` must fail."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS = [
    Mutant(
        "restart window 1 h -> 24 h",
        f"{PKG}/restart_policy.py",
        "at >= now - timedelta(hours=1)",
        "at >= now - timedelta(hours=24)",
        ("tests/test_restart_policy.py", "tests/integration/test_recovery.py"),
    ),
    Mutant(
        "a service that is simply down counts as wedged",
        f"{PKG}/spark/clients/probes.py",
        "        return DeepProbeResult(Verdict.DOWN, reason=str(health))",
        "        return DeepProbeResult(Verdict.WEDGED, reason=str(health))",
        ("tests/integration/test_recovery.py", "tests/spark/test_probes.py"),
    ),
    Mutant(
        "no restart guard: a wedge seen during recovery's own restart restarts again",
        f"{PKG}/recovery.py",
        "        if self.restarting:\n            return\n        if not self.policy.allows",
        "        if not self.policy.allows",
        ("tests/integration/test_recovery.py",),
    ),
    Mutant(
        "probes not joined: every caller runs its own inference",
        f"{PKG}/deep_check.py",
        "        if self._in_flight is None or self._in_flight.done():",
        "        if True:",
        ("tests/integration/test_recovery.py", "tests/integration/test_busy_deep_check.py"),
    ),
    Mutant(
        "the installer's health check counts 'models not loaded' as healthy",
        f"{PKG}/spark/clients/whisperx.py",
        "        if not health.ready:\n            return False",
        "        if not health.ready:\n            return True",
        ("tests/spark/test_installer.py",),
    ),
    Mutant(
        "every failed docker rm/inspect read as 'no such container'",
        f"{PKG}/spark/remote/docker.py",
        "        if any(marker in result.stderr for marker in _NO_SUCH_CONTAINER):",
        "        if True:",
        ("tests/spark/test_installer.py", "tests/integration/test_recovery.py"),
    ),
    Mutant(
        "no .part clean-up of the jobs a restart cut short",
        f"{PKG}/transcription/jobs.py",
        "        for job in cut_short:\n"
        "            await self.hass.async_add_executor_job(remove_parts, job.targets)",
        "        for job in cut_short:\n            pass",
        ("tests/integration/test_transcription_jobs.py",),
    ),
    Mutant(
        "the caption writer leaves its part files when a write fails",
        f"{PKG}/transcription/caption_files.py",
        "            with contextlib.suppress(FileNotFoundError):\n                part.unlink()",
        "            pass",
        ("tests/integration/test_caption_files.py", "tests/integration/test_actions.py"),
    ),
    Mutant(
        "a failed spool is not discarded when nothing owns it",
        f"{PKG}/transcription/spool.py",
        "        await writer.discard()",
        "        pass",
        ("tests/integration/test_spool.py", "tests/integration/test_gateway_work.py"),
    ),
]


def run(argv: list[str], cwd: Path, timeout: float | None = None) -> int:
    """A command's exit status, its output hidden."""
    return subprocess.run(
        argv,
        check=False,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=timeout,
    ).returncode


def verdict(mutant: Mutant, scratch: Path) -> str:
    """killed, survived or stale (the fragment is not exactly once in the module)."""
    module = scratch / mutant.path
    original = module.read_text(encoding="utf-8")
    if original.count(mutant.old) != 1:
        return "stale"
    module.write_text(original.replace(mutant.old, mutant.new), encoding="utf-8")
    try:
        argv = [str(ROOT / ".venv/bin/python"), "-m", "pytest", "-x", "-q", *mutant.tests]
        status = run(argv, scratch, TIMEOUT_S)
    except subprocess.TimeoutExpired:
        status = 124  # a hang is a failing test too
    finally:
        module.write_text(original, encoding="utf-8")
    return "survived" if status == 0 else "killed"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    args = parser.parse_args()
    if args.list:
        for mutant in MUTANTS:
            print(f"{mutant.name}: {mutant.path}")
        return 0
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    scratch = Path(tempfile.mkdtemp(prefix="spark_audio_mutants_"))
    worktree = scratch / "tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", "-q", str(worktree), "HEAD"], cwd=ROOT, check=True
    )
    (worktree / ".venv").symlink_to(ROOT / ".venv")
    results: list[tuple[Mutant, str, float]] = []
    try:
        for mutant in chosen:
            started = time.monotonic()
            outcome = verdict(mutant, worktree)
            results.append((mutant, outcome, time.monotonic() - started))
            print(f"{outcome:8}  {mutant.name}  ({results[-1][2]:.0f} s)", flush=True)
    finally:
        run(["git", "worktree", "remove", "--force", str(worktree)], ROOT)
        shutil.rmtree(scratch, ignore_errors=True)
    bad = [m.name for m, outcome, _ in results if outcome != "killed"]
    summary = f"{len(results) - len(bad)} of {len(results)} mutants killed"
    print(summary + (f"; not killed: {', '.join(bad)}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
