"""WhisperX install: orchestration time beyond the build and app start, and the tar size.

Installs the real bundled build context through a real OpenSSH server on
loopback whose stand-in ``docker`` prints build output and starts the real app
(stub engine). The stand-in's own work (the build output, the app starting up
until /health says loaded) is the baseline; what is left is the installer's
orchestration: SSH round trips, preflight, upload, replacing the container.

Run: .venv/bin/python -m pytest benchmarks/bench_install.py -s -q -p no:cacheprovider
"""

from __future__ import annotations

import aiohttp

from custom_components.spark_audio.spark.clients.whisperx import whisperx_health_check
from custom_components.spark_audio.spark.installer.job import InstallJob
from custom_components.spark_audio.spark.installer.progress import Phase
from custom_components.spark_audio.spark.remote.ssh import SparkSSH
from tests.spark.test_installer import (  # noqa: F401  (fixtures)
    WHISPERX_CONTEXT,
    config,
    free_port,
    run_job,
    spark_ssh,
    ssh_host,
)
from tests.ssh_host.server import SSHTestHost


async def test_install_orchestration(
    ssh_host: SSHTestHost,  # noqa: F811
    spark_ssh: SparkSSH,  # noqa: F811
    socket_enabled: None,
) -> None:
    port = free_port()
    cfg = config(ssh_host, host_port=port, health_timeout=60.0, health_interval=0.05)
    async with aiohttp.ClientSession() as session:
        check = whisperx_health_check(
            session, "127.0.0.1", port, require_diarizer=cfg.diarizer_required
        )
        job = InstallJob(spark_ssh, cfg, WHISPERX_CONTEXT, check)
        await run_job(job)
    assert job.phase is Phase.DONE, job.lines[-20:]
    times = job.phase_times
    total = sum(times.values())
    standin = times.get(Phase.BUILD, 0.0) + times.get(Phase.WAIT_HEALTHY, 0.0)
    print()
    print("phases: " + ", ".join(f"{p}={t:.3f}s" for p, t in times.items()))
    print(f"shipped build context tar stream: {job.tar_bytes} bytes")
    print(
        f"total {total:.2f} s; stand-in build + app start {standin:.2f} s; "
        f"orchestration beyond them {total - standin:.2f} s "
        f"({(total - standin) / total:.0%} of the run)"
    )
