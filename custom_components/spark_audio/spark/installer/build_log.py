"""Reading ``docker build --progress=plain`` output: how far a long build is, and why it died.

A cold WhisperX build on a Spark takes tens of minutes, nearly all of it in two
steps: CTranslate2's CUDA compile and the download of the locked torch stack.
Counting BuildKit steps would leave the bar standing still for most of that time,
so each step is weighted by what it runs and the compile advances with ninja's
``[k/n]`` counter. A build that dies is explained from its last lines: an OOM
kill (exit code 137) and a full disk each get their own message.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "TAIL_LINES",
    "BuildProgress",
    "describe_build_failure",
    "dockerfile_step_weights",
    "with_last_lines",
]

TAIL_LINES: Final = 12
"""How many of the last build lines a failure message carries."""

# "#12 [ct2-spark 7/9] RUN cmake ...": a BuildKit vertex starting a Dockerfile step.
_STEP = re.compile(r"^#(\d+) \[([\w.-]+) (\d+)/(\d+)\] (.*)$")
# "#12 DONE 812.3s" / "#12 CACHED": that vertex is finished.
_DONE = re.compile(r"^#(\d+) (?:DONE\b|CACHED\b)")
# "#12 431.2 [117/233] Building CUDA object ...": ninja's counter inside a step.
_NINJA = re.compile(r"^#(\d+) [\d.]+ \[(\d+)/(\d+)\] ")
# Relative cost of a step by what it runs (first match wins); measured shares of a
# cold Spark build: the CUDA compile dominates, then the torch/CUDA wheel downloads.
_WEIGHTS: Final[tuple[tuple[re.Pattern[str], float], ...]] = (
    (re.compile(r"apt-get"), 2.0),
    (re.compile(r"cmake --build|ninja install|\bmake\b"), 40.0),
    (re.compile(r"pip install .*-r requirements"), 12.0),
    (re.compile(r"^FROM "), 3.0),
    (re.compile(r"git clone|pip wheel|nltk"), 1.5),
)
_DEFAULT_WEIGHT = 0.5
# Dockerfile instructions BuildKit shows as numbered steps ("[stage k/n]").
_STEP_INSTRUCTIONS = frozenset({"FROM", "RUN", "COPY", "ADD", "WORKDIR"})
_STAGE_NAME = re.compile(r"\sAS\s+([\w.-]+)\s*$", re.IGNORECASE)
_HOLD_BACK = 0.95  # share reached once every announced step is done (more may follow)

_OOM = re.compile(
    r"exit code: 137|signal: killed|died due to signal 9|Killed signal terminated"
    r"|out of memory|Cannot allocate memory",
    re.IGNORECASE,
)
_DISK = re.compile(r"no space left on device|Errno 28", re.IGNORECASE)


def _weight(instruction: str) -> float:
    for pattern, weight in _WEIGHTS:
        if pattern.search(instruction):
            return weight
    return _DEFAULT_WEIGHT


def dockerfile_step_weights(dockerfile: str) -> dict[str, list[float]]:
    """Each named stage's step weights, in BuildKit's step order (from the Dockerfile text).

    Lets the bar know early that a stage still has its CUDA compile ahead, before
    BuildKit announces that step.
    """
    stages: dict[str, list[float]] = {}
    current: list[float] | None = None
    logical = ""
    for raw in [*dockerfile.splitlines(), ""]:
        line = raw.strip()
        if logical and line.startswith("#"):
            continue  # comments inside a continued instruction
        logical = f"{logical} {line.removesuffix(chr(92))}".strip() if line else logical
        if line.endswith(chr(92)) or not logical:
            continue
        instruction, logical = logical, ""
        keyword = instruction.split(maxsplit=1)[0].upper()
        if keyword == "FROM":
            current = []
            if match := _STAGE_NAME.search(instruction):
                stages[match.group(1)] = current
        if keyword in _STEP_INSTRUCTIONS and current is not None:
            current.append(_weight(instruction))
    return stages


@dataclass
class _Step:
    weight: float
    done: float = 0.0  # 0..1


class BuildProgress:
    """Weighted share of a BuildKit build done, fed line by line."""

    def __init__(self, dockerfile: str | None = None) -> None:
        """Nothing seen yet; ``dockerfile`` (its text) tells the weight of steps to come."""
        self._expected = dockerfile_step_weights(dockerfile) if dockerfile else {}
        # The last stage is always built, even before BuildKit has announced it.
        self._final_stage = next(reversed(self._expected), None)
        self._steps: dict[str, _Step] = {}  # by vertex number
        self._stages: dict[str, int] = {}  # stage -> its step count
        self._announced: dict[str, set[int]] = {}  # stage -> step numbers seen

    def feed(self, line: str) -> float | None:
        """Take one output line; returns the new share done (0..1) when it changed."""
        if match := _STEP.match(line):
            vertex, stage = match.group(1), match.group(2)
            number, steps = int(match.group(3)), int(match.group(4))
            self._stages[stage] = max(self._stages.get(stage, 0), steps)
            self._announced.setdefault(stage, set()).add(number)
            self._steps.setdefault(vertex, _Step(_weight(match.group(5))))
        elif match := _DONE.match(line):
            finished = self._steps.get(match.group(1))
            if finished is None or finished.done == 1.0:
                return None
            finished.done = 1.0
        elif match := _NINJA.match(line):
            running = self._steps.get(match.group(1))
            done, total = int(match.group(2)), int(match.group(3))
            if running is None or not 0 < done <= total:
                return None
            running.done = max(running.done, 0.95 * done / total)
        else:
            return None
        return self.fraction

    def _weight_to_come(self, stage: str, steps: int) -> float:
        """Weight of the stage's steps not announced yet (from the Dockerfile if it matches)."""
        announced = self._announced.get(stage, set())
        expected = self._expected.get(stage)
        if expected is None or len(expected) != steps:
            return (steps - len(announced)) * _DEFAULT_WEIGHT
        return sum(w for number, w in enumerate(expected, start=1) if number not in announced)

    @property
    def fraction(self) -> float:
        """Share done: finished weight over announced weight plus steps still to come."""
        total = sum(s.weight for s in self._steps.values()) + sum(
            self._weight_to_come(stage, steps) for stage, steps in self._stages.items()
        )
        if self._final_stage is not None and self._final_stage not in self._stages:
            total += sum(self._expected[self._final_stage])
        if not total:
            return 0.0
        return _HOLD_BACK * sum(s.weight * s.done for s in self._steps.values()) / total


def with_last_lines(message: str, lines: Iterable[str]) -> str:
    """``message`` followed by the last `TAIL_LINES` build lines (what a user needs to see)."""
    tail = list(deque(lines, maxlen=TAIL_LINES))
    return message + ("\nLast build output:\n" + "\n".join(tail) if tail else "")


def describe_build_failure(status: int, lines: Iterable[str]) -> str:
    """A message saying why ``docker build`` ended with ``status``, with its last lines."""
    tail = list(deque(lines, maxlen=TAIL_LINES))
    text = "\n".join(tail)
    if _DISK.search(text):
        cause = (
            "the Spark ran out of disk space during the build; free space "
            "(e.g. `docker builder prune`) and install again"
        )
    elif status == 137 or _OOM.search(text):
        cause = (
            "the build ran out of memory (a step was killed, exit code 137); stop other "
            "GPU services on the Spark while it builds, then install again"
        )
    else:
        error = next((line for line in reversed(tail) if "ERROR" in line), None)
        cause = error or ""
    message = f"docker build exited with status {status}" + (f": {cause}" if cause else "")
    return with_last_lines(message, tail)
