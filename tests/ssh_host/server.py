"""A real OpenSSH server on a loopback port, owned by one test.

The SSH client must be proven against the server the Spark really runs
(OpenSSH), not a mock: host-key pinning, auth failures, dropped connections
and shell quoting only behave truthfully there. `SSHTestHost` runs
`/usr/sbin/sshd -D` with its own temp dir (host key, client key,
authorized_keys, config) and puts a stand-in `docker` first on the sessions'
PATH (see `docker_standin.py`), and a stand-in `ip` (see `IP_ADDR_STANDIN`).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .docker_standin import CALLS_FILE, CONTAINERS_FILE, SETTINGS_FILE

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")
LOOPBACK = "127.0.0.1"
# A local account for password-auth tests; only created when running as root.
# The password is fixed (parallel test runs share the account) and the server
# only ever listens on loopback for the length of a test.
PASSWORD_USER = "sparkci"
PASSWORD = "spark-ci-loopback-only"
_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0
_STANDIN_SOURCE = Path(__file__).with_name("docker_standin.py")
# `ip -o addr show` of a Spark reached at 127.0.0.1, as iproute2 prints it on DGX OS: a
# stand-in, because test machines need not have iproute2 (scripts/setup does not install it)
# and discovery's move check must not depend on this machine's own interfaces.
IP_ADDR_LINES = (
    r"1: lo    inet 127.0.0.1/8 scope host lo\       valid_lft forever preferred_lft forever",
    r"1: lo    inet6 ::1/128 scope host noprefixroute \       valid_lft forever",
    r"2: enP7s7    inet 192.0.2.10/24 brd 192.0.2.255 scope global enP7s7\       valid_lft forever",
)
IP_ADDR_STANDIN = (
    "#!/bin/sh\n"
    '[ "$*" = "-o addr show" ] || { echo "stand-in ip: only -o addr show" >&2; exit 2; }\n'
    "cat <<'LINES'\n" + "\n".join(IP_ADDR_LINES) + "\nLINES\n"
)


class _PortTakenError(RuntimeError):
    """sshd could not bind its port."""


def _keygen(path: Path, comment: str) -> None:
    """A fresh unencrypted ed25519 key pair at `path` / `path.pub`."""
    for stale in (path, path.with_name(path.name + ".pub")):
        stale.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )


def ssh_keygen_fingerprint(public_key_file: Path) -> str:
    """SHA256 fingerprint of a public key as `ssh-keygen -lf` prints it."""
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key_file)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _descendants(root_pid: int) -> list[int]:
    """Every live process below `root_pid` (sshd's per-connection children)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            # The command name is in parentheses and may hold spaces.
            stat = (entry / "stat").read_text()
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [root_pid]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        found += children
        frontier += children
    return found


class SSHTestHost:
    """One sshd on 127.0.0.1 with generated keys and a stand-in `docker`.

    Use as a (sync or async) context manager, or call `start()` / `close()`.
    The port stays the same across `stop()` / `start()` / `rotate_host_key()`,
    like a Spark that reboots.
    """

    host = LOOPBACK

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="spark-sshd-"))
        # Sessions of other users (the password user) must reach the stand-in.
        self.dir.chmod(0o755)
        self.port = _free_port()
        self.username = getpass.getuser()
        self.password_user = PASSWORD_USER
        self.password = PASSWORD
        self.bin_dir = self.dir / "bin"
        self.bin_dir.mkdir()
        self.log_path = self.dir / "sshd.log"
        self.config_path = self.dir / "sshd_config"
        self._host_key_path = self.dir / "ssh_host_ed25519_key"
        self._client_key_path = self.dir / "client_ed25519"
        self._process: subprocess.Popen[bytes] | None = None
        self._ever_started = False
        _keygen(self._host_key_path, "spark-test-host")
        _keygen(self._client_key_path, "spark-test-client")
        keys_dir = self.dir / "authorized_keys"
        keys_dir.mkdir()
        (keys_dir / self.username).write_text(self.client_public_key + "\n")
        self._install_standin()
        # Apps that `docker run` starts need fastapi/uvicorn: this interpreter has them.
        self.set_standin(python=sys.executable)
        self._write_config()

    # Keys -----------------------------------------------------------------

    @property
    def client_private_key(self) -> str:
        """The authorized client key, OpenSSH PEM text."""
        return self._client_key_path.read_text()

    @property
    def client_public_key(self) -> str:
        """The authorized client key's public line."""
        return self._client_key_path.with_name(self._client_key_path.name + ".pub").read_text()

    @property
    def host_public_key_path(self) -> Path:
        """Path of the server's public host key file."""
        return self._host_key_path.with_name(self._host_key_path.name + ".pub")

    @property
    def host_public_key(self) -> str:
        """The server's host key as an openssh line without comment."""
        algorithm, blob = self.host_public_key_path.read_text().split()[:2]
        return f"{algorithm} {blob}"

    @property
    def host_key_fingerprint(self) -> str:
        """The host key's fingerprint, straight from `ssh-keygen -lf`."""
        return ssh_keygen_fingerprint(self.host_public_key_path)

    # Stand-in docker -------------------------------------------------------

    @property
    def standin_dir(self) -> Path:
        """`$SPARK_STANDIN_DIR` of the sessions."""
        return self.dir

    @property
    def docker_calls_path(self) -> Path:
        """JSON lines, one argv per `docker` invocation."""
        return self.dir / CALLS_FILE

    @property
    def containers_path(self) -> Path:
        """The stand-in's container table."""
        return self.dir / CONTAINERS_FILE

    def docker_calls(self) -> list[list[str]]:
        """Every recorded `docker` argv, oldest first."""
        if not self.docker_calls_path.exists():
            return []
        lines = self.docker_calls_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def write_containers(self, containers: dict[str, dict[str, Any]]) -> None:
        """Replace the stand-in's container table."""
        self.containers_path.write_text(json.dumps(containers, indent=2))

    def containers(self) -> dict[str, dict[str, Any]]:
        """The stand-in's container table as it is now."""
        if not self.containers_path.exists():
            return {}
        data: dict[str, dict[str, Any]] = json.loads(self.containers_path.read_text())
        return data

    @property
    def settings_path(self) -> Path:
        """The stand-in's settings (`standin.json`)."""
        return self.dir / SETTINGS_FILE

    def set_standin(self, **settings: Any) -> None:
        """Merge settings into `standin.json` (e.g. ``fail_build=True``); None removes one."""
        current: dict[str, Any] = (
            json.loads(self.settings_path.read_text()) if self.settings_path.exists() else {}
        )
        current.update(settings)
        current = {key: value for key, value in current.items() if value is not None}
        self.settings_path.write_text(json.dumps(current, indent=2))

    @property
    def build_gate(self) -> Path:
        """The file that lets a gated stand-in build go on (see `gate_builds`)."""
        return self.dir / "build-gate"

    def gate_builds(self) -> None:
        """Make stand-in builds wait before their compile step until `open_gate`."""
        self.build_gate.unlink(missing_ok=True)
        self.set_standin(build_gate=str(self.build_gate))

    def open_gate(self) -> None:
        """Let a gated build go on to its end."""
        self.build_gate.touch()

    def gated_build_pid(self) -> int | None:
        """The pid of the `docker build` waiting at the gate, once one is."""
        waiting = self.build_gate.with_name(self.build_gate.name + ".waiting")
        text = waiting.read_text().strip() if waiting.exists() else ""
        return int(text) if text else None

    def kill_containers(self) -> None:
        """Kill every app process the stand-in's `docker run` started (test teardown)."""
        for container in self.containers().values():
            pid = container.get("pid")
            if isinstance(pid, int) and pid > 0:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)

    def kill_builds(self) -> None:
        """Kill every detached build the install left under this host (a failed test's gated one).

        They run in their own session, outside sshd: stopping the server does not end them.
        """
        for pid_file in self.dir.rglob(".cache/spark_audio/install/pid"):
            with contextlib.suppress(OSError, ValueError):
                pgid = int(pid_file.read_text())
                if pgid > 1:
                    os.killpg(pgid, signal.SIGKILL)

    def _install_standin(self) -> None:
        script = self.bin_dir / "docker"
        # -I -S: stdlib only, no site-packages, no user environment: starts fast.
        script.write_text(f"#!{sys.executable} -IS\n" + _STANDIN_SOURCE.read_text())
        script.chmod(0o755)
        ip = self.bin_dir / "ip"
        ip.write_text(IP_ADDR_STANDIN)
        ip.chmod(0o755)

    # Server lifecycle -----------------------------------------------------

    def _write_config(self) -> None:
        self.config_path.write_text(
            "\n".join(
                [
                    f"ListenAddress {LOOPBACK}:{self.port}",
                    f"HostKey {self._host_key_path}",
                    f"PidFile {self.dir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.dir / 'authorized_keys'}/%u",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication yes",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin yes",
                    "LogLevel VERBOSE",
                    "PrintMotd no",
                    "PrintLastLog no",
                    "X11Forwarding no",
                    "AllowTcpForwarding no",
                    "AllowAgentForwarding no",
                    "MaxStartups 50",
                    # HOME points at the temp dir so the login shell reads no ~/.bashrc:
                    # this machine's runs `pyenv rehash`, whose lock a session killed by
                    # stop() leaves behind, stalling every later login for 60 s.
                    f"SetEnv PATH={self.bin_dir}:/usr/bin:/bin SPARK_STANDIN_DIR={self.dir} "
                    f"HOME={self.dir}",
                    "",
                ]
            )
        )

    @property
    def running(self) -> bool:
        """Whether the listener process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start sshd and wait until it listens (same port every time).

        Only the very first start may move to another port, when the free port
        picked in __init__ was taken in between by someone else.
        """
        if self.running:
            return
        for _ in range(3):
            try:
                self._start_once()
            except _PortTakenError:
                if self._ever_started:
                    raise
                self.port = _free_port()
                self._write_config()
            else:
                self._ever_started = True
                return
        raise RuntimeError("sshd found no free loopback port")

    def _start_once(self) -> None:
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        mark = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config_path), "-E", str(self.log_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _START_TIMEOUT_S
        wanted = f"Server listening on {LOOPBACK} port {self.port}"
        while time.monotonic() < deadline:
            if wanted in self._log_since(mark):
                return
            if self._process.poll() is not None:
                break
            time.sleep(0.01)
        log = self._log_since(mark)
        self._reap()
        if "Address already in use" in log:
            raise _PortTakenError(log)
        raise RuntimeError(f"sshd did not start on port {self.port}:\n{log}")

    def _log_since(self, mark: int) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(mark)
            return log.read().decode(errors="replace")

    def drop_connections(self) -> int:
        """Kill every open session (the listener stays): a network blip.

        Returns how many processes were signalled.
        """
        if self._process is None:
            return 0
        # Freeze first, until no new process appears, so nothing forks a child
        # that would outlive the kill as an orphan; then kill them all.
        victims: list[int] = []
        while fresh := [pid for pid in _descendants(self._process.pid) if pid not in victims]:
            for pid in fresh:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            victims += fresh
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in victims):
            # Zombies of the listener's children vanish once it reaps them.
            if all(_is_zombie(p) for p in victims if Path(f"/proc/{p}").exists()):
                break
            time.sleep(0.01)
        return len(victims)

    def stop(self) -> None:
        """Stop sshd and every open session: SSH is down, as mid-reboot."""
        if self._process is None:
            return
        self.drop_connections()
        self._reap()

    def _reap(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def restart(self) -> None:
        """Stop and start on the same port."""
        self.stop()
        self.start()

    def rotate_host_key(self) -> str:
        """New host key, then restart: the "host key changed" case. Returns the new key."""
        self.stop()
        _keygen(self._host_key_path, "spark-test-host-rotated")
        self.start()
        return self.host_public_key

    def close(self) -> None:
        """Stop the server, kill started apps and detached builds, delete the temp dir."""
        self.stop()
        self.kill_containers()
        self.kill_builds()
        shutil.rmtree(self.dir, ignore_errors=True)

    # Logs -----------------------------------------------------------------

    def log(self) -> str:
        """sshd's log so far."""
        return self._log_since(0)

    def accepted_logins(self) -> int:
        """How many SSH logins sshd accepted (one per connection)."""
        return sum(
            1
            for line in self.log().splitlines()
            if "Accepted publickey for " in line or "Accepted password for " in line
        )

    def auth_attempts(self) -> int:
        """How many authentications sshd saw (accepted, failed or partial), at LogLevel VERBOSE."""
        return sum(
            1
            for line in self.log().splitlines()
            if any(f"{verdict} " in line for verdict in ("Accepted", "Failed", "Postponed"))
            and " for " in line
        )

    # Password user --------------------------------------------------------

    def ensure_password_user(self) -> tuple[str, str]:
        """Create (once) the local password-auth account; returns (user, password).

        Raises PermissionError when not root, since only root can add users.
        """
        if os.geteuid() != 0:
            raise PermissionError("creating a password-auth test user needs root")
        known = subprocess.run(["id", "-u", PASSWORD_USER], check=False, capture_output=True)
        exists = known.returncode == 0
        if not exists:
            subprocess.run(
                ["useradd", "--no-create-home", "--shell", "/bin/sh", PASSWORD_USER],
                check=True,
                capture_output=True,
            )
        subprocess.run(
            ["chpasswd"],
            input=f"{PASSWORD_USER}:{PASSWORD}\n".encode(),
            check=True,
            capture_output=True,
        )
        return PASSWORD_USER, PASSWORD

    # Context managers -----------------------------------------------------

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def process_alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie (a sandbox's PID 1 may reap none)."""
    return Path(f"/proc/{pid}").exists() and not _is_zombie(pid)


def process_group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is in that process group."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False
