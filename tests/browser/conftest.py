"""Real processes for the browser tests: the simulated Spark and Home Assistant itself.

Both run as subprocesses (not the in-process `hass` fixture) so the browser talks to
the same HTTP server, frontend and config flow machinery a user gets.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from homeassistant.util.yaml import dump, load_yaml_dict

from tests.ssh_host.server import SSHTestHost

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
SERVICES = ("parakeet", "magpie", "whisperx")
USERNAME = "spark"
PASSWORD = "spark-audio-browser-test"
# A first start on a 2-core machine, with cold bytecode caches, can take this long.
HASS_START_TIMEOUT_S = 120.0
LOG_TAIL_LINES = 150

# Logs (and screenshots) of the processes a test started, shown when it fails.
ARTIFACTS = pytest.StashKey[list[Path]]()


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker so `-m "not browser"` can leave these slow tests out."""
    config.addinivalue_line(
        "markers", "browser: end-to-end test driving a real Home Assistant in Chromium"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the tails of the processes' logs to a failing test's report."""
    report = yield
    if report.failed:
        for path in item.stash.get(ARTIFACTS, []):
            if path.suffix == ".log" and path.exists():
                lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
                report.sections.append((f"{path.name} (last lines)", "\n".join(lines)))
            elif path.exists():
                report.sections.append(("artifact", str(path)))
    return report


@dataclass(frozen=True)
class SimulatedSpark:
    """Where the simulator process listens."""

    host: str
    ports: dict[str, int]


@dataclass(frozen=True)
class HassServer:
    """A running, onboarded Home Assistant and an owner's access token."""

    url: str
    token: str
    config_dir: Path
    log: Path
    pid: int

    def rest(self, method: str, path: str, body: Any = None) -> Any:
        """Call HA's REST API as the owner."""
        return http_json(method, self.url + path, body, token=self.token)


def http_json(
    method: str, url: str, body: Any = None, *, token: str | None = None, form: bool = False
) -> Any:
    """One JSON request with the standard library (no extra client for the test venv)."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        if form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            raw = response.read()
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")
        raise AssertionError(f"{method} {url} -> {err.code}: {detail}") from err
    return json.loads(raw) if raw else None


def _free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    """Whether something accepts connections on a loopback port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_until(
    ready: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float, what: str
) -> None:
    """Poll until `ready()`; fail fast if the process died instead."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with code {proc.returncode} before it was ready")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} was not ready after {timeout:.0f} s")
        time.sleep(0.25)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (both processes shut down cleanly on it), SIGKILL if that hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def loopback(request: pytest.FixtureRequest) -> None:
    """Real loopback sockets: HA's pytest plugin blocks inet sockets for every test."""
    if request.config.pluginmanager.hasplugin("socket"):
        request.getfixturevalue("socket_enabled")


@pytest.fixture
def ssh_server(loopback: None) -> Iterator[SSHTestHost]:
    """A real OpenSSH server on loopback (see tests/ssh_host) for the SSH part of the flow."""
    with SSHTestHost() as host:
        yield host


@pytest.fixture
def sim_process(
    loopback: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[SimulatedSpark]:
    """`python -m tests.spark_sim` on free loopback ports, as scripts/develop runs it."""
    # Port 0 and a ports file: the simulator binds what the OS gives it, so no other process
    # can take a port between our picking it and the simulator binding it.
    ports_file = tmp_path / "spark_sim_ports.json"
    log = tmp_path / "spark_sim.log"
    request.node.stash.setdefault(ARTIFACTS, []).append(log)
    command = [sys.executable, "-m", "tests.spark_sim", "--host", "127.0.0.1"]
    for service in SERVICES:
        command += [f"--{service}-port", "0"]
    command += ["--ports-file", str(ports_file)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until(ports_file.exists, proc, 30, "the simulated Spark")
        ports = {s: int(p) for s, p in json.loads(ports_file.read_text()).items()}
        assert all(_listening(p) for p in ports.values())
        yield SimulatedSpark(host="127.0.0.1", ports=ports)
    finally:
        _stop(proc)


@pytest.fixture
def hass_server(
    loopback: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[HassServer]:
    """`hass` on a throwaway copy of config/, started, onboarded and RUNNING."""
    config_dir = tmp_path / "hass_config"
    config_dir.mkdir()
    config = load_yaml_dict(REPO / "config" / "configuration.yaml")
    port = _free_port()
    config["http"] = {**(config.get("http") or {}), "server_host": "127.0.0.1", "server_port": port}
    (config_dir / "configuration.yaml").write_text(dump(config))
    (config_dir / "custom_components").symlink_to(REPO / "custom_components")
    log = config_dir / "hass_console.log"
    request.node.stash.setdefault(ARTIFACTS, []).append(log)

    # --skip-pip: the venv must stay what scripts/setup made it (see scripts/develop).
    command = [sys.executable, "-m", "homeassistant", "-c", str(config_dir), "--skip-pip"]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=config_dir, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        _wait_until(lambda: _answers(url + "/api/onboarding"), proc, HASS_START_TIMEOUT_S, "hass")
        token = _onboard(url)
        _wait_until(lambda: _running(url, token), proc, HASS_START_TIMEOUT_S, "hass startup")
        print(f"hass answered and is RUNNING after {time.monotonic() - started:.1f} s")
        yield HassServer(url=url, token=token, config_dir=config_dir, log=log, pid=proc.pid)
    finally:
        _stop(proc)


def _answers(url: str) -> bool:
    """Whether HA's HTTP server is up (onboarding answers without auth)."""
    try:
        http_json("GET", url)
    except (OSError, AssertionError):
        return False
    return True


def _running(url: str, token: str) -> bool:
    """Whether HA finished starting (every configured integration set up)."""
    return bool(http_json("GET", url + "/api/config", token=token).get("state") == "RUNNING")


def _onboard(url: str) -> str:
    """Do every onboarding step over REST, as the frontend would; return an access token."""
    client_id = url + "/"
    auth_code = http_json(
        "POST",
        url + "/api/onboarding/users",
        {
            "client_id": client_id,
            "name": "Spark Tester",
            "username": USERNAME,
            "password": PASSWORD,
            "language": "en",
        },
    )["auth_code"]
    tokens = http_json(
        "POST",
        url + "/auth/token",
        {"grant_type": "authorization_code", "code": auth_code, "client_id": client_id},
        form=True,
    )
    token: str = tokens["access_token"]
    http_json("POST", url + "/api/onboarding/core_config", {}, token=token)
    http_json("POST", url + "/api/onboarding/analytics", {}, token=token)
    http_json(
        "POST",
        url + "/api/onboarding/integration",
        {"client_id": client_id, "redirect_uri": client_id + "?auth_callback=1"},
        token=token,
    )
    steps = http_json("GET", url + "/api/onboarding")
    assert all(step["done"] for step in steps), steps
    return token


def chromium_available() -> bool:
    """The browser tests use the distribution's Chromium, never a downloaded one."""
    return CHROMIUM.exists() and shutil.which(str(CHROMIUM)) is not None
