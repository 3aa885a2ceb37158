"""A stand-in for the `docker` CLI, run by the test sshd's sessions.

There is no Docker engine here, so `SSHTestHost` installs this file as
`<tempdir>/bin/docker` (first on the sessions' PATH). It only uses the standard
library and runs with `python -I -S`, so it starts fast and sees nothing of the
test environment.

Contract (all files live in `$SPARK_STANDIN_DIR`):

- every invocation appends its argv (``["docker", ...]``) as one JSON line to
  ``docker_calls.jsonl``;
- ``containers.json`` maps a container name to ``{"state": "running",
  "control_url": "http://127.0.0.1:PORT", "restart_delay_s": 0,
  "restart_duration_s": 0, "started_at": "..."}`` (every key optional);
  the test writes it, `start`/`stop`/`restart` update it;
- ``docker [container] inspect --format TEMPLATE NAME...`` prints
  ``{{.State.Status}}``, ``{{.State.StartedAt}}`` or ``{{.State.Running}}``;
  a missing name exits 1 with ``Error: No such object: NAME`` (``No such
  container`` for ``docker container inspect``);
- ``docker restart NAME...`` POSTs ``{control_url}/_sim/restart`` with
  ``{"restart_delay_s": ...}``, marks it running and prints NAME;
- ``docker stop NAME...`` POSTs fault ``down`` to ``/_sim/control`` and marks it
  exited; ``docker start NAME...`` clears the fault and marks it running;
- anything else exits 1 with a Docker-like message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CALLS_FILE = "docker_calls.jsonl"
CONTAINERS_FILE = "containers.json"
_LOCK_FILE = "containers.lock"
_HTTP_TIMEOUT_S = 10.0
NEVER_STARTED = "0001-01-01T00:00:00Z"


def _dir() -> Path:
    return Path(os.environ.get("SPARK_STANDIN_DIR", "."))


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Serialize read-modify-write of containers.json across invocations."""
    with (_dir() / _LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load() -> dict[str, dict[str, Any]]:
    path = _dir() / CONTAINERS_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


def _save(containers: dict[str, dict[str, Any]]) -> None:
    path = _dir() / CONTAINERS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(containers, indent=2))
    tmp.replace(path)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def _post(url: str, body: dict[str, Any]) -> None:
    """POST JSON to the simulated service, bypassing any proxy settings."""
    request = urllib.request.Request(  # noqa: S310 - loopback URL from the test
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=_HTTP_TIMEOUT_S) as response:
        response.read()


def _err(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def _inspect(args: list[str], *, noun: str) -> int:
    template: str | None = None
    names: list[str] = []
    it = iter(args)
    for arg in it:
        if arg in {"--format", "-f"}:
            template = next(it, None)
        elif arg.startswith("--format="):
            template = arg.split("=", 1)[1]
        elif arg.startswith("-"):
            return _err(f"unknown flag: {arg}")
        else:
            names.append(arg)
    if not names:
        return _err('"docker inspect" requires at least 1 argument.')
    containers = _load()
    status = 0
    for name in names:
        container = containers.get(name)
        if container is None:
            status = _err(f"Error: No such {noun}: {name}")
            continue
        state = str(container.get("state", "running"))
        values = {
            "{{.State.Status}}": state,
            "{{.State.StartedAt}}": str(container.get("started_at", NEVER_STARTED)),
            "{{.State.Running}}": "true" if state == "running" else "false",
        }
        if template is None:
            print(json.dumps([{"Name": f"/{name}", "State": {"Status": state}}]))
        elif template in values:
            print(values[template])
        else:
            return _err(f"template: {template}: not supported by the docker stand-in")
    return status


def _lifecycle(command: str, names: list[str]) -> int:
    if not names:
        return _err(f'"docker {command}" requires at least 1 argument.')
    status = 0
    for name in names:
        with _locked():
            containers = _load()
            container = containers.get(name)
            if container is None:
                status = _err(f"Error response from daemon: No such container: {name}")
                continue
            url = container.get("control_url")
            was_running = container.get("state", "running") == "running"
            try:
                if command == "restart":
                    time.sleep(float(container.get("restart_duration_s", 0)))
                    if url:
                        delay = container.get("restart_delay_s", 0)
                        _post(f"{url}/_sim/restart", {"restart_delay_s": delay})
                elif command == "stop" and url and was_running:
                    _post(f"{url}/_sim/control", {"fault": "down"})
                elif command == "start" and url and not was_running:
                    _post(f"{url}/_sim/control", {"fault": "none"})
            except (OSError, urllib.error.URLError) as err:
                status = _err(
                    f"Error response from daemon: Cannot {command} container {name}: {err}"
                )
                continue
            if command == "stop":
                container["state"] = "exited"
            elif command == "restart" or not was_running:
                container["state"] = "running"
                container["started_at"] = _now()
            _save(containers)
        print(name)
    return status


def main(argv: list[str]) -> int:
    """Dispatch one docker invocation; returns the exit status."""
    with (_dir() / CALLS_FILE).open("a") as calls:
        calls.write(json.dumps(["docker", *argv]) + "\n")
    if argv[:2] == ["container", "inspect"]:
        return _inspect(argv[2:], noun="container")
    if argv[:1] == ["inspect"]:
        return _inspect(argv[1:], noun="object")
    if argv[:1] in (["restart"], ["start"], ["stop"]):
        return _lifecycle(argv[0], argv[1:])
    command = argv[0] if argv else ""
    return _err(f"docker: '{command}' is not a docker command.\nSee 'docker --help'")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
