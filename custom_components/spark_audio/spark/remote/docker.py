"""Every docker command the integration sends to the Spark, built and parsed here.

Recovery (restart/start/stop/inspect), the WhisperX install (version, info,
build, rm, run, logs) and its on-Spark verification (exec) all go through
`DockerOverSSH`, so argv shapes and Docker's "No such container" answer are
handled in one place. Names are validated before any SSH traffic; no secret
is ever part of a docker command.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum

from ..errors import SparkInvalidNameError, SparkSSHCommandError
from .ssh import CommandResult, SparkSSH

__all__ = ["ContainerState", "DockerOverSSH", "validate_container_name"]

# Docker's own rule for container names.
_CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_CONTAINER_NAME_MAX = 128
_NO_SUCH_CONTAINER = ("No such object", "No such container")
_DOCKER_NEVER_STARTED_YEAR = 1
_DETAIL_CHARS = 300


class ContainerState(StrEnum):
    """The states recovery cares about; Docker's others are OTHER."""

    RUNNING = "running"
    RESTARTING = "restarting"
    EXITED = "exited"
    MISSING = "missing"
    OTHER = "other"


class DockerOverSSH:
    """Docker lifecycle commands on the Spark, run through `SparkSSH`.

    Every method validates the container name before any SSH traffic, so a
    name from config or a service call can never become shell syntax.
    ``docker`` is the command prefix, e.g. ``("sudo", "-n", "docker")`` where
    the login is not in the docker group.
    """

    def __init__(
        self,
        ssh: SparkSSH,
        *,
        docker: Sequence[str] = ("docker",),
        timeout: float | None = None,
    ) -> None:
        """Use `ssh` for transport; ``timeout`` overrides its command timeout."""
        if isinstance(docker, str) or not docker:
            raise ValueError("docker must be a non-empty argv prefix, e.g. ('docker',)")
        self._ssh = ssh
        self._docker = tuple(docker)
        self._timeout = timeout

    async def _docker_run(self, *args: str, check: bool = True) -> CommandResult:
        return await self._ssh.run(self.argv(*args), timeout=self._timeout, check=check)

    def argv(self, *args: str) -> list[str]:
        """The full argv of one docker command: the configured prefix, then ``args``."""
        return [*self._docker, *args]

    async def _unless_missing(self, *args: str) -> CommandResult | None:
        """The command's result; None when Docker answered that the container does not exist."""
        result = await self._docker_run(*args, check=False)
        if result.exit_status == 0:
            return result
        if any(marker in result.stderr for marker in _NO_SUCH_CONTAINER):
            return None
        detail = result.stderr.strip()[-_DETAIL_CHARS:]
        raise SparkSSHCommandError(
            f"`{' '.join(args)}` on {self._ssh.host} exited with status "
            f"{result.exit_status}: {detail}",
            exit_status=result.exit_status,
            stderr=detail,
        )

    async def restart(self, name: str) -> None:
        """``docker restart NAME``: the cure for a CUDA wedge."""
        await self._docker_run("restart", validate_container_name(name))

    async def start(self, name: str) -> None:
        """``docker start NAME``."""
        await self._docker_run("start", validate_container_name(name))

    async def stop(self, name: str) -> None:
        """``docker stop NAME``."""
        await self._docker_run("stop", validate_container_name(name))

    async def _inspect(self, name: str, template: str) -> str | None:
        """One inspect field; None when the container does not exist."""
        result = await self._unless_missing(
            "container", "inspect", "--format", template, validate_container_name(name)
        )
        return None if result is None else result.stdout.strip()

    async def inspect_state(self, name: str) -> ContainerState:
        """The container's ``.State.Status``; MISSING when Docker does not know it."""
        status = await self._inspect(name, "{{.State.Status}}")
        if status is None:
            return ContainerState.MISSING
        try:
            return ContainerState(status)
        except ValueError:
            return ContainerState.OTHER

    async def started_at(self, name: str) -> datetime | None:
        """When the container last started (UTC); None if never or missing.

        Recovery uses it to tell whether a restart really happened.
        """
        value = await self._inspect(name, "{{.State.StartedAt}}")
        if not value:
            return None
        try:
            started = datetime.fromisoformat(value)
        except ValueError:
            return None
        return None if started.year == _DOCKER_NEVER_STARTED_YEAR else started

    async def remove(self, name: str) -> bool:
        """``docker rm -f NAME``; False when there was no such container."""
        return await self._unless_missing("rm", "-f", validate_container_name(name)) is not None

    async def query(self, *args: str) -> str:
        """The output of a read-only command (``version``, ``info``).

        SparkSSHCommandError on failure, carrying the tail of stderr (or of
        stdout when Docker said nothing on stderr) for the user.
        """
        result = await self._docker_run(*args, check=False)
        if result.exit_status != 0:
            detail = (result.stderr.strip() or result.stdout.strip())[-_DETAIL_CHARS:]
            raise SparkSSHCommandError(detail, exit_status=result.exit_status, stderr=detail)
        return result.stdout

    async def logs(self, name: str, *, tail: int = 50) -> list[str]:
        """The container's last ``tail`` output lines (stdout, then stderr); [] if none."""
        result = await self._docker_run(
            "logs", "--tail", str(tail), validate_container_name(name), check=False
        )
        return (result.stdout + result.stderr).splitlines()

    async def exec(self, name: str, *command: str, timeout: float | None = None) -> CommandResult:
        """``docker exec NAME COMMAND...`` in a running container; unchecked.

        The caller reads the exit status and output. ``command`` is fixed by the
        caller, never user input, and carries no secret.
        """
        argv = self.argv("exec", validate_container_name(name), *command)
        return await self._ssh.run(
            argv, timeout=self._timeout if timeout is None else timeout, check=False
        )

    def build_argv(self, tag: str, context_dir: str, build_args: Mapping[str, str]) -> list[str]:
        """``docker build`` with plain progress (one line per step, parsed for the bar).

        The install runs it detached on the Spark (`remote_build`), not on a channel.
        """
        argv = self.argv("build", "--progress=plain", "-t", tag)
        for key, value in build_args.items():
            argv += ["--build-arg", f"{key}={value}"]
        return [*argv, context_dir]

    def run_argv(self, name: str, image: str, options: Sequence[str]) -> list[str]:
        """``docker run -d --name NAME OPTIONS IMAGE``."""
        return [*self.argv("run", "-d", "--name", validate_container_name(name), *options), image]

    async def run_detached(self, argv: Sequence[str]) -> CommandResult:
        """Run a `run_argv` command (unchecked: the caller reports Docker's answer).

        Secrets never go into a container's environment (``docker inspect``
        shows it): they are mounted as files (see `secret_files`).
        """
        return await self._ssh.run(argv, timeout=self._timeout, check=False)


def validate_container_name(name: str) -> str:
    """Return ``name`` if Docker would accept it as a container name, else SparkInvalidNameError.

    Docker's rule is ``[a-zA-Z0-9][a-zA-Z0-9_.-]*``; this also keeps
    shell syntax, spaces, quotes and option-looking names (leading ``-``) out.
    """
    if not isinstance(name, str) or not name:
        raise SparkInvalidNameError("container name must be a non-empty string")
    if len(name) > _CONTAINER_NAME_MAX:
        raise SparkInvalidNameError(
            f"container name is longer than {_CONTAINER_NAME_MAX} characters"
        )
    if not _CONTAINER_NAME.fullmatch(name):
        raise SparkInvalidNameError(
            f"invalid container name {name!r}: use letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name
