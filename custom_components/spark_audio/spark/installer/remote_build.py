"""A ``docker build`` that runs detached on the Spark, so it outlives SSH, reloads and restarts.

A cold WhisperX build takes half an hour; Home Assistant reloads an entry on
every options save and restarts on every update. So the build is not a child
of an SSH channel: it runs in its own session (``setsid nohup``) with its
output, pid and exit status in files of one folder on the Spark, and HA only
follows it (``tail`` of the log). After a restart HA finds it there again.

The folder (``<base>/.cache/spark_audio/install``) holds:

- ``pid``: the build's process group; a live one is the Spark's install lock,
  so a second install is refused, from this HA or another one;
- ``log``: everything the build printed; ``exit``: its exit status, written
  last (a build killed from outside has none);
- ``job``: who started it (``OWNER JOB_ID IMAGE``), so only that Spark entry
  takes it up again after a restart.

Every script below is a constant; paths and the docker argv reach it as
positional arguments, so nothing from config becomes shell syntax.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Final

from ..errors import InstallInProgressError, SparkSSHCommandError, SparkSSHConnectionError
from ..remote.ssh import SparkSSH

__all__ = ["STATE_DIR", "BuildRecord", "BuildState", "BuildStatus", "RemoteBuild"]

STATE_DIR: Final = ".cache/spark_audio/install"
"""The install folder, relative to the install's base folder (the login's home by default)."""
_BUSY: Final = 75  # EX_TEMPFAIL: another build holds the lock
_FOLLOW_ATTEMPTS: Final = 2  # a dropped connection is followed again once, from where it stopped
_RECORD_FIELD = re.compile(r"[A-Za-z0-9_.:/-]{1,200}")

# A process counts as alive unless it is gone or a zombie (a Spark's init reaps
# orphans; a container's PID 1 may not, and a zombie must not hold the lock).
_ALIVE = """
alive() { s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }
"""
# Take the lock (a pid file created with noclobber), then start the build in its
# own session; its exit status is written last, through a rename. An empty pid
# file is a launch in progress, unless it is over a minute old.
_LAUNCH = (
    _ALIVE
    + """
dir=$1 record=$2
shift 2
mkdir -p -- "$dir" && cd -- "$dir" || exit 1
if ! (set -C; : > pid) 2>/dev/null; then
  old=$(cat pid 2>/dev/null)
  if [ -z "$old" ] && [ -z "$(find pid -mmin +1 2>/dev/null)" ]; then cat job; exit 75; fi
  if [ -n "$old" ] && [ ! -e exit ] && alive "$old"; then cat job; exit 75; fi
  rm -f pid
  (set -C; : > pid) 2>/dev/null || { cat job; exit 75; }
fi
rm -f exit exit.tmp
printf '%s\\n' "$record" > job
: > log
setsid nohup sh -c '"$@"; echo $? > exit.tmp && mv exit.tmp exit' sh "$@" >> log 2>&1 < /dev/null &
echo $! > pid
"""
)
# running / ended / dead, the exit status, the job record; nothing when no build is recorded.
_STATE = (
    _ALIVE
    + """
cd -- "$1" 2>/dev/null || exit 0
pid=$(cat pid 2>/dev/null) || exit 0
if [ -e exit ]; then state=ended
elif [ -z "$pid" ] || alive "$pid"; then state=running
else state=dead; fi
printf '%s\\n%s\\n%s\\n' "$state" "$(cat exit 2>/dev/null)" "$(cat job 2>/dev/null)"
"""
)
# The log from line $3 on, until the build has ended: tail follows this shell
# ($$), which waits for the build; once it exits, tail prints the rest and ends.
_FOLLOW = (
    _ALIVE
    + """
cd -- "$1" || exit 1
pid=$(cat pid 2>/dev/null)
tail -n "+$2" -s 0.5 --pid=$$ -f log &
while [ ! -e exit ] && [ -n "$pid" ] && alive "$pid"; do sleep 0.5; done
"""
)
# Stop a running build (TERM to its process group, KILL after 10 s) and release the lock.
_STOP = (
    _ALIVE
    + """
group_alive() {
  ps -e -o pgid= -o stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'
}
cd -- "$1" 2>/dev/null || exit 0
pid=$(cat pid 2>/dev/null)
if [ -n "$pid" ] && [ ! -e exit ]; then
  kill -TERM "-$pid" 2>/dev/null
  i=0
  while group_alive "$pid"; do
    i=$((i + 1))
    [ "$i" -eq 100 ] && kill -KILL "-$pid" 2>/dev/null
    if [ "$i" -ge 200 ]; then echo "build $pid would not stop"; exit 1; fi
    sleep 0.1
  done
fi
rm -f pid exit exit.tmp job
"""
)


class BuildStatus(StrEnum):
    """Where the recorded build stands."""

    RUNNING = "running"
    ENDED = "ended"  # it wrote its exit status
    DEAD = "dead"  # gone without one: killed, or the Spark restarted


@dataclass(frozen=True)
class BuildRecord:
    """Who started the build: the HA side's owner key, its job id, and the image it builds."""

    owner: str
    job_id: str
    image: str

    def __post_init__(self) -> None:
        for value in (self.owner, self.job_id, self.image):
            if not _RECORD_FIELD.fullmatch(value):
                raise ValueError(f"not a valid build record field: {value!r}")

    def line(self) -> str:
        """The ``job`` file's one line."""
        return f"{self.owner} {self.job_id} {self.image}"

    @classmethod
    def parse(cls, line: str) -> BuildRecord | None:
        """The record in a ``job`` file's line; None when it is not one."""
        parts = line.split()
        if len(parts) != 3:
            return None
        try:
            return cls(*parts)
        except ValueError:
            return None


@dataclass(frozen=True)
class BuildState:
    """What the Spark's install folder says about the last build."""

    status: BuildStatus
    exit_status: int | None
    record: BuildRecord | None

    @property
    def running(self) -> bool:
        """Whether it holds the lock."""
        return self.status is BuildStatus.RUNNING


class RemoteBuild:
    """The detached build in one install folder on the Spark (see the module docstring)."""

    def __init__(self, ssh: SparkSSH, base_dir: str) -> None:
        """``base_dir``: the absolute folder the install works under (the login's home)."""
        self._ssh = ssh
        self.dir = str(PurePosixPath(base_dir) / STATE_DIR)
        self.lines_seen = 0

    async def state(self) -> BuildState | None:
        """The recorded build, or None when there is none."""
        result = await self._ssh.run(["sh", "-c", _STATE, "sh", self.dir])
        lines = result.stdout.splitlines()
        if not lines:
            return None
        try:
            status = BuildStatus(lines[0].strip())
        except ValueError:
            return None
        exit_text = lines[1].strip() if len(lines) > 1 else ""
        exit_status = int(exit_text) if exit_text.isdigit() else None
        if status is BuildStatus.ENDED and exit_status is None:
            status = BuildStatus.DEAD  # an unreadable status is no status
        record = BuildRecord.parse(lines[2]) if len(lines) > 2 else None
        return BuildState(status, exit_status, record)

    async def launch(self, argv: Sequence[str], record: BuildRecord) -> None:
        """Take the lock and start ``argv`` detached; InstallInProgressError if a build runs."""
        result = await self._ssh.run(
            ["sh", "-c", _LAUNCH, "sh", self.dir, record.line(), *argv], check=False
        )
        if result.exit_status == _BUSY:
            running = BuildRecord.parse(result.stdout.strip())
            job_id = running.job_id if running else "unknown"
            raise InstallInProgressError(
                f"a WhisperX build is already running on {self._ssh.host} (job {job_id})",
                job_id=job_id,
            )
        if result.exit_status != 0:
            detail = result.stderr.strip()[-300:]
            raise SparkSSHCommandError(
                f"could not start the build on {self._ssh.host}: {detail}",
                exit_status=result.exit_status,
                stderr=detail,
            )
        self.lines_seen = 0

    async def follow(self, on_line: Callable[[str], None], *, timeout: float) -> BuildState:
        """Hand each log line to ``on_line`` until the build ends; then its state.

        Lines already handed over are skipped, so following again after a
        dropped connection continues where it stopped. The build itself is
        untouched by anything that happens here.
        """

        def counted(line: str) -> None:
            self.lines_seen += 1
            on_line(line)

        state: BuildState | None = None
        for attempt in range(_FOLLOW_ATTEMPTS):
            try:
                await self._ssh.run_streaming(
                    ["sh", "-c", _FOLLOW, "sh", self.dir, str(self.lines_seen + 1)],
                    counted,
                    timeout=timeout,
                )
            except SparkSSHConnectionError:
                if attempt == _FOLLOW_ATTEMPTS - 1:
                    raise  # the build goes on; whoever follows next starts here
                continue
            state = await self.state()
            if state is None or not state.running:
                break  # a follower cut short while the build runs follows again
        return state or BuildState(BuildStatus.DEAD, None, None)

    async def stop(self) -> None:
        """Stop the build if it runs (its whole process group) and release the lock."""
        result = await self._ssh.run(["sh", "-c", _STOP, "sh", self.dir], check=False)
        if result.exit_status != 0:
            detail = (result.stdout + result.stderr).strip()[-300:]
            raise SparkSSHCommandError(
                f"could not stop the build on {self._ssh.host}: {detail}",
                exit_status=result.exit_status,
                stderr=detail,
            )
