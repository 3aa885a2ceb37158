"""The WhisperX install job against a real OpenSSH server and the stand-in docker.

Nothing is mocked between the job and the remote shell: the build context
really travels as one tar stream through sshd, `docker build` output really
streams line by line over the channel, and the end-to-end test ends with the
real WhisperX app (stub engine) answering /health on the published port.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import socket
import stat
import tarfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import asyncssh
import pytest
from aiohttp import web

from custom_components.spark_audio.spark.clients.whisperx import HealthCheck, whisperx_health_check
from custom_components.spark_audio.spark.errors import (
    InstallInProgressError,
    SparkError,
    SparkSSHCommandError,
    SparkSSHConnectionError,
    SparkSSHTimeoutError,
)
from custom_components.spark_audio.spark.installer.build_context import build_context_tar, tar_size
from custom_components.spark_audio.spark.installer.build_log import dockerfile_step_weights
from custom_components.spark_audio.spark.installer.config import InstallConfig
from custom_components.spark_audio.spark.installer.job import SECRETS_DIR_NAME, InstallJob
from custom_components.spark_audio.spark.installer.manager import InstallManager
from custom_components.spark_audio.spark.installer.progress import (
    PHASE_RANGES,
    InstallUpdate,
    Phase,
)
from custom_components.spark_audio.spark.installer.remote_build import (
    STATE_DIR,
    BuildRecord,
    BuildStatus,
    RemoteBuild,
)
from custom_components.spark_audio.spark.installer.secret_files import CONTAINER_UID
from custom_components.spark_audio.spark.remote.docker import ContainerState, DockerOverSSH
from custom_components.spark_audio.spark.remote.ssh import SparkSSH
from custom_components.spark_audio.spark.remote.ssh_login import SSHCredentials
from custom_components.spark_audio.spark.wav import wav_header
from tests.ssh_host import SSHTestHost
from tests.ssh_host.server import process_alive, process_group_alive

HF_TOKEN = "hf_SECRETtokenDoNotLeak1234567890"
API_KEY = "wx-KEY-DoNotLeak-0987654321abcdef"
WHISPERX_CONTEXT = (
    Path(__file__).parents[2] / "custom_components" / "spark_audio" / "whisperx_container"
)
LOGIN_OWNS_SECRETS = os.getuid() in (0, CONTAINER_UID)
"""Root or the image's own UID can give the secret files to the container's user alone."""
# Half of the context sent (the SSH drop / cancel tests act mid-upload).
UPLOAD_MIDWAY = sum(PHASE_RANGES[Phase.UPLOAD]) / 2
HAPPY_ORDER = [
    Phase.CONNECT,
    Phase.PREFLIGHT,
    Phase.UPLOAD,
    Phase.BUILD,
    Phase.REPLACE,
    Phase.RUN,
    Phase.WAIT_HEALTHY,
    Phase.DONE,
]


@pytest.fixture
def ssh_host(socket_enabled: None) -> Iterator[SSHTestHost]:
    """A real sshd whose `docker` is the stand-in; fast build output."""
    with SSHTestHost() as host:
        host.set_standin(build_line_delay_s=0.005)
        yield host


@pytest.fixture
async def spark_ssh(ssh_host: SSHTestHost) -> AsyncIterator[SparkSSH]:
    ssh = SparkSSH(
        ssh_host.host,
        SSHCredentials(
            ssh_host.username, private_key=ssh_host.client_private_key, port=ssh_host.port
        ),
        pinned_host_key=ssh_host.host_public_key,
        connect_timeout=5.0,
        command_timeout=15.0,
    )
    try:
        yield ssh
    finally:
        await ssh.close()


@pytest.fixture
def context(tmp_path: Path) -> Path:
    """A tiny build context: Dockerfile, VERSION, a file, and junk that must not ship."""
    ctx = tmp_path / "ctx"
    (ctx / "app").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY app /app\n")
    (ctx / "VERSION").write_text("1.2.3\n")
    (ctx / "app" / "engine.txt").write_text("stub\n")
    (ctx / "app" / "__pycache__").mkdir()
    (ctx / "app" / "__pycache__" / "x.cpython-313.pyc").write_bytes(b"junk")
    (ctx / "app" / "y.pyc").write_bytes(b"junk")
    return ctx


def config(ssh_host: SSHTestHost, **overrides: object) -> InstallConfig:
    values: dict[str, object] = {
        "remote_base_dir": str(ssh_host.dir / "home"),
        "min_free_gib": 0.001,
        "health_timeout": 5.0,
        "health_interval": 0.05,
        "hf_token": HF_TOKEN,
        "api_key": API_KEY,
        "host_port": 18002,
    }
    values.update(overrides)
    return InstallConfig(**values)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def container_running(ssh_host: SSHTestHost, name: str = "whisperx-asr") -> bool:
    return ssh_host.containers().get(name, {}).get("state") == "running"


def standin_health(ssh_host: SSHTestHost, name: str = "whisperx-asr") -> HealthCheck:
    async def check() -> bool:
        return container_running(ssh_host, name)

    return check


def phases_seen(updates: list[InstallUpdate]) -> list[Phase]:
    seen: list[Phase] = []
    for update in updates:
        if not seen or seen[-1] != update.phase:
            seen.append(update.phase)
    return seen


def assert_no_secret(ssh_host: SSHTestHost, job: InstallJob) -> None:
    for secret in (HF_TOKEN, API_KEY):
        assert all(secret not in line for line in job.lines)
        assert secret not in (job.error or "")
        assert secret not in json.dumps(job.as_dict())
        assert secret not in repr(job.config)
        assert secret not in ssh_host.docker_calls_path.read_text()


def record_ssh_commands(ssh: SparkSSH) -> list[tuple[str, bytes]]:
    """Every command line sent to the Spark over ``ssh``, with what it was given on stdin.

    The test sshd keeps no record of the commands it runs, so they are taken where
    every command leaves: the channel that starts it.
    """
    sent: list[tuple[str, bytes]] = []
    real_open = ssh._open_process

    async def open_process(
        command: str, *, stdin_pipe: bool, input: bytes | None = None
    ) -> asyncssh.SSHClientProcess[bytes]:
        sent.append((command, input or b""))
        return await real_open(command, stdin_pipe=stdin_pipe, input=input)

    ssh._open_process = open_process  # type: ignore[method-assign]
    return sent


def assert_secrets_kept(ssh_host: SSHTestHost, sent: list[tuple[str, bytes]], log: str) -> None:
    """No secret in the containers' records or the log, nor on a remote command line (which
    ``ps`` on the Spark shows): stdin carried them."""
    for secret in (HF_TOKEN, API_KEY):
        assert secret not in json.dumps(ssh_host.containers())
        assert secret not in log
        assert not [command for command, _ in sent if secret in command]
        assert [command for command, stdin in sent if secret.encode() in stdin]


def assert_secret_files(folder: Path) -> None:
    """One file per secret that only the image's user may read.

    The test sshd logs in as whoever runs the tests: root hands the files to
    the image's user (0600); any other login keeps them 0640 in its own group,
    which the container joins.
    """
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == ["hf_token", "whisperx_api_key"]
    for name, value in (("hf_token", HF_TOKEN), ("whisperx_api_key", API_KEY)):
        path = folder / name
        assert path.read_text() == value + "\n"
        assert stat.S_IMODE(path.stat().st_mode) == (0o600 if LOGIN_OWNS_SECRETS else 0o640)
        assert path.stat().st_uid == (CONTAINER_UID if os.getuid() == 0 else os.getuid())


def assert_progress(updates: list[InstallUpdate]) -> None:
    """Percent never goes back, stays in each phase's range, and moves during the build."""
    percents = [u.percent for u in updates]
    assert percents == sorted(percents)
    for update in updates:
        if not update.phase.terminal:
            low, high = PHASE_RANGES[update.phase]
            assert low <= update.percent <= high, update
    build_percents = {u.percent for u in updates if u.phase is Phase.BUILD}
    assert len(build_percents) > 5


def assert_context_arrived(ssh_host: SSHTestHost, remote: Path) -> None:
    """The build dir holds the context, junk excluded."""
    assert remote == ssh_host.dir / "home" / "spark-audio-whisperx-build"
    assert (remote / "Dockerfile").read_text() == "FROM scratch\nCOPY app /app\n"
    assert not (remote / "app" / "y.pyc").exists()
    assert not (remote / "app" / "__pycache__").exists()


def assert_install_commands(ssh_host: SSHTestHost, remote: Path) -> None:
    """The docker argv a default install sends, in order; no secret among them."""
    secrets = remote.parent / SECRETS_DIR_NAME
    group_add = [] if LOGIN_OWNS_SECRETS else ["--group-add", str(os.getgid())]
    calls = ssh_host.docker_calls()
    commands = [c[1] for c in calls]
    assert commands == ["version", "info", "build", "rm", "run"]
    assert calls[2] == [
        "docker", "build", "--progress=plain", "-t", "spark-audio/whisperx:1.2.3",
        "--build-arg", "TARGET=spark", str(remote),
    ]  # fmt: skip
    assert calls[3] == ["docker", "rm", "-f", "whisperx-asr"]
    assert calls[4] == [
        "docker", "run", "-d", "--name", "whisperx-asr", "--gpus", "all",
        "--restart", "unless-stopped", "--memory", "40g", "-p", "18002:8000",
        "-v", "whisperx-cache:/cache", "-e", "WHISPERX_MODEL=medium", *group_add,
        "-v", f"{secrets}/hf_token:/run/secrets/hf_token:ro",
        "-e", "HF_TOKEN_FILE=/run/secrets/hf_token",
        "-v", f"{secrets}/whisperx_api_key:/run/secrets/whisperx_api_key:ro",
        "-e", "WHISPERX_API_KEY_FILE=/run/secrets/whisperx_api_key",
        "spark-audio/whisperx:1.2.3",
    ]  # fmt: skip


async def run_job(job: InstallJob) -> list[InstallUpdate]:
    updates: list[InstallUpdate] = []
    job.add_listener(updates.append)
    await job.run()
    return updates


# Tar stream -----------------------------------------------------------------


def test_build_context_tar_is_deterministic_and_complete(context: Path) -> None:
    first = b"".join(build_context_tar(context, chunk_size=512))
    (context / "Dockerfile").touch()  # a new mtime changes nothing
    second = b"".join(build_context_tar(context))
    assert first == second
    assert len(first) == tar_size(context)
    assert len(first) % tarfile.RECORDSIZE == 0
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == ["Dockerfile", "VERSION", "app", "app/engine.txt"]
        assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" for m in members)
        engine = tar.extractfile("app/engine.txt")
        assert engine is not None
        assert engine.read() == b"stub\n"


def test_build_context_tar_streams_big_files_in_chunks(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"x" * 3_000_000)
    chunks = list(build_context_tar(tmp_path, chunk_size=64 * 1024))
    assert max(len(c) for c in chunks) <= 64 * 1024 + 2 * tarfile.RECORDSIZE
    assert sum(map(len, chunks)) == tar_size(tmp_path)


# SparkSSH.run_streaming -----------------------------------------------------------


async def test_run_streaming_delivers_lines_live_with_stderr_merged(
    spark_ssh: SparkSSH, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    script = 'echo one; echo two >&2; while [ ! -e "$0" ]; do sleep 0.02; done; echo three; exit 3'
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if line == "two":
            # Only a live stream gets here before the command can finish.
            gate.touch()

    status = await spark_ssh.run_streaming(["sh", "-c", script, str(gate)], on_line, timeout=10)
    assert status == 3
    assert lines == ["one", "two", "three"]


async def test_run_streaming_timeout_and_drop(ssh_host: SSHTestHost, spark_ssh: SparkSSH) -> None:
    with pytest.raises(SparkSSHTimeoutError, match=r"did not finish within 0\.3 s"):
        await spark_ssh.run_streaming(["sh", "-c", "echo a; sleep 5"], lambda _: None, timeout=0.3)
    with pytest.raises(ValueError, match="not a shell line"):
        await spark_ssh.run_streaming("echo hi", lambda _: None)

    def drop(_: str) -> None:
        ssh_host.drop_connections()

    with pytest.raises(SparkSSHConnectionError):
        await spark_ssh.run_streaming(["sh", "-c", "echo a; sleep 5"], drop, timeout=10)


# Validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("container_name", "bad name; rm -rf /"),
        ("container_name", "-rm"),
        ("cache_volume", "$(touch x)"),
        ("host_port", 0),
        ("host_port", 70000),
        ("memory", "40g; reboot"),
        ("model", "medium large"),
        ("image_tag", "spark-audio/whisperx"),
        ("image_tag", "Bad/Repo:1"),
        ("target", "arm"),
        ("remote_base_dir", "relative/dir"),
        ("remote_base_dir", "/tmp/../etc"),
        ("docker", ("sudo", "")),
        ("health_timeout", 0),
    ],
)
def test_invalid_config_is_rejected(field: str, value: object) -> None:
    with pytest.raises(ValueError):
        InstallConfig(**{field: value})  # type: ignore[arg-type]


def test_token_is_validated_without_being_quoted() -> None:
    with pytest.raises(ValueError) as caught:
        InstallConfig(hf_token="hf_abc def")
    assert "hf_abc" not in str(caught.value)
    assert HF_TOKEN not in repr(InstallConfig(hf_token=HF_TOKEN))
    with pytest.raises(ValueError, match="API key must be printable") as caught:
        InstallConfig(api_key="k\nEXTRA")
    assert "EXTRA" not in str(caught.value)
    assert API_KEY not in repr(InstallConfig(api_key=API_KEY))


async def test_invalid_container_name_never_reaches_ssh(
    ssh_host: SSHTestHost, context: Path
) -> None:
    with pytest.raises(ValueError, match="invalid container name"):
        config(ssh_host, container_name="x; touch /tmp/pwned")
    with pytest.raises(ValueError, match="no Dockerfile"):
        (context / "Dockerfile").unlink()
        InstallJob(
            SparkSSH(
                "127.0.0.1",
                SSHCredentials("x", password="y"),
                pinned_host_key=ssh_host.host_public_key,
            ),
            config(ssh_host),
            context,
            standin_health(ssh_host),
        )
    assert ssh_host.accepted_logins() == 0
    assert ssh_host.docker_calls() == []


# Happy path ------------------------------------------------------------------


async def test_install_succeeds_with_phases_progress_and_live_log(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # An old container is running: it must be replaced.
    ssh_host.write_containers({"whisperx-asr": {"state": "running"}})
    sent = record_ssh_commands(spark_ssh)
    job = InstallJob(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    build_lines_while_building: list[str] = []
    watched: list[InstallUpdate] = []

    async def watch() -> None:
        async for update in job.updates():
            watched.append(update)
            if update.phase is Phase.BUILD and update.line and job.phase is Phase.BUILD:
                build_lines_while_building.append(update.line)

    images = ssh_host.dir / "images.json"
    seen_mid_build: list[bool] = []

    def on_line(update: InstallUpdate) -> None:
        if update.line and "[builder 2/6]" in update.line:
            # Streamed live: the remote build has not finished (tagged nothing) yet.
            seen_mid_build.append(not images.exists())

    job.add_listener(on_line)
    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0)
    started = time.monotonic()
    updates = await run_job(job)
    await asyncio.wait_for(watcher, 5)

    assert job.phase is Phase.DONE, job.lines
    assert job.error is None
    assert job.percent == 100
    assert phases_seen(updates) == HAPPY_ORDER
    assert phases_seen(watched) == HAPPY_ORDER
    assert watched[-1].final
    assert watched[-1].phase is Phase.DONE
    # Exactly one final update, the last, with the settled state.
    assert [u.final for u in updates].count(True) == 1
    assert updates[-1].final
    assert updates[-1].elapsed == round(job.elapsed, 3)
    assert_progress(updates)
    assert seen_mid_build == [True]
    assert len(build_lines_while_building) > 10
    assert any("[builder 2/6]" in line for line in job.lines)
    assert "Successfully tagged spark-audio/whisperx:1.2.3" in job.lines
    assert 0 < job.elapsed < time.monotonic() - started + 0.1

    # The build context arrived, junk excluded, in the build dir the image was built from.
    assert job.tar_bytes == tar_size(context)
    remote = Path(job.remote_dir or "")
    assert_context_arrived(ssh_host, remote)

    assert_install_commands(ssh_host, remote)
    container = ssh_host.containers()["whisperx-asr"]
    assert container["image"] == "spark-audio/whisperx:1.2.3"
    # The secrets reached the container as read-only files only its user may read; neither
    # its recorded environment (what `docker inspect` shows) nor a command line holds them.
    assert_secret_files(remote.parent / SECRETS_DIR_NAME)
    assert container["env"] == {
        "WHISPERX_MODEL": "medium",
        "HF_TOKEN_FILE": "/run/secrets/hf_token",
        "WHISPERX_API_KEY_FILE": "/run/secrets/whisperx_api_key",
    }
    assert_no_secret(ssh_host, job)
    assert_secrets_kept(ssh_host, sent, caplog.text)
    status = job.as_dict()
    assert status["phase"] == "done"
    assert status["tar_bytes"] == job.tar_bytes


async def test_late_watcher_gets_replay_and_final_state(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    job = InstallJob(
        spark_ssh,
        config(ssh_host, hf_token=None, api_key=None),
        context,
        standin_health(ssh_host),
    )
    await job.run()
    replayed = [u async for u in job.updates()]
    assert [u.line for u in replayed[:-1]] == job.lines
    assert replayed[-1].phase is Phase.DONE
    run = ssh_host.docker_calls()[-1]
    assert "-e" in run
    assert not any("secrets" in arg or "_FILE=" in arg for arg in run)
    assert ssh_host.containers()["whisperx-asr"]["env"] == {"WHISPERX_MODEL": "medium"}
    assert not (ssh_host.dir / "home" / SECRETS_DIR_NAME).exists()


async def test_rerun_after_old_build_dir_replaces_stale_files(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    stale = ssh_host.dir / "home" / "spark-audio-whisperx-build" / "stale.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    job = InstallJob(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    assert await job.run() is Phase.DONE
    assert not stale.exists()


# Failures --------------------------------------------------------------------


async def test_build_failure_keeps_old_container_and_log(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    ssh_host.write_containers({"whisperx-asr": {"state": "running"}})
    ssh_host.set_standin(fail_build=True)
    job = InstallJob(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    assert await job.run() is Phase.FAILED
    assert job.failed_phase is Phase.BUILD
    assert job.error is not None
    assert "docker build exited with status 1" in job.error
    assert "did not complete successfully" in job.error
    assert any("No matching distribution" in line for line in job.lines)
    # The working service was never touched.
    assert container_running(ssh_host)
    assert [c[1] for c in ssh_host.docker_calls()] == ["version", "info", "build"]
    assert_no_secret(ssh_host, job)

    # Fixed: a re-run works.
    ssh_host.set_standin(fail_build=None)
    again = InstallJob(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    assert await again.run() is Phase.DONE


@pytest.mark.parametrize(
    ("failure", "status", "cause", "last_line"),
    [
        # The compile step OOM-killed: BuildKit reports 137, docker build exits 1.
        ("oom", 1, "ran out of memory", "did not complete successfully: exit code: 137"),
        # The docker client itself killed by the OOM killer.
        ("killed", 137, "ran out of memory", "'cicc' died due to signal 9"),
        ("disk", 1, "ran out of disk space", "[Errno 28] No space left on device"),
    ],
)
async def test_build_that_dies_fails_with_its_cause_and_last_lines(
    ssh_host: SSHTestHost,
    spark_ssh: SparkSSH,
    context: Path,
    failure: str,
    status: int,
    cause: str,
    last_line: str,
) -> None:
    """OOM and a full disk end FAILED with a message that says so and shows the build's end."""
    ssh_host.write_containers({"whisperx-asr": {"state": "running"}})
    ssh_host.set_standin(fail_build=failure)
    job = InstallJob(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    assert await job.run() is Phase.FAILED
    assert job.failed_phase is Phase.BUILD
    error = job.error or ""
    headline, _, tail = error.partition("\nLast build output:\n")
    assert headline.startswith(f"docker build exited with status {status}: ")
    assert cause in headline
    tail_lines = tail.splitlines()
    assert 0 < len(tail_lines) <= 12
    assert any(last_line in line for line in tail_lines)
    # The tail is the end of the build's own output, in order (then the job's last two lines).
    assert job.lines[-2:] == [f"failed during build: {error}", "==> failed"]
    assert job.lines[-2 - len(tail_lines) : -2] == tail_lines
    assert job.as_dict()["error"] == error
    assert container_running(ssh_host)
    assert [c[1] for c in ssh_host.docker_calls()] == ["version", "info", "build"]
    assert_no_secret(ssh_host, job)


async def test_silent_build_is_given_up_after_the_idle_limit(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    """A build that prints nothing (hung) fails after ``build_idle_timeout``, not hours later."""
    ssh_host.write_containers({"whisperx-asr": {"state": "running"}})
    ssh_host.set_standin(hang_build_s=60)
    cfg = config(ssh_host, build_idle_timeout=0.5, build_timeout=50.0)
    job = InstallJob(spark_ssh, cfg, context, standin_health(ssh_host))
    started = time.monotonic()
    assert await job.run() is Phase.FAILED
    assert time.monotonic() - started < 40
    assert job.failed_phase is Phase.BUILD
    error = job.error or ""
    assert error.startswith("docker build printed nothing for 0.5 s")
    # The last thing the build said before it went quiet.
    assert error.endswith("[internal] load build definition from Dockerfile")
    assert not any("Successfully tagged" in line for line in job.lines)
    assert container_running(ssh_host)


STANDIN_DOCKERFILE = """\
FROM nvcr.io/nvidia/cuda:13.0.1-devel-ubuntu24.04 AS builder
RUN apt-get update && apt-get install -y git cmake \\
        ninja-build
RUN git clone --depth 1 https://github.com/OpenNMT/CTranslate2
ENV CT2=1
RUN cmake -DWITH_CUDA=ON -DWITH_MKL=OFF -GNinja ..
RUN ninja install
RUN pip wheel ./python

FROM nvcr.io/nvidia/cuda:13.0.1-runtime-ubuntu24.04 AS runtime
RUN apt-get update && apt-get install -y ffmpeg python3-pip
COPY --from=builder /wheels /wheels
RUN pip install -r requirements.txt
COPY app /app/app
"""


async def test_build_progress_follows_the_cuda_compile(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    """The compile (most of a real build) moves the bar by its ninja counter and weight.

    The context's Dockerfile has the stand-in build's stages, as ours has the real ones:
    it tells the job, before BuildKit announces them, which heavy steps are still to come.
    """
    (context / "Dockerfile").write_text(STANDIN_DOCKERFILE)
    job = InstallJob(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    at_line: list[tuple[str, float]] = []
    job.add_listener(lambda u: at_line.append((u.line, u.percent)) if u.line else None)
    assert await job.run() is Phase.DONE

    def percent_at(fragment: str) -> float:
        return next(p for line, p in at_line if fragment in line)

    ninja = [p for line, p in at_line if "Building CUDA object" in line]
    assert len(ninja) == 3
    assert ninja == sorted(set(ninja))  # each compiled batch moves the bar
    compile_share = percent_at("#9 DONE") - percent_at("[builder 5/6]")
    low, high = PHASE_RANGES[Phase.BUILD]
    # One step of sixteen, but the heaviest: well over a third of the build's range.
    assert compile_share > (high - low) / 3
    assert high - low >= 80  # the build is most of the bar


def test_real_dockerfile_tells_the_bar_where_a_spark_build_spends_its_time() -> None:
    """Our Dockerfile's steps get the weights the progress model expects (no Docker needed).

    If a rename hid the CUDA compile or the locked torch install from the weights, a real
    build's bar would stall for tens of minutes and jump at the end.
    """
    stages = dockerfile_step_weights((WHISPERX_CONTEXT / "Dockerfile").read_text())
    heaviest = max(w for weights in stages.values() for w in weights)
    assert max(stages["ct2-spark"]) == heaviest  # CTranslate2's CUDA compile
    assert stages["ct2-spark"].count(heaviest) == 1
    runtime = stages["runtime"]
    assert list(stages)[-1] == "runtime"  # the final stage, always built
    lock_install = max(runtime)  # the locked torch stack: gigabytes of wheels
    assert lock_install >= 3 * sorted(runtime)[-2]
    # Compile and download are most of the bar, as they are most of a cold build's time.
    assert (heaviest + lock_install) / (sum(stages["ct2-spark"]) + sum(runtime)) > 0.6


async def test_run_failure_removes_the_half_created_container(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    ssh_host.set_standin(fail_run=True)
    job = InstallJob(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    assert await job.run() is Phase.FAILED
    assert job.failed_phase is Phase.RUN
    assert "docker run exited with status 125" in (job.error or "")
    assert "could not select device driver" in (job.error or "")
    assert ssh_host.containers() == {}
    assert ssh_host.docker_calls()[-1] == ["docker", "rm", "-f", "whisperx-asr"]
    assert_no_secret(ssh_host, job)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"no_nvidia": True}, "no NVIDIA runtime"),
        ({"no_daemon": True}, "Cannot connect to the Docker daemon"),
    ],
)
async def test_preflight_refuses(
    ssh_host: SSHTestHost,
    spark_ssh: SparkSSH,
    context: Path,
    setting: dict[str, bool],
    message: str,
) -> None:
    ssh_host.set_standin(**setting)
    job = InstallJob(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    assert await job.run() is Phase.FAILED
    assert job.failed_phase is Phase.PREFLIGHT
    assert message in (job.error or "")
    assert "build" not in [c[1] for c in ssh_host.docker_calls()]


async def test_preflight_refuses_a_full_disk(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    job = InstallJob(
        spark_ssh,
        config(ssh_host, min_free_gib=10**9),
        context,
        standin_health(ssh_host),
    )
    assert await job.run() is Phase.FAILED
    assert "GiB free" in (job.error or "")
    assert "needs 1e+09 GiB" in (job.error or "")


async def test_ssh_dropped_mid_upload_fails_cleanly_and_rerun_works(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    (context / "big.bin").write_bytes(b"\x01" * 8_000_000)
    job = InstallJob(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    dropped = False

    def on_update(update: InstallUpdate) -> None:
        nonlocal dropped
        if update.phase is Phase.UPLOAD and update.percent > UPLOAD_MIDWAY and not dropped:
            dropped = True
            ssh_host.drop_connections()

    job.add_listener(on_update)
    assert await job.run() is Phase.FAILED
    assert dropped
    assert job.failed_phase is Phase.UPLOAD
    assert "SSH connection to 127.0.0.1 dropped" in (job.error or "")
    assert job.tar_bytes is None
    assert "build" not in [c[1] for c in ssh_host.docker_calls()]
    assert any("failed during upload" in line for line in job.lines)

    again = InstallJob(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    assert await again.run() is Phase.DONE
    assert again.tar_bytes == tar_size(context)


async def test_never_healthy_times_out_and_removes_container(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path, session: aiohttp.ClientSession
) -> None:
    """The default /health check against a container whose app never comes up."""
    ssh_host.set_standin(never_healthy=True)
    port = free_port()
    check = whisperx_health_check(session, "127.0.0.1", port, require_diarizer=True)
    cfg = config(ssh_host, host_port=port, health_timeout=0.5)
    job = InstallJob(spark_ssh, cfg, context, check)
    assert await job.run() is Phase.FAILED
    assert job.failed_phase is Phase.WAIT_HEALTHY
    assert "not healthy within 0.5 s" in (job.error or "")
    assert "not answering yet" in (job.error or "")
    assert ssh_host.containers() == {}
    assert ssh_host.docker_calls()[-1] == ["docker", "rm", "-f", "whisperx-asr"]
    assert ["docker", "logs", "--tail", "50", "whisperx-asr"] in ssh_host.docker_calls()
    assert job.percent >= PHASE_RANGES[Phase.WAIT_HEALTHY][0]
    assert_no_secret(ssh_host, job)


async def test_health_check_errors_count_as_not_ready(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    calls = 0

    async def flaky() -> bool:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise aiohttp.ClientConnectionError("refused")
        return True

    job = InstallJob(spark_ssh, config(ssh_host), context, flaky)
    assert await job.run() is Phase.DONE
    assert any("not answering yet" in line for line in job.lines)


# Cancel and concurrency -----------------------------------------------------------


async def test_cancel_during_build_stops_streaming(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    ssh_host.write_containers({"whisperx-asr": {"state": "running"}})
    ssh_host.set_standin(build_line_delay_s=0.1)
    job = InstallJob(spark_ssh, config(ssh_host), context, standin_health(ssh_host))

    def on_update(update: InstallUpdate) -> None:
        if update.line and "[builder 2/6]" in update.line:
            assert job.cancel()

    job.add_listener(on_update)
    started = time.monotonic()
    assert await job.run() is Phase.CANCELLED
    assert time.monotonic() - started < 10
    assert job.error is None
    assert not job.cancel()
    lines_at_cancel = job.total_lines
    await asyncio.sleep(0.3)
    assert job.total_lines == lines_at_cancel
    assert not any("Successfully tagged" in line for line in job.lines)
    # Cancelled before the swap: the old service keeps running.
    assert container_running(ssh_host)
    assert "run" not in [c[1] for c in ssh_host.docker_calls()]


async def test_cancel_during_upload_then_rerun(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    (context / "big.bin").write_bytes(b"\x02" * 8_000_000)
    job = InstallJob(spark_ssh, config(ssh_host), context, standin_health(ssh_host))

    def on_update(update: InstallUpdate) -> None:
        if update.phase is Phase.UPLOAD and update.percent > UPLOAD_MIDWAY:
            job.cancel()

    job.add_listener(on_update)
    assert await job.run() is Phase.CANCELLED
    assert job.tar_bytes is None
    assert [c[1] for c in ssh_host.docker_calls()] == ["version", "info"]
    again = InstallJob(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    assert await again.run() is Phase.DONE


async def test_cancel_while_waiting_for_health_removes_container(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    async def slow() -> bool:
        await asyncio.sleep(0.05)
        return False

    manager = InstallManager()
    job = manager.start(spark_ssh, config(ssh_host, health_timeout=30), context, slow)
    while job.phase is not Phase.WAIT_HEALTHY:
        await asyncio.sleep(0.02)
    assert container_running(ssh_host)
    job.cancel()
    await asyncio.wait_for(job.wait(), 10)
    assert job.phase is Phase.CANCELLED
    assert ssh_host.containers() == {}


async def test_second_install_on_same_host_is_refused(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    ssh_host.set_standin(build_line_delay_s=0.02)
    manager = InstallManager()
    cfg = config(ssh_host)
    first = manager.start(spark_ssh, cfg, context, standin_health(ssh_host))
    with pytest.raises(InstallInProgressError) as caught:
        manager.start(spark_ssh, cfg, context, standin_health(ssh_host))
    assert caught.value.job_id == first.id
    assert isinstance(caught.value, SparkError)
    assert manager.active(spark_ssh.host) is first
    await asyncio.wait_for(first.wait(), 20)
    assert first.phase is Phase.DONE
    await asyncio.sleep(0)
    assert manager.active(spark_ssh.host) is None
    # Finished jobs stay queryable; a new one may start now.
    second = manager.start(spark_ssh, cfg, context, standin_health(ssh_host))
    assert manager.get(first.id) is first
    assert manager.get(second.id) is second
    await manager.shutdown()
    assert second.phase in {Phase.CANCELLED, Phase.DONE}


# End to end with the real WhisperX app ------------------------------------------------


async def test_installs_the_real_whisperx_app(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, session: aiohttp.ClientSession
) -> None:
    required = ("Dockerfile", "VERSION", "app/main.py")
    missing = [name for name in required if not (WHISPERX_CONTEXT / name).is_file()]
    if missing:
        pytest.skip(f"whisperx_container/ is not complete yet (missing {', '.join(missing)})")
    port = free_port()
    cfg = config(ssh_host, host_port=port, health_timeout=30.0, health_interval=0.1)
    check = whisperx_health_check(
        session, "127.0.0.1", port, require_diarizer=cfg.diarizer_required
    )
    job = InstallJob(spark_ssh, cfg, WHISPERX_CONTEXT, check)
    updates = await run_job(job)
    assert job.phase is Phase.DONE, (
        job.lines
        + ssh_host.dir.joinpath("app-whisperx-asr.log").read_text(errors="replace").splitlines()
    )
    assert phases_seen(updates) == HAPPY_ORDER
    version = (WHISPERX_CONTEXT / "VERSION").read_text().strip()
    assert job.image_tag == f"spark-audio/whisperx:{version}"
    assert job.tar_bytes == tar_size(WHISPERX_CONTEXT)
    async with session.get(f"http://127.0.0.1:{port}/health") as response:
        assert response.status == 200
        health = await response.json()
    assert health["whisper_loaded"] is True
    # The installed app requires the key it was handed on stdin.
    assert health["auth"] is True
    url = f"http://127.0.0.1:{port}/v1/audio/transcriptions"
    for headers in ({}, {"Authorization": f"Bearer {API_KEY}"}):
        form = aiohttp.FormData()
        form.add_field(
            "file", wav_header(16_000, data_size=32_000) + b"\0" * 32_000, filename="a.wav"
        )
        async with session.post(url, data=form, headers=headers) as response:
            assert response.status == (200 if headers else 401), await response.text()
    assert_no_secret(ssh_host, job)
    print(
        f"\nreal context tar: {job.tar_bytes} bytes; phases: "
        + ", ".join(f"{p}={t:.2f}s" for p, t in job.phase_times.items())
    )


# Detached builds: reloads, restarts, a second HA, cancel ------------------------------
#
# The stand-in build waits before its compile step until the test creates the gate
# file (`build_gate`), so "mid-build" is a state the test holds, not a moment it hopes
# to hit.


def open_ssh(ssh_host: SSHTestHost) -> SparkSSH:
    """Another connection, as another HA run (or another HA) would open."""
    return SparkSSH(
        ssh_host.host,
        SSHCredentials(
            ssh_host.username, private_key=ssh_host.client_private_key, port=ssh_host.port
        ),
        pinned_host_key=ssh_host.host_public_key,
        connect_timeout=5.0,
        command_timeout=15.0,
    )


async def build_waiting(ssh_host: SSHTestHost) -> int:
    """Wait until the remote build sits at the gate; the waiting docker client's pid."""
    async with asyncio.timeout(60):  # a guard against a hang, not a timing assumption
        while (pid := ssh_host.gated_build_pid()) is None:
            await asyncio.sleep(0.02)
    return pid


def install_dir(ssh_host: SSHTestHost) -> Path:
    return ssh_host.dir / "home" / STATE_DIR


async def test_build_runs_detached_and_outlives_its_ssh_connection(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    """The build is its own session on the Spark: a dropped connection does not end it.

    The job follows the log again over a new connection and finishes; the lock is
    released and the log stays for a look later.
    """
    ssh_host.gate_builds()
    job = InstallJob(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    run = asyncio.create_task(job.run())
    docker_pid = await build_waiting(ssh_host)
    pgid = int((install_dir(ssh_host) / "pid").read_text())
    assert os.getsid(pgid) == pgid  # its own session, not sshd's
    assert os.getpgid(docker_pid) == pgid
    assert ssh_host.drop_connections() > 0
    assert process_group_alive(pgid)
    ssh_host.open_gate()
    assert await asyncio.wait_for(run, 60) is Phase.DONE, job.lines
    assert [c[1] for c in ssh_host.docker_calls()].count("build") == 1
    assert "Successfully tagged spark-audio/whisperx:1.2.3" in job.lines
    assert job.lines.count("#9 [builder 5/6] RUN ninja install") == 1  # followed on, not again
    assert container_running(ssh_host)
    assert not process_group_alive(pgid)
    assert sorted(p.name for p in install_dir(ssh_host).iterdir()) == ["log"]
    assert_no_secret(ssh_host, job)


async def test_a_restarted_ha_takes_up_the_running_build(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    """HA stops mid-build (the manager's shutdown), a new run finds the build and finishes it.

    The first run leaves the Spark alone; the second, with a new connection, sees the
    build recorded as its own, shows its progress again from the log and completes the
    install (replace, run, healthy) under the same job id.
    """
    ssh_host.gate_builds()
    ssh_host.write_containers({"whisperx-asr": {"state": "running"}})
    first_run = InstallManager()
    first = first_run.start(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    await build_waiting(ssh_host)
    while first.phase is not Phase.BUILD or not first.build_launched:
        await asyncio.sleep(0.02)
    await first_run.shutdown()
    assert first.detached
    assert first.done
    assert any("stopped following" in line for line in first.lines)
    pgid = int((install_dir(ssh_host) / "pid").read_text())
    assert process_group_alive(pgid)
    assert container_running(ssh_host)  # the old service was not touched

    async with open_ssh(ssh_host) as ssh:
        base = str(ssh_host.dir / "home")
        state = await RemoteBuild(ssh, base).state()
        assert state is not None
        assert state.status is BuildStatus.RUNNING
        assert state.record == BuildRecord("127.0.0.1", first.id, "spark-audio/whisperx:1.2.3")
        second_run = InstallManager()
        cfg = replace(config(ssh_host), image_tag=state.record.image)
        job = second_run.start(
            ssh, cfg, context, standin_health(ssh_host), job_id=first.id, resume=True
        )
        assert job.id == first.id
        async for update in job.updates():
            if update.line and "[builder 4/6]" in update.line:
                break  # the log so far, replayed: the bar is back where it was
        assert job.phase is Phase.BUILD
        assert job.percent > PHASE_RANGES[Phase.BUILD][0]
        assert not (ssh_host.dir / "images.json").exists()  # still building
        ssh_host.open_gate()
        await asyncio.wait_for(job.wait(), 60)
    assert job.phase is Phase.DONE, job.lines
    assert [c[1] for c in ssh_host.docker_calls()] == ["version", "info", "build", "rm", "run"]
    assert ssh_host.containers()["whisperx-asr"]["image"] == "spark-audio/whisperx:1.2.3"
    assert not (install_dir(ssh_host) / "pid").exists()


async def test_cancel_stops_the_remote_build_and_releases_the_lock(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    """Cancel kills the build's whole process group on the Spark; a new install may start."""
    ssh_host.gate_builds()
    ssh_host.write_containers({"whisperx-asr": {"state": "running"}})
    manager = InstallManager()
    job = manager.start(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    docker_pid = await build_waiting(ssh_host)
    pgid = int((install_dir(ssh_host) / "pid").read_text())
    assert process_group_alive(pgid)
    assert job.cancel()
    await asyncio.wait_for(job.wait(), 60)
    assert job.phase is Phase.CANCELLED
    assert not process_group_alive(pgid)
    assert not process_alive(docker_pid)
    assert not (install_dir(ssh_host) / "pid").exists()
    assert any("stopped the build" in line for line in job.lines)
    assert container_running(ssh_host)  # cancelled before the swap
    async with open_ssh(ssh_host) as ssh:
        assert await RemoteBuild(ssh, str(ssh_host.dir / "home")).state() is None
    ssh_host.open_gate()
    again = manager.start(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    assert await asyncio.wait_for(_ended(again), 60) is Phase.DONE


async def _ended(job: InstallJob) -> Phase:
    await job.wait()
    return job.phase


async def test_a_second_ha_is_refused_while_a_build_runs(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    """The lock is on the Spark: another HA (its own manager and connection) is refused.

    It is refused before its upload, which would replace the running build's context,
    and a launch that slipped past that check is refused by the lock itself.
    """
    ssh_host.gate_builds()
    first = InstallManager().start(
        spark_ssh, config(ssh_host), context, standin_health(ssh_host), host_key="ha-one"
    )
    await build_waiting(ssh_host)
    async with open_ssh(ssh_host) as ssh:
        other = InstallManager().start(
            ssh, config(ssh_host), context, standin_health(ssh_host), host_key="ha-two"
        )
        await asyncio.wait_for(other.wait(), 60)
        assert other.phase is Phase.FAILED
        assert other.failed_phase is Phase.PREFLIGHT
        assert f"already running on 127.0.0.1 (job {first.id})" in (other.error or "")
        remote = RemoteBuild(ssh, str(ssh_host.dir / "home"))
        with pytest.raises(InstallInProgressError) as caught:
            await remote.launch(["sleep", "60"], BuildRecord("ha-two", "x" * 8, "a/b:1.0.0"))
        assert caught.value.job_id == first.id
    assert [c[1] for c in ssh_host.docker_calls()].count("build") == 1
    ssh_host.open_gate()
    await asyncio.wait_for(first.wait(), 60)
    assert first.phase is Phase.DONE, first.lines


async def test_a_build_that_died_is_reported_when_taken_up(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    """A build killed while HA was away (no exit status) ends the taken-up job FAILED."""
    ssh_host.gate_builds()
    ssh_host.write_containers({"whisperx-asr": {"state": "running"}})
    first_run = InstallManager()
    first = first_run.start(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    await build_waiting(ssh_host)
    while not first.build_launched:
        await asyncio.sleep(0.02)
    await first_run.shutdown()
    pgid = int((install_dir(ssh_host) / "pid").read_text())
    os.killpg(pgid, signal.SIGKILL)
    job = InstallManager().start(
        spark_ssh, config(ssh_host), context, standin_health(ssh_host), resume=True
    )
    await asyncio.wait_for(job.wait(), 60)
    assert job.phase is Phase.FAILED
    assert job.failed_phase is Phase.BUILD
    assert "stopped without an exit status" in (job.error or "")
    assert container_running(ssh_host)
    assert not (install_dir(ssh_host) / "pid").exists()


# Health and docker answers the install must not misread ----------------------------------


async def test_models_that_never_load_fail_the_install(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    """A service that answers but never has its models loaded is not healthy: FAILED, removed."""
    checks = 0

    async def not_loaded() -> bool:
        nonlocal checks
        checks += 1
        return False

    cfg = config(ssh_host, health_timeout=0.3, health_interval=0.05)
    job = InstallJob(spark_ssh, cfg, context, not_loaded)
    assert await job.run() is Phase.FAILED
    assert checks >= 2
    assert job.failed_phase is Phase.WAIT_HEALTHY
    assert "not healthy within 0.3 s (models not loaded yet)" in (job.error or "")
    assert ssh_host.containers() == {}


@pytest.mark.parametrize(
    ("health", "require_diarizer", "ready"),
    [
        ({"whisper_loaded": False, "diarizer_loaded": False}, False, False),
        ({"whisper_loaded": False, "diarizer_loaded": True}, True, False),
        ({"whisper_loaded": True, "diarizer_loaded": False}, True, False),
        ({"whisper_loaded": True, "diarizer_loaded": False}, False, True),
        ({"whisper_loaded": True, "diarizer_loaded": True}, True, True),
    ],
)
async def test_the_install_health_check_waits_for_the_models(
    session: aiohttp.ClientSession,
    health: dict[str, bool],
    require_diarizer: bool,
    ready: bool,
) -> None:
    """The real check against a /health that answers 200: ready only with the models loaded."""

    async def handler(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", **health})

    app = web.Application()
    app.router.add_get("/health", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        check = whisperx_health_check(session, "127.0.0.1", port, require_diarizer=require_diarizer)
        assert await check() is ready
    finally:
        await runner.cleanup()


async def test_docker_errors_are_not_read_as_a_missing_container(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH
) -> None:
    """Only Docker's "No such container" means missing; any other failure is an error."""
    docker = DockerOverSSH(spark_ssh)
    assert await docker.remove("whisperx-asr") is False
    assert await docker.inspect_state("whisperx-asr") is ContainerState.MISSING
    ssh_host.write_containers({"whisperx-asr": {"state": "running"}})
    ssh_host.set_standin(
        rm_error="removal of container whisperx-asr is already in progress",
        inspect_error="Cannot connect to the Docker daemon. Is the docker daemon running?",
    )
    with pytest.raises(SparkSSHCommandError, match="removal of container whisperx-asr"):
        await docker.remove("whisperx-asr")
    for read in (docker.inspect_state, docker.started_at):
        with pytest.raises(SparkSSHCommandError, match="Cannot connect to the Docker daemon"):
            await read("whisperx-asr")
    assert container_running(ssh_host)


async def test_a_failed_rm_fails_the_install_before_run(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    """The old container could not be removed: the install stops there, it runs nothing."""
    ssh_host.write_containers({"whisperx-asr": {"state": "running"}})
    ssh_host.set_standin(rm_error="removal of container whisperx-asr is already in progress")
    job = InstallJob(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    assert await job.run() is Phase.FAILED
    assert job.failed_phase is Phase.REPLACE
    assert "already in progress" in (job.error or "")
    assert "run" not in [c[1] for c in ssh_host.docker_calls()]
    assert not any("no container whisperx-asr to remove" in line for line in job.lines)


async def test_a_build_that_ended_while_ha_was_away_finishes_the_install(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, context: Path
) -> None:
    """The build ended between HA's stop and start: the take-up reports it and goes on."""
    ssh_host.gate_builds()
    first_run = InstallManager()
    first = first_run.start(spark_ssh, config(ssh_host), context, standin_health(ssh_host))
    await build_waiting(ssh_host)
    while not first.build_launched:
        await asyncio.sleep(0.02)
    await first_run.shutdown()
    ssh_host.open_gate()
    async with asyncio.timeout(60):
        while not (install_dir(ssh_host) / "exit").exists():
            await asyncio.sleep(0.02)
    job = InstallManager().start(
        spark_ssh, config(ssh_host), context, standin_health(ssh_host), resume=True
    )
    await asyncio.wait_for(job.wait(), 60)
    assert job.phase is Phase.DONE, job.lines
    assert "Successfully tagged spark-audio/whisperx:1.2.3" in job.lines
    assert [c[1] for c in ssh_host.docker_calls()] == ["version", "info", "build", "rm", "run"]
    assert sorted(p.name for p in install_dir(ssh_host).iterdir()) == ["log"]
