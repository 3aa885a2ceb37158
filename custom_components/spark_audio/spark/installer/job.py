"""The WhisperX install job: ship the build context, build, replace, run, wait healthy.

A first install must work without a shell on the Spark, so this drives the
whole thing over `SparkSSH`: one tar stream of the build context, ``docker
build`` detached on the Spark (`remote_build`: it outlives SSH, reloads and HA
restarts) with its log followed line by line into a bounded log, then the old
container is swapped for the new one and the job waits until the service says
its models are loaded. A job made with ``resume`` takes up a build a previous
job (before a restart) left running, and finishes the install. It is HA-free:
the caller injects the health check and how background tasks are created, and
watches the job through listeners or `InstallJob.updates`.

Rules kept here:

- every name, port and size is validated before any SSH traffic; commands are
  argv lists, so nothing from config becomes shell syntax;
- the HF token and the service's API key reach the Spark on stdin, into files
  only the container's user may read, mounted read-only (``secret_files``): never
  on a command line, in the container's environment, the log or an error;
- a failure or cancel after the old container was removed also removes the
  half-created new one; before that, the running service is left alone;
- cancel stops the remote build; a job cut off from outside (HA stopping)
  leaves it running, to be followed again after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any, Final

import aiohttp

from ..clients.whisperx import HealthCheck
from ..errors import (
    InstallError,
    InstallInProgressError,
    SparkError,
    SparkSSHCommandError,
    SparkSSHError,
)
from ..remote.docker import DockerOverSSH
from ..remote.ssh import SparkSSH
from .build import BuildPhase, remote_base_dir
from .build_context import DEFAULT_EXCLUDES, build_context_tar, read_context_version, tar_size
from .config import InstallConfig, validate_image_tag
from .progress import CONTAINER_PHASES, Cancelled, Phase
from .remote_build import RemoteBuild
from .secret_files import write_secret_files

__all__ = ["BUILD_DIR_NAME", "LOG_LINES", "SECRETS_DIR_NAME", "InstallJob", "remote_base_dir"]

_LOGGER = logging.getLogger(__name__)

BUILD_DIR_NAME: Final = "spark-audio-whisperx-build"
SECRETS_DIR_NAME: Final = "spark-audio-whisperx-secrets"
LOG_LINES: Final = 2000
_CLEANUP_TIMEOUT_S = 30.0
_GIB = 1024**3


class InstallJob(BuildPhase):
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
        owner: str | None = None,
        resume: bool = False,
    ) -> None:
        """Validate everything up front; nothing touches SSH until `run()`.

        ``owner`` (default: the SSH host) is recorded with the remote build: only
        that owner takes it up again. ``resume`` follows the build already
        recorded on the Spark instead of uploading and starting one.
        """
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
        self.owner = owner or ssh.host
        self.resume = resume
        self.remote_build = None
        self.detached = False
        """True when the job was cut off from outside (HA stopping): the build goes on."""

    def __repr__(self) -> str:
        return f"InstallJob({self.id}, {self.ssh.host}, {self.phase}, {self.percent:.0f}%)"

    # State -------------------------------------------------------------------

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
            if external and self._launched:
                # HA is stopping: leave the Spark as it is, a restart takes it up.
                self.detached = True
                self.log(
                    f"stopped following: the install goes on on {self.ssh.host} and is "
                    "followed again when Home Assistant sets the Spark up"
                )
                self._set_phase(Phase.CANCELLED)
            else:
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
            await self._shielded(self._settle_remote())
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
            await self._shielded(self._remove_container())
        await self._shielded(self._settle_remote(stop=outcome is Phase.CANCELLED))
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
        base = await remote_base_dir(self.ssh, self.config)
        self.remote_dir = str(PurePosixPath(base) / BUILD_DIR_NAME)
        self.remote_build = RemoteBuild(self.ssh, base)

        if not self.resume:
            self._set_phase(Phase.PREFLIGHT)
            await self._preflight(base)

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

    async def _preflight(self, base: str) -> None:
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
        assert self.remote_build is not None
        running = await self.remote_build.state()
        if running is not None and running.running:
            # Checked before the upload, which would replace the running build's context.
            job_id = running.record.job_id if running.record else "unknown"
            raise InstallInProgressError(
                f"a WhisperX build is already running on {self.ssh.host} (job {job_id})",
                job_id=job_id,
            )
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
