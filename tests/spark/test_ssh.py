"""SparkSSH against a real OpenSSH server on loopback (tests/ssh_host).

Pinned host keys, auth failures, dropped connections and shell quoting only
behave truthfully against the server a Spark really runs, so nothing here is
mocked: sshd runs per test, `docker` is a stand-in that drives the simulated
Spark's /_sim/restart.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import tarfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import pytest

from custom_components.spark_audio.spark.errors import (
    SparkError,
    SparkSSHAuthError,
    SparkSSHCommandError,
    SparkSSHConnectionError,
    SparkSSHError,
    SparkSSHHostKeyError,
    SparkSSHTimeoutError,
)
from custom_components.spark_audio.spark.remote.docker import (
    ContainerState,
    DockerOverSSH,
    validate_container_name,
)
from custom_components.spark_audio.spark.remote.ssh import CommandResult, SparkSSH
from custom_components.spark_audio.spark.remote.ssh_login import (
    HostKey,
    SSHCredentials,
    check_private_key,
    fetch_host_key,
    host_key_fingerprint,
)
from tests.spark_sim.faults import Fault
from tests.spark_sim.server import SparkSim
from tests.ssh_host import SSHTestHost
from tests.ssh_host.impostor import ImpostorSSH
from tests.ssh_host.server import ssh_keygen_fingerprint

SECRET_PASSWORD = "hunter2-do-not-leak"
# A valid ed25519 public key for tests that never get as far as a key exchange.
SOME_PIN = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICd32RoQFGAuNQmY6Hr3oo1JBGqIAWyvUfcxaRJo7Q9o"


@pytest.fixture
def ssh_host(socket_enabled: None) -> Iterator[SSHTestHost]:
    """A real sshd on a loopback port for this test only."""
    with SSHTestHost() as host:
        yield host


def key_credentials(host: SSHTestHost, private_key: str | None = None) -> SSHCredentials:
    return SSHCredentials(
        username=host.username,
        private_key=private_key or host.client_private_key,
        port=host.port,
    )


@pytest.fixture
async def spark_ssh(ssh_host: SSHTestHost) -> AsyncIterator[SparkSSH]:
    """A client with the generated key and the server's pinned host key."""
    ssh = SparkSSH(
        ssh_host.host,
        key_credentials(ssh_host),
        pinned_host_key=ssh_host.host_public_key,
        connect_timeout=5.0,
        command_timeout=10.0,
    )
    try:
        yield ssh
    finally:
        await ssh.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def exception_text(err: BaseException) -> str:
    """Everything an exception (and its causes) would print or log."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


# Host keys ------------------------------------------------------------------


async def test_fetch_host_key_matches_ssh_keygen(ssh_host: SSHTestHost) -> None:
    key = await fetch_host_key(ssh_host.host, ssh_host.port, timeout=5)
    expected = ssh_keygen_fingerprint(ssh_host.host_public_key_path)
    assert key == HostKey(openssh=ssh_host.host_public_key, fingerprint=expected)
    assert key.fingerprint.startswith("SHA256:")
    assert host_key_fingerprint(ssh_host.host_public_key + " some-comment") == expected
    # Fetching the key is not a login.
    assert ssh_host.accepted_logins() == 0


async def test_fetch_host_key_offers_no_user_name_or_secret(socket_enabled: None) -> None:
    """Against an impostor that records authentication: the key exchange and nothing else."""
    async with ImpostorSSH() as impostor:
        key = await fetch_host_key(impostor.host, impostor.port, timeout=5)
    assert key.fingerprint == impostor.fingerprint
    assert impostor.connections == 1
    assert impostor.attempts == []


async def test_a_server_with_another_key_gets_no_secret(socket_enabled: None) -> None:
    """Pinning refuses the impostor's key during the key exchange, before any credential."""
    async with ImpostorSSH() as impostor:
        creds = SSHCredentials("spark", password=SECRET_PASSWORD, port=impostor.port)
        async with SparkSSH(impostor.host, creds, pinned_host_key=SOME_PIN) as ssh:
            with pytest.raises(SparkSSHHostKeyError) as caught:
                await ssh.run(["true"])
    assert caught.value.actual_fingerprint == impostor.fingerprint
    assert impostor.attempts == []


async def test_fetch_host_key_refused(socket_enabled: None) -> None:
    with pytest.raises(SparkSSHConnectionError):
        await fetch_host_key("127.0.0.1", free_port(), timeout=5)


def test_malformed_pin_is_rejected_up_front() -> None:
    creds = SSHCredentials("root", password="x")
    with pytest.raises(ValueError, match="not an OpenSSH public key"):
        SparkSSH("127.0.0.1", creds, pinned_host_key="ssh-ed25519 not-base64!")


async def test_changed_host_key_is_refused_before_any_command(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, tmp_path: Path
) -> None:
    await spark_ssh.run(["true"])
    old_fingerprint = ssh_host.host_key_fingerprint
    ssh_host.rotate_host_key()
    marker = tmp_path / "ran"
    logins = ssh_host.accepted_logins()

    with pytest.raises(SparkSSHHostKeyError) as caught:
        await spark_ssh.run(["touch", str(marker)])

    err = caught.value
    assert err.expected_fingerprint == old_fingerprint
    assert err.actual_fingerprint == ssh_host.host_key_fingerprint != old_fingerprint
    assert old_fingerprint in str(err)
    assert ssh_host.host_key_fingerprint in str(err)
    assert not marker.exists()
    assert ssh_host.accepted_logins() == logins


async def test_server_without_the_pinned_key_type_is_a_host_key_error(
    ssh_host: SSHTestHost,
) -> None:
    """Pinned ECDSA, server only has ed25519: report its key, not a vague reset."""
    ecdsa = asyncssh.generate_private_key("ecdsa-sha2-nistp256").export_public_key().decode()
    ssh = SparkSSH(ssh_host.host, key_credentials(ssh_host), pinned_host_key=ecdsa)
    try:
        with pytest.raises(SparkSSHHostKeyError) as caught:
            await ssh.run(["true"])
    finally:
        await ssh.close()
    assert caught.value.actual_fingerprint == ssh_host.host_key_fingerprint
    assert caught.value.expected_fingerprint == host_key_fingerprint(ecdsa)


# Auth -------------------------------------------------------------------------


async def test_key_auth_runs_a_command(ssh_host: SSHTestHost, spark_ssh: SparkSSH) -> None:
    result = await spark_ssh.run(["sh", "-c", 'echo "$0 out"; echo err >&2', "hello"])
    assert result == CommandResult(exit_status=0, stdout="hello out\n", stderr="err\n")
    user = await spark_ssh.run(["id", "-un"])
    assert user.stdout.strip() == ssh_host.username


async def test_password_auth(ssh_host: SSHTestHost) -> None:
    try:
        user, password = ssh_host.ensure_password_user()
    except PermissionError as err:
        pytest.skip(f"password auth needs a local test user: {err}")
    creds = SSHCredentials(user, password=password, port=ssh_host.port)
    async with SparkSSH(ssh_host.host, creds, pinned_host_key=ssh_host.host_public_key) as ssh:
        result = await ssh.run(["id", "-un"])
    assert result.stdout.strip() == user
    assert "Accepted password for sparkci" in ssh_host.log()

    wrong = SSHCredentials(user, password=SECRET_PASSWORD, port=ssh_host.port)
    async with SparkSSH(ssh_host.host, wrong, pinned_host_key=ssh_host.host_public_key) as ssh:
        with pytest.raises(SparkSSHAuthError) as caught:
            await ssh.run(["true"])
    assert SECRET_PASSWORD not in exception_text(caught.value)


async def test_wrong_key_is_an_auth_error(ssh_host: SSHTestHost) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    creds = key_credentials(ssh_host, other)
    async with SparkSSH(ssh_host.host, creds, pinned_host_key=ssh_host.host_public_key) as ssh:
        with pytest.raises(SparkSSHAuthError) as caught:
            await ssh.run(["true"])
    assert ssh_host.accepted_logins() == 0
    assert other not in exception_text(caught.value)
    assert "PRIVATE KEY" not in exception_text(caught.value)


async def test_unreadable_key_is_an_auth_error_without_its_text(ssh_host: SSHTestHost) -> None:
    real = ssh_host.client_private_key
    broken = real.replace("b3BlbnNzaC1rZXktdjE", "b3BlbnNzaC1rZXktdjF", 1)
    assert broken != real
    creds = key_credentials(ssh_host, broken)
    async with SparkSSH(ssh_host.host, creds, pinned_host_key=ssh_host.host_public_key) as ssh:
        with pytest.raises(SparkSSHAuthError) as caught:
            await ssh.run(["true"])
    text = exception_text(caught.value)
    body = [line for line in broken.splitlines() if "PRIVATE KEY" not in line]
    assert all(line not in text for line in body)


def test_credentials_repr_hides_secrets() -> None:
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAsecretkeymaterial\n-----END"
    creds = SSHCredentials("spark", private_key=key, password=SECRET_PASSWORD, port=2222)
    text = repr(creds) + str(creds)
    assert "spark" in text
    assert "2222" in text
    assert "secretkeymaterial" not in text
    assert SECRET_PASSWORD not in text
    ssh = SparkSSH("10.0.0.5", creds, pinned_host_key=SOME_PIN)
    assert SECRET_PASSWORD not in repr(ssh)
    assert "secretkeymaterial" not in repr(ssh)


@pytest.mark.filterwarnings("ignore:Warning. bcrypt.kdf:UserWarning")
def test_check_private_key() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    check_private_key(key.export_private_key().decode())
    encrypted = key.export_private_key(passphrase="pw", rounds=1).decode()
    for bad in (encrypted, "-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n", ""):
        with pytest.raises(ValueError, match="not a usable SSH private key") as caught:
            check_private_key(bad)
        assert "nope" not in str(caught.value)


def test_credentials_need_a_secret() -> None:
    with pytest.raises(ValueError, match="private key or a password"):
        SSHCredentials("spark")
    with pytest.raises(ValueError, match="port"):
        SSHCredentials("spark", password="x", port=0)


# Connection reuse, drops and timeouts ------------------------------------------


async def test_one_connection_is_shared_and_reused(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH
) -> None:
    for i in range(3):
        assert (await spark_ssh.run(["echo", str(i)])).stdout == f"{i}\n"
    # More than the per-connection session cap, so some wait for a channel.
    results = await asyncio.gather(*(spark_ssh.run(["echo", str(i)]) for i in range(10)))
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(10)]
    assert ssh_host.accepted_logins() == 1


async def test_concurrent_first_calls_open_one_connection(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH
) -> None:
    await asyncio.gather(*(spark_ssh.run(["true"]) for _ in range(5)))
    assert ssh_host.accepted_logins() == 1


async def test_reconnects_after_sshd_restart(ssh_host: SSHTestHost, spark_ssh: SparkSSH) -> None:
    await spark_ssh.run(["true"])
    ssh_host.stop()
    with pytest.raises(SparkSSHConnectionError):
        await spark_ssh.run(["true"])
    ssh_host.start()
    assert (await spark_ssh.run(["echo", "back"])).stdout == "back\n"
    assert ssh_host.accepted_logins() == 2


async def test_connection_lost_unnoticed_is_replaced_once(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, tmp_path: Path
) -> None:
    """The drop happens while the loop is blocked: the channel open finds it, then retries."""
    await spark_ssh.run(["true"])
    ssh_host.drop_connections()
    assert spark_ssh.connected  # the loop has not seen the reset yet
    counter = tmp_path / "count"
    await spark_ssh.run(["sh", "-c", 'echo x >> "$0"', str(counter)])
    assert counter.read_text() == "x\n"  # ran exactly once
    assert ssh_host.accepted_logins() == 2


async def test_drop_mid_command_is_a_connection_error_not_a_retry(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    task = asyncio.create_task(spark_ssh.run(["sh", "-c", 'echo x >> "$0"; sleep 5', str(counter)]))
    deadline = time.monotonic() + 5
    while not counter.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    ssh_host.drop_connections()
    with pytest.raises(SparkSSHConnectionError, match="dropped"):
        await task
    assert counter.read_text() == "x\n"
    assert ssh_host.accepted_logins() == 1


async def test_connection_refused(socket_enabled: None) -> None:
    creds = SSHCredentials("root", password=SECRET_PASSWORD, port=free_port())
    async with SparkSSH("127.0.0.1", creds, pinned_host_key=SOME_PIN, connect_timeout=5) as ssh:
        with pytest.raises(SparkSSHConnectionError) as caught:
            await ssh.run(["true"])
    assert not isinstance(caught.value, SparkSSHTimeoutError)
    assert SECRET_PASSWORD not in exception_text(caught.value)


async def test_connect_timeout_when_server_never_speaks(socket_enabled: None) -> None:
    """A port that accepts TCP but never sends the SSH banner (a hung box)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        creds = SSHCredentials("root", password="x", port=listener.getsockname()[1])
        async with SparkSSH(
            "127.0.0.1", creds, pinned_host_key=SOME_PIN, connect_timeout=0.3
        ) as ssh:
            started = time.monotonic()
            results = await asyncio.gather(
                *(ssh.run(["true"]) for _ in range(4)), return_exceptions=True
            )
            elapsed = time.monotonic() - started
    assert all(isinstance(r, SparkSSHTimeoutError) for r in results), results
    # Callers queued behind the failed attempt share its failure: one timeout, not four.
    assert elapsed < 0.9


async def test_command_timeout(ssh_host: SSHTestHost, spark_ssh: SparkSSH) -> None:
    started = time.monotonic()
    with pytest.raises(SparkSSHTimeoutError, match=r"did not finish within 0\.3 s") as caught:
        await spark_ssh.run(["sleep", "5"], timeout=0.3)
    # A root login's command ignores SIGTERM over SSH: the channel is abandoned
    # after a one-second grace instead of waiting for `sleep` to end.
    assert time.monotonic() - started < 3
    assert isinstance(caught.value, SparkSSHConnectionError)
    # The connection survives a timed-out command.
    assert (await spark_ssh.run(["echo", "ok"])).stdout == "ok\n"
    assert ssh_host.accepted_logins() == 1


async def test_non_zero_exit_is_a_command_error(spark_ssh: SparkSSH) -> None:
    long_noise = "n" * 2000
    with pytest.raises(SparkSSHCommandError) as caught:
        await spark_ssh.run(["sh", "-c", f'echo {long_noise} >&2; echo "last words" >&2; exit 3'])
    err = caught.value
    assert err.exit_status == 3
    assert err.stderr.endswith("last words")
    assert len(err.stderr) <= 501
    assert "exited with status 3" in str(err)
    assert isinstance(err, SparkSSHError)
    assert isinstance(err, SparkError)

    unchecked = await spark_ssh.run(["sh", "-c", "exit 4"], check=False)
    assert unchecked.exit_status == 4


async def test_input_is_fed_to_stdin(spark_ssh: SparkSSH) -> None:
    result = await spark_ssh.run(["wc", "-c"], input=b"x" * 100_000)
    assert result.stdout.strip() == "100000"


# Quoting ----------------------------------------------------------------------

PAYLOADS = [
    "a; touch {marker}",
    "$(touch {marker})",
    "`touch {marker}`",
    "' ; touch {marker}; '",
    '" ; touch {marker}; "',
    "a && touch {marker}",
    "a | touch {marker}",
    "a\ntouch {marker}",
    "> {marker}",
]


async def test_arguments_are_never_split_or_interpreted(
    spark_ssh: SparkSSH, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    texts = [payload.format(marker=marker) for payload in PAYLOADS]
    result = await spark_ssh.run(["printf", "%s\\0", *texts])
    assert result.stdout.split("\0")[:-1] == texts
    result = await spark_ssh.run(["echo", "a; touch /tmp/pwned-spark-ssh-test"])
    assert result.stdout == "a; touch /tmp/pwned-spark-ssh-test\n"
    assert not marker.exists()
    assert not Path("/tmp/pwned-spark-ssh-test").exists()


async def test_a_shell_line_is_not_accepted_as_argv(spark_ssh: SparkSSH) -> None:
    with pytest.raises(ValueError, match="not a shell line"):
        await spark_ssh.run("echo hi")
    with pytest.raises(ValueError, match="non-empty"):
        await spark_ssh.run([])


# Docker -------------------------------------------------------------------------

BAD_NAMES = [
    "",
    "a;b",
    "a b",
    "$(id)",
    "`id`",
    "'x'",
    '"x"',
    "-rf",
    "--help",
    ".hidden",
    "_x",
    "a\nb",
    "a|b",
    "a&b",
    "../x",
    "a/b",
    "pärakeet",
    "x" * 129,
]


@pytest.mark.parametrize("name", ["parakeet", "whisperx-1", "a.b_c-d", "X9", "x" * 128])
def test_valid_container_names(name: str) -> None:
    assert validate_container_name(name) == name


async def test_bad_container_names_never_reach_ssh(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH
) -> None:
    docker = DockerOverSSH(spark_ssh)
    for name in BAD_NAMES:
        for call in (
            docker.restart,
            docker.start,
            docker.stop,
            docker.inspect_state,
            docker.started_at,
        ):
            with pytest.raises(ValueError, match="container name"):
                await call(name)
    assert not spark_ssh.connected
    assert ssh_host.accepted_logins() == 0
    assert ssh_host.docker_calls() == []


@pytest.fixture
async def wedged_sim(ssh_host: SSHTestHost, spark_sim: SparkSim) -> SparkSim:
    """Parakeet in a CUDA wedge, known to the stand-in docker as container `parakeet`."""
    spark_sim.states["parakeet"].fault = Fault.WEDGE
    ssh_host.write_containers(
        {
            "parakeet": {"state": "running", "control_url": spark_sim.url("parakeet")},
            "magpie": {"state": "exited", "control_url": spark_sim.url("magpie")},
            "paused-one": {"state": "paused"},
            "restarting-one": {"state": "restarting"},
        }
    )
    return spark_sim


async def test_docker_restart_reaches_the_simulated_service(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, wedged_sim: SparkSim
) -> None:
    parakeet = wedged_sim.states["parakeet"]
    docker = DockerOverSSH(spark_ssh)
    assert await docker.started_at("parakeet") is None
    before = datetime.now(UTC)

    await docker.restart("parakeet")

    assert parakeet.restarts == 1
    assert parakeet.fault == Fault.NONE
    assert ssh_host.docker_calls()[-1] == ["docker", "restart", "parakeet"]
    started = await docker.started_at("parakeet")
    assert started is not None
    assert started >= before.replace(microsecond=0)
    assert await docker.inspect_state("parakeet") is ContainerState.RUNNING


async def test_docker_inspect_states(spark_ssh: SparkSSH, wedged_sim: SparkSim) -> None:
    docker = DockerOverSSH(spark_ssh)
    assert await docker.inspect_state("parakeet") is ContainerState.RUNNING
    assert await docker.inspect_state("magpie") is ContainerState.EXITED
    assert await docker.inspect_state("restarting-one") is ContainerState.RESTARTING
    assert await docker.inspect_state("paused-one") is ContainerState.OTHER
    assert await docker.inspect_state("ghost") is ContainerState.MISSING
    assert await docker.started_at("ghost") is None


async def test_docker_stop_and_start(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, wedged_sim: SparkSim
) -> None:
    docker = DockerOverSSH(spark_ssh)
    await docker.stop("parakeet")
    assert wedged_sim.states["parakeet"].fault == Fault.DOWN
    assert await docker.inspect_state("parakeet") is ContainerState.EXITED
    await docker.start("parakeet")
    assert wedged_sim.states["parakeet"].fault == Fault.NONE
    assert await docker.inspect_state("parakeet") is ContainerState.RUNNING
    assert [call[1] for call in ssh_host.docker_calls()] == [
        "stop",
        "container",
        "start",
        "container",
    ]


async def test_docker_errors(ssh_host: SSHTestHost, spark_ssh: SparkSSH) -> None:
    ssh_host.write_containers({})
    docker = DockerOverSSH(spark_ssh)
    with pytest.raises(SparkSSHCommandError, match="No such container: ghost") as caught:
        await docker.restart("ghost")
    assert caught.value.exit_status == 1
    # A docker that fails for another reason is an error, not "missing".
    broken = DockerOverSSH(spark_ssh, docker=("sh", "-c", "echo daemon down >&2; exit 1", "-"))
    with pytest.raises(SparkSSHCommandError, match="daemon down"):
        await broken.inspect_state("parakeet")


# Tar upload --------------------------------------------------------------------


def make_tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def test_upload_tar_stream_extracts_while_streaming(
    spark_ssh: SparkSSH, tmp_path: Path
) -> None:
    files = {
        "first.txt": b"hello spark\n",
        "app/main.py": b"print('hi')\n",
        "app/model/weights.bin": os.urandom(200_000),
    }
    archive = make_tar(files)
    # Spaces and shell syntax in the target prove it is quoted.
    remote = tmp_path / "install dir; touch pwned"
    first = remote / "first.txt"
    chunks_sent = 0
    saw_first_file_mid_stream = False

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal chunks_sent, saw_first_file_mid_stream
        half = 64 * 1024
        for offset in range(0, half, 4096):
            chunks_sent += 1
            yield archive[offset : offset + 4096]
        # Streaming, not buffering: the remote tar already wrote the first file.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (
            first.exists() and first.read_bytes() == files["first.txt"]
        ):
            await asyncio.sleep(0.02)
        saw_first_file_mid_stream = first.exists()
        for offset in range(half, len(archive), 4096):
            chunks_sent += 1
            yield archive[offset : offset + 4096]

    await spark_ssh.upload_tar_stream(str(remote), chunks())

    assert saw_first_file_mid_stream
    assert chunks_sent == -(-len(archive) // 4096)
    for name, data in files.items():
        assert (remote / name).read_bytes() == data
    assert not (tmp_path / "pwned").exists()


async def test_upload_tar_stream_reports_a_bad_archive(spark_ssh: SparkSSH, tmp_path: Path) -> None:
    async def garbage() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"this is not a tar archive" * 100

    with pytest.raises(SparkSSHCommandError) as caught:
        await spark_ssh.upload_tar_stream(str(tmp_path / "target"), garbage())
    assert caught.value.exit_status != 0
    assert "tar" in caught.value.stderr


async def test_upload_tar_stream_times_out_on_a_stalled_source(
    ssh_host: SSHTestHost, spark_ssh: SparkSSH, tmp_path: Path
) -> None:
    async def stalled() -> AsyncIterator[bytes]:
        yield make_tar({"a.txt": b"a"})[:512]
        await asyncio.sleep(30)

    started = time.monotonic()
    with pytest.raises(SparkSSHTimeoutError, match="tar upload"):
        await spark_ssh.upload_tar_stream(str(tmp_path / "t"), stalled(), timeout=0.5)
    assert time.monotonic() - started < 3
    # The connection is still good for the next command.
    assert (await spark_ssh.run(["echo", "ok"])).stdout == "ok\n"
    assert ssh_host.accepted_logins() == 1


async def test_upload_tar_stream_rejects_tilde(spark_ssh: SparkSSH) -> None:
    async def nothing() -> AsyncIterator[bytes]:
        yield b""

    with pytest.raises(ValueError, match="'~'"):
        await spark_ssh.upload_tar_stream("~/whisperx", nothing())
    assert not spark_ssh.connected
