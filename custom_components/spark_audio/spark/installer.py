"""The WhisperX install job: ship the build context, build, replace, run, wait healthy.

A first install must work without a shell on the Spark, so this drives the
whole thing over `SparkSSH`: one tar stream of the build context, ``docker
build`` with every output line streamed into a bounded log, then the old
container is swapped for the new one and the job waits until the service says
its models are loaded. It is HA-free: the caller injects the health check and
how background tasks are created, and watches the job through listeners or
`InstallJob.updates`.

Rules kept here:

- every name, port and size is validated before any SSH traffic; commands are
  argv lists, so nothing from config becomes shell syntax;
- the HF token and the service's API key reach the Spark on stdin, into files
  only the container's user may read, mounted read-only (``secret_files``): never
  on a command line, in the container's environment, the log or an error;
- a failure or cancel after the old container was removed also removes the
  half-created new one; before that, the running service is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any, Final

import aiohttp

from .build_log import TAIL_LINES, BuildProgress, describe_build_failure, with_last_lines
from .buildcontext import DEFAULT_EXCLUDES, build_context_tar, read_context_version, tar_size
from .docker import DockerOverSSH
from .errors import InstallError, SparkError, SparkSSHCommandError, SparkSSHError
from .install_config import InstallConfig, validate_base_dir, validate_image_tag
from .install_progress import CONTAINER_PHASES, Cancelled, InstallProgress, Phase
from .secret_files import write_secret_files
from .ssh import SparkSSH
from .whisperx import HealthCheck

__all__ = ["BUILD_DIR_NAME", "LOG_LINES", "SECRETS_DIR_NAME", "InstallJob"]

_LOGGER = logging.getLogger(__name__)

BUILD_DIR_NAME: Final = "spark-audio-whisperx-build"
SECRETS_DIR_NAME: Final = "spark-audio-whisperx-secrets"
LOG_LINES: Final = 2000
_CLEANUP_TIMEOUT_S = 30.0
_GIB = 1024**3


class InstallJob(InstallProgress):
    """One install run, observable while it runs and inspectable after.

    `run()` never raises for install failures: it ends in DONE, FAILED (with
    ``error``) or CANCELLED, keeping the log. A new job can always be started
    after it; the remote steps are idempotent.
    """

    def __init__(
        self,
        ssh: SparkSSH,
        config: InstallConfig,
        context_dir: Path,
        health_check: HealthCheck,
        *,
        job_id: str | None = None,
        log_lines: int = LOG_LINES,
    ) -> None:
        """Validate everything up front; nothing touches SSH until `run()`."""
        super().__init__(
            job_id or uuid.uuid4().hex,
            secrets=(config.hf_token, config.api_key),
            log_lines=log_lines,
        )
        self.ssh = ssh
        self.docker = DockerOverSSH(ssh, docker=config.docker)
        self.context_dir = Path(context_dir)
        if config.image_tag is None:
            tag = f"spark-audio/whisperx:{read_context_version(self.context_dir)}"
            validate_image_tag(tag)
            config = replace(config, image_tag=tag)
        if not (self.context_dir / "Dockerfile").is_file():
            raise ValueError(f"build context {self.context_dir} has no Dockerfile")
        self.config = config
        self._health_check = health_check
        self.tar_bytes: int | None = None  # size of the uploaded build context
        self.remote_dir: str | None = None
        self._build_progress = BuildProgress()
        self._build_tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._last_build_output = 0.0

    def __repr__(self) -> str:
        return f"InstallJob({self.id}, {self.ssh.host}, {self.phase}, {self.percent:.0f}%)"

    # State -------------------------------------------------------------------

    @property
    def image_tag(self) -> str:
        """The tag this job builds and runs."""
        assert self.config.image_tag is not None
        return self.config.image_tag

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready status (for a status endpoint or diagnostics); no secrets."""
        return {
            "job_id": self.id,
            "host": self.ssh.host,
            "phase": str(self.phase),
            "percent": round(self.percent, 1),
            "elapsed": round(self.elapsed, 1),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "failed_phase": str(self.failed_phase) if self.failed_phase else None,
            "image": self.image_tag,
            "container": self.config.container_name,
            "port": self.config.host_port,
            "tar_bytes": self.tar_bytes,
            "log_lines": self.total_lines,
        }

    async def run(self) -> Phase:
        """Do the install; returns the terminal phase. Call once."""
        if self._task is not None or self.started_at is not None:
            raise RuntimeError("an InstallJob runs only once")
        self._task = asyncio.current_task()
        self.started_at = time.time()
        self._started_mono = self._phase_started = time.monotonic()
        try:
            if self._cancel_requested:
                raise Cancelled
            await self._steps()
        except (Cancelled, asyncio.CancelledError) as err:
            external = isinstance(err, asyncio.CancelledError) and not self._cancel_requested
            if isinstance(err, asyncio.CancelledError) and self._task is not None:
                self._task.uncancel()
            await self._cleanup_after(Phase.CANCELLED, "cancelled")
            if external:
                self._finish()
                raise
        except SparkError as err:
            await self._cleanup_after(Phase.FAILED, str(err))
        except Exception as err:
            _LOGGER.exception("WhisperX install on %s failed unexpectedly", self.ssh.host)
            await self._cleanup_after(Phase.FAILED, f"unexpected error: {err!r}")
        else:
            self._set_phase(Phase.DONE)
            self.log(f"WhisperX {self.image_tag} is running and healthy")
        self._finish()
        return self.phase

    async def _cleanup_after(self, outcome: Phase, message: str) -> None:
        """Record why the job ended and remove a half-made container, shielded from cancel."""
        failed_in = self.phase
        message = self._redact(message)
        verb = "cancelled" if outcome is Phase.CANCELLED else "failed"
        self.log(f"{verb} during {failed_in.value}: {message}")
        if failed_in in CONTAINER_PHASES:
            cleanup = asyncio.ensure_future(self._remove_container())
            try:
                await asyncio.shield(cleanup)
            except asyncio.CancelledError:
                # Cancelled again while cleaning: let the cleanup finish first.
                await cleanup
        if outcome is Phase.FAILED:
            self.error = message
            self.failed_phase = failed_in
            _LOGGER.warning("WhisperX install on %s failed: %s", self.ssh.host, message)
        self._set_phase(outcome)

    async def _remove_container(self) -> None:
        try:
            async with asyncio.timeout(_CLEANUP_TIMEOUT_S):
                await self._rm_container()
        except (SparkError, TimeoutError) as err:
            self.log(f"could not remove container {self.config.container_name}: {err}")

    # Steps ---------------------------------------------------------------------

    async def _steps(self) -> None:
        self._set_phase(Phase.CONNECT)
        self.log(f"connecting to {self.ssh!r}")
        await self.ssh.run(["true"])

        self._set_phase(Phase.PREFLIGHT)
        await self._preflight()

        self._set_phase(Phase.UPLOAD)
        await self._upload()

        self._set_phase(Phase.BUILD)
        await self._build()

        self._set_phase(Phase.REPLACE)
        await self._rm_container()

        self._set_phase(Phase.RUN)
        await self._docker_run()

        self._set_phase(Phase.WAIT_HEALTHY)
        await self._wait_healthy()

    async def _preflight(self) -> None:
        config = self.config
        version = await self._query_docker(
            "version", "--format", "{{.Server.Version}}", what="Docker is not usable"
        )
        self.log(f"docker engine {version.strip() or 'unknown'}")
        runtimes = await self._query_docker(
            "info", "--format", "{{json .Runtimes}}", what="cannot read Docker's runtimes"
        )
        if "nvidia" not in runtimes:
            raise InstallError(
                "Docker has no NVIDIA runtime (install nvidia-container-toolkit and "
                f"register it with Docker); runtimes: {runtimes.strip()[:200]}"
            )
        self.log("NVIDIA container runtime present")
        base = config.remote_base_dir
        if base is None:
            home = await self.ssh.run(["sh", "-c", 'printf %s "$HOME"'])
            base = home.stdout.strip()
            if not base.startswith("/"):
                raise InstallError(f"remote $HOME is not an absolute path: {base!r}")
            validate_base_dir(base)
        self.remote_dir = str(PurePosixPath(base) / BUILD_DIR_NAME)
        await self.ssh.run(["mkdir", "-p", "--", base])
        df = await self.ssh.run(["df", "-Pk", "--", base])
        free_gib = _df_free_kib(df.stdout) * 1024 / _GIB
        self.log(f"{free_gib:.1f} GiB free in {base} (need {config.min_free_gib:g})")
        if free_gib < config.min_free_gib:
            raise InstallError(
                f"only {free_gib:.1f} GiB free in {base} on {self.ssh.host}; "
                f"the WhisperX build needs {config.min_free_gib:g} GiB"
            )

    async def _query_docker(self, *args: str, what: str) -> str:
        try:
            return await self.docker.query(*args)
        except SparkSSHCommandError as err:
            raise InstallError(f"{what} on {self.ssh.host}: {err.stderr}") from None

    async def _upload(self) -> None:
        assert self.remote_dir is not None
        excludes = DEFAULT_EXCLUDES
        total = await asyncio.to_thread(tar_size, self.context_dir, excludes=excludes)
        self.log(f"sending {self.context_dir.name}/ ({total:,} bytes of tar) to {self.remote_dir}")
        # A clean folder: files removed from the context must not linger in the build.
        await self.ssh.run(["rm", "-rf", "--", self.remote_dir])
        sent = 0

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal sent
            source = build_context_tar(self.context_dir, excludes=excludes)
            try:
                while (chunk := await asyncio.to_thread(next, source, None)) is not None:
                    sent += len(chunk)
                    self._progress(sent / total if total else 1.0)
                    yield chunk
            finally:
                # Still running in a worker thread after a cancel: then GC closes it.
                with contextlib.suppress(ValueError):
                    source.close()

        await self.ssh.upload_tar_stream(
            self.remote_dir, chunks(), timeout=self.config.upload_timeout
        )
        if sent != total:
            raise InstallError(f"build context changed while uploading ({sent} != {total} bytes)")
        self.tar_bytes = sent
        self.log(f"uploaded {sent:,} bytes")

    def _build_line(self, line: str) -> None:
        self._last_build_output = time.monotonic()
        self.log(line)
        self._build_tail.append(self._redact(line))
        if (fraction := self._build_progress.feed(line)) is not None:
            self._progress(fraction)

    async def _build(self) -> None:
        assert self.remote_dir is not None
        dockerfile = await asyncio.to_thread(
            (self.context_dir / "Dockerfile").read_text, encoding="utf-8", errors="replace"
        )
        self._build_progress = BuildProgress(dockerfile)
        self._last_build_output = time.monotonic()
        build = asyncio.ensure_future(
            self.docker.build(
                self.image_tag,
                self.remote_dir,
                {"TARGET": self.config.target},
                self._build_line,
                timeout=self.config.build_timeout,
            )
        )
        try:
            status = await self._await_unless_idle(build)
        finally:
            if not build.done():
                build.cancel()  # closes the channel: a build that writes again stops
                with contextlib.suppress(asyncio.CancelledError, SparkError):
                    await build
        if status is None:
            idle = self.config.build_idle_timeout
            raise InstallError(
                with_last_lines(
                    f"docker build printed nothing for {idle:g} s and was given up; "
                    "look on the Spark for a stuck build, then install again",
                    self._build_tail,
                )
            )
        if status != 0:
            raise InstallError(describe_build_failure(status, self._build_tail))

    async def _await_unless_idle(self, build: asyncio.Future[int]) -> int | None:
        """The build's exit status, or None once it has printed nothing for the idle limit."""
        idle = self.config.build_idle_timeout
        while True:
            quiet_for = time.monotonic() - self._last_build_output
            if quiet_for >= idle:
                return None
            done, _ = await asyncio.wait({build}, timeout=idle - quiet_for)
            if done:
                return build.result()

    async def _rm_container(self) -> None:
        name = self.config.container_name
        if await self.docker.remove(name):
            self.log(f"removed container {name}")
        else:
            self.log(f"no container {name} to remove")

    async def _docker_run(self) -> None:
        """Write the secret files, then ``docker run`` with them mounted (no secret in argv)."""
        config = self.config
        assert self.remote_dir is not None
        folder = str(PurePosixPath(self.remote_dir).parent / SECRETS_DIR_NAME)
        mounts = await write_secret_files(self.ssh, folder, config.secret_files)
        options = (*config.run_options(), *mounts)
        argv = self.docker.run_argv(config.container_name, self.image_tag, options)
        self.log("$ " + " ".join(argv))
        result = await self.docker.run_detached(argv)
        for line in (result.stdout + result.stderr).splitlines():
            self.log(line)
        if result.exit_status != 0:
            detail = result.stderr.strip()[-300:]
            raise InstallError(f"docker run exited with status {result.exit_status}: {detail}")

    async def _wait_healthy(self) -> None:
        config = self.config
        started = time.monotonic()
        deadline = started + config.health_timeout
        last_problem: str | None = None
        while True:
            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), 0.0) + 5.0):
                    ready = await self._health_check()
                if ready:
                    self.log(
                        f"healthy on port {config.host_port} after "
                        f"{time.monotonic() - started:.1f} s"
                    )
                    return
                problem = "models not loaded yet"
            except (SparkError, OSError, aiohttp.ClientError, TimeoutError) as err:
                problem = f"not answering yet ({type(err).__name__})"
            if problem != last_problem:
                self.log(problem)
                last_problem = problem
            now = time.monotonic()
            self._progress((now - started) / config.health_timeout)
            if now >= deadline:
                await self._log_container_output()
                raise InstallError(
                    f"WhisperX was not healthy within {config.health_timeout:g} s "
                    f"({last_problem}); the container was removed"
                )
            await asyncio.sleep(min(config.health_interval, max(deadline - now, 0.0)))

    async def _log_container_output(self) -> None:
        """Put the container's last output in the log: it usually says why it never got ready."""
        with contextlib.suppress(SparkSSHError):
            output = await self.docker.logs(self.config.container_name, tail=50)
            if output:
                self.log(f"--- last output of {self.config.container_name} ---")
            for line in output:
                self.log(line)


def _df_free_kib(output: str) -> int:
    """Available KiB from ``df -Pk`` (POSIX format: the 4th field of the last line)."""
    lines = [line for line in output.splitlines() if line.strip()]
    try:
        return int(lines[-1].split()[3])
    except (IndexError, ValueError):
        raise InstallError(f"cannot read free disk space from df: {output[-200:]!r}") from None
