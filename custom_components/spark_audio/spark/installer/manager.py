"""One WhisperX install per Spark at a time; finished jobs stay queryable by id.

HA's side (`whisperx_install`) holds one manager for the whole HA run (entry
reloads do not touch it): it refuses a second install on a host while one
runs, prunes old jobs and, when HA stops, stops following the builds, which go
on on the Sparks and are taken up again after the restart. The lock across HA
instances is on the Spark itself (`remote_build`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from ..clients.whisperx import HealthCheck
from ..errors import InstallInProgressError
from ..remote.ssh import SparkSSH
from .config import InstallConfig
from .job import InstallJob
from .progress import Phase

__all__ = ["InstallManager"]

_KEEP_FINISHED = 20


class InstallManager:
    """One install per Spark host at a time; finished jobs stay queryable by id.

    ``create_task`` lets HA run jobs as its own background tasks.
    """

    def __init__(
        self,
        *,
        create_task: Callable[[Coroutine[Any, Any, Phase], str], asyncio.Task[Phase]] | None = None,
        keep_finished: int = _KEEP_FINISHED,
    ) -> None:
        """Jobs live here until `keep_finished` newer ones have ended."""
        self._create_task = create_task or (lambda coro, name: asyncio.create_task(coro, name=name))
        self._keep = keep_finished
        self._jobs: dict[str, InstallJob] = {}
        self._active: dict[str, InstallJob] = {}
        self._tasks: dict[str, asyncio.Task[Phase]] = {}

    def start(
        self,
        ssh: SparkSSH,
        config: InstallConfig,
        context_dir: Path,
        health_check: HealthCheck,
        *,
        host_key: str | None = None,
        job_id: str | None = None,
        resume: bool = False,
        owns_ssh: bool = False,
    ) -> InstallJob:
        """Create and start a job; InstallInProgressError if that host has one running.

        ``host_key`` identifies the Spark (default: the SSH host name) and is
        the owner recorded with its remote build. ``resume`` takes up the build
        recorded on the Spark (see `InstallJob`). With ``owns_ssh`` the job's
        connection is closed when it ends.
        """
        key = host_key or ssh.host
        running = self._active.get(key)
        if running is not None and not running.done:
            raise InstallInProgressError(
                f"a WhisperX install is already running on {key} (job {running.id})",
                job_id=running.id,
            )
        job = InstallJob(
            ssh, config, context_dir, health_check, job_id=job_id, owner=key, resume=resume
        )
        self._jobs[job.id] = job
        self._active[key] = job
        run = _run_and_close(job) if owns_ssh else job.run()
        task = self._create_task(run, f"spark_audio whisperx install {job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._finished(key, job))
        self._prune()
        return job

    def _finished(self, key: str, job: InstallJob) -> None:
        self._tasks.pop(job.id, None)
        if self._active.get(key) is job:
            del self._active[key]

    def _prune(self) -> None:
        finished = [job for job in self._jobs.values() if job.done]
        for job in finished[: max(len(finished) - self._keep, 0)]:
            del self._jobs[job.id]

    def get(self, job_id: str) -> InstallJob | None:
        """A job by id, running or finished (until pruned)."""
        return self._jobs.get(job_id)

    def active(self, host_key: str) -> InstallJob | None:
        """The job running for that host, if any."""
        job = self._active.get(host_key)
        return job if job is not None and not job.done else None

    @property
    def jobs(self) -> Sequence[InstallJob]:
        """Every known job, oldest first."""
        return list(self._jobs.values())

    async def shutdown(self) -> None:
        """Stop following every running job (HA stops); their remote builds go on.

        Unlike `InstallJob.cancel`, nothing on the Spark is stopped or removed:
        the next HA run takes the builds up.
        """
        tasks = list(self._tasks.values())
        for job in self._active.values():
            task = self._tasks.get(job.id)
            if job.build_launched and task is not None:
                task.cancel()  # from outside: the job leaves its build running
            else:
                job.cancel()  # nothing on the Spark to take up yet
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


async def _run_and_close(job: InstallJob) -> Phase:
    """Run the job, then close the SSH connection it was given for itself."""
    try:
        return await job.run()
    finally:
        await job.ssh.close()
