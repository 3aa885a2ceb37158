"""The build phase of a WhisperX install: start or take up the detached build, follow it.

Split from `job` so the one long phase reads on its own: the build runs
detached on the Spark (`remote_build`), this side follows its log into the
job's log and progress bar, gives up on a build that hangs or runs too long
(and stops it), and judges how it ended. Cleanup knows what to leave alone:
a build merely lost sight of goes on, the next follower takes it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Final

from ..errors import InstallError, SparkError, SparkSSHTimeoutError
from ..remote.docker import DockerOverSSH
from ..remote.ssh import SparkSSH
from .build_log import TAIL_LINES, BuildProgress, describe_build_failure, with_last_lines
from .config import InstallConfig, validate_base_dir
from .progress import InstallProgress
from .remote_build import BuildRecord, BuildState, BuildStatus, RemoteBuild

__all__ = ["BuildPhase", "remote_base_dir"]

_CLEANUP_TIMEOUT_S: Final = 30.0


class BuildPhase(InstallProgress):
    """The build step and its cleanup; `InstallJob` sets the attributes declared here."""

    ssh: SparkSSH
    docker: DockerOverSSH
    config: InstallConfig
    context_dir: Path
    owner: str
    resume: bool
    remote_dir: str | None
    remote_build: RemoteBuild | None

    def __init__(self, job_id: str, *, secrets: tuple[str | None, ...], log_lines: int) -> None:
        """Nothing built or followed yet."""
        super().__init__(job_id, secrets=secrets, log_lines=log_lines)
        self._build_progress = BuildProgress()
        self._build_tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._last_build_output = 0.0
        self._launched = False  # a remote build of this job exists (started or taken up)
        self._build_over = False  # ...and it has ended
        self._give_up = False  # ...and must be stopped (it hung or ran too long)

    @property
    def image_tag(self) -> str:
        """The tag this job builds and runs."""
        assert self.config.image_tag is not None
        return self.config.image_tag

    @property
    def build_launched(self) -> bool:
        """Whether a remote build of this job exists that a later HA run could take up."""
        return self._launched

    @staticmethod
    async def _shielded(step: Coroutine[Any, Any, None]) -> None:
        cleanup = asyncio.ensure_future(step)
        try:
            await asyncio.shield(cleanup)
        except asyncio.CancelledError:
            # Cancelled again while cleaning: let the cleanup finish first.
            await cleanup

    async def _settle_remote(self, *, stop: bool = False) -> None:
        """Release the Spark's install lock once the build has ended; stop it first if asked.

        A build this job merely lost sight of (the connection dropped while
        following it) goes on: the next follower takes it up.
        """
        remote = self.remote_build
        if remote is None or not self._launched:
            return
        if not (self._build_over or stop or self._give_up):
            self.log(
                f"the build goes on on {self.ssh.host}; it is followed again when "
                "Home Assistant next sets the Spark up"
            )
            return
        try:
            async with asyncio.timeout(_CLEANUP_TIMEOUT_S):
                await remote.stop()
        except (SparkError, TimeoutError) as err:
            self.log(f"could not release the build on {self.ssh.host}: {err}")
            return
        if not self._build_over:
            self.log(f"stopped the build on {self.ssh.host}")
        self._launched = False

    def _build_line(self, line: str) -> None:
        self._last_build_output = time.monotonic()
        self.log(line)
        self._build_tail.append(self._redact(line))
        if (fraction := self._build_progress.feed(line)) is not None:
            self._progress(fraction)

    async def _build(self) -> None:
        assert self.remote_dir is not None
        assert self.remote_build is not None
        dockerfile = await asyncio.to_thread(
            (self.context_dir / "Dockerfile").read_text, encoding="utf-8", errors="replace"
        )
        self._build_progress = BuildProgress(dockerfile)
        if self.resume:
            self.log(f"following the build started before on {self.ssh.host}")
        else:
            argv = self.docker.build_argv(
                self.image_tag, self.remote_dir, {"TARGET": self.config.target}
            )
            record = BuildRecord(self.owner, self.id, self.image_tag)
            await self.remote_build.launch(argv, record)
        self._launched = True
        self._last_build_output = time.monotonic()
        follow = asyncio.ensure_future(
            self.remote_build.follow(self._build_line, timeout=self.config.build_timeout)
        )
        try:
            state = await self._await_unless_idle(follow)
        except SparkSSHTimeoutError:
            self._give_up = True
            raise InstallError(
                with_last_lines(
                    f"docker build did not finish within {self.config.build_timeout:g} s "
                    "and was stopped",
                    self._build_tail,
                )
            ) from None
        finally:
            if not follow.done():
                follow.cancel()  # only the tail stops: the build runs on the Spark
                with contextlib.suppress(asyncio.CancelledError, SparkError):
                    await follow
        if state is None:
            self._give_up = True
            idle = self.config.build_idle_timeout
            raise InstallError(
                with_last_lines(
                    f"docker build printed nothing for {idle:g} s and was stopped; install again",
                    self._build_tail,
                )
            )
        self._build_finished(state)

    def _build_finished(self, state: BuildState) -> None:
        """Raise unless the followed build ended with status 0."""
        if state.status is BuildStatus.RUNNING:
            raise InstallError(
                f"lost sight of the build on {self.ssh.host}; it goes on and is followed "
                "again when Home Assistant next sets the Spark up"
            )
        self._build_over = True
        if state.exit_status is None:
            raise InstallError(
                with_last_lines(
                    f"the build on {self.ssh.host} stopped without an exit status (it was "
                    "killed, or the Spark restarted); install again",
                    self._build_tail,
                )
            )
        if state.exit_status != 0:
            raise InstallError(describe_build_failure(state.exit_status, self._build_tail))

    async def _await_unless_idle(self, build: asyncio.Future[BuildState]) -> BuildState | None:
        """The build's exit status, or None once it has printed nothing for the idle limit."""
        idle = self.config.build_idle_timeout
        while True:
            quiet_for = time.monotonic() - self._last_build_output
            if quiet_for >= idle:
                return None
            done, _ = await asyncio.wait({build}, timeout=idle - quiet_for)
            if done:
                return build.result()


async def remote_base_dir(ssh: SparkSSH, config: InstallConfig) -> str:
    """The folder an install works under: the configured one or the login's $HOME."""
    base = config.remote_base_dir
    if base is None:
        home = await ssh.run(["sh", "-c", 'printf %s "$HOME"'])
        base = home.stdout.strip()
        if not base.startswith("/"):
            raise InstallError(f"remote $HOME is not an absolute path: {base!r}")
        validate_base_dir(base)
    return base
