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
  for a container started by ``docker run`` (it has an ``app`` record) they
  kill / respawn its process instead;
- ``standin.json`` holds settings (all optional): ``python`` (interpreter for
  started apps; `SSHTestHost` writes its own), ``fail_build``, ``fail_run``,
  ``never_healthy``, ``no_nvidia``, ``no_daemon`` (booleans),
  ``build_line_delay_s`` (default 0.02), ``hang_build_s`` (the build goes
  silent for that long after its first step, like a stuck build),
  ``build_gate`` (a path: before the compile step the build writes
  ``<gate>.waiting`` with its pid and waits until the gate file exists, so a
  test decides when a long build ends), ``rm_error`` and ``inspect_error``
  (a daemon error message ``rm`` / ``inspect`` fail with, exit 1);
  ``fail_build`` may also name how the build dies: ``"oom"`` (the compile
  step is OOM-killed: BuildKit's "exit code: 137", docker exits 1), ``"disk"``
  (pip hits "No space left on device") or ``"killed"`` (the docker client
  itself is killed: exit 137);
- ``docker version [--format T]`` prints a client/server version (exit 1 with
  "Cannot connect to the Docker daemon" under ``no_daemon``);
- ``docker info --format T`` prints ``{"nvidia":{...},"runc":{...}}`` for a
  template naming ``.Runtimes`` (no ``nvidia`` under ``no_nvidia``);
- ``docker build -t TAG [--build-arg K=V]... [--progress P] [-f F] DIR`` exits 1
  unless DIR holds a Dockerfile, else prints BuildKit-like lines one by one
  (to stderr, flushed, ``build_line_delay_s`` apart), ending with
  ``Successfully tagged TAG``; ``fail_build`` makes a step fail (exit 1). A
  built tag is recorded in ``images.json`` with its (absolute) context dir;
- ``docker run -d --name NAME [--gpus G] [--restart P] [--memory M] [--group-add G]
  [-p HOST:CPORT] [-v VOL:PATH[:ro]]... [-e K[=V]]... TAG`` refuses an unknown tag
  (125) or a taken name (125); ``fail_run`` leaves a ``created`` container and
  exits 125. Otherwise, when the context has ``app/main.py``, it starts the
  real app detached: ``<python> -m uvicorn app.main:app --host 127.0.0.1
  --port HOST`` in the context dir with ``WHISPERX_ENGINE=stub`` plus the
  ``-e`` variables (``-e K`` copies K from its own environment, as Docker
  does; a value naming a bind-mounted file's target is replaced by its
  source, since the app reads it from this machine), output to
  ``app-NAME.log``; the pid goes into ``containers.json`` (``pid``, ``app``).
  The record keeps ``env`` (what ``docker inspect`` would show) and
  ``mounts``. ``never_healthy`` records the container as running but
  starts nothing, so its port never answers. It prints a container id;
- ``docker rm [-f] NAME...`` kills a recorded process group and forgets the
  container; a missing name exits 1 with ``No such container``, a running one
  without ``-f`` exits 1;
- ``docker logs [--tail N] NAME`` prints the app's log;
- ``docker exec NAME python -m app.verify --json`` (the WhisperX container's
  self-verification) prints ``standin.json``'s ``verify`` record: ``stdout``,
  ``stderr`` and ``exit`` (a canned report the test controls; without the
  record it exits 1 with an error, as an image without the command would); a
  missing container exits 1 with ``No such container``, one not running with
  ``is not running``; any other exec command exits 126 (not found);
- anything else exits 1 with a Docker-like message.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import subprocess
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
SETTINGS_FILE = "standin.json"
IMAGES_FILE = "images.json"
_LOCK_FILE = "containers.lock"
_KILL_GRACE_S = 5.0
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
    if error := _settings().get("inspect_error"):
        return _err(f"Error response from daemon: {error}")
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


def _app_lifecycle(
    command: str, name: str, container: dict[str, Any], *, was_running: bool
) -> None:
    """stop/start/restart of a container whose app process this stand-in runs."""
    if command in {"stop", "restart"}:
        _kill(container)
    if command == "restart" or (command == "start" and not was_running):
        _spawn(name, container)


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
                if "app" in container:
                    _app_lifecycle(command, name, container, was_running=was_running)
                elif command == "restart":
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


def _settings() -> dict[str, Any]:
    path = _dir() / SETTINGS_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


def _version(args: list[str]) -> int:
    if _settings().get("no_daemon"):
        print("Client:\n Version:           27.5.1")
        return _err(
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
            "Is the docker daemon running?"
        )
    if args[:1] == ["--format"] or (args and args[0].startswith("--format=")):
        print("27.5.1")
    else:
        print("Client:\n Version:           27.5.1\n\nServer: Docker Engine - Community")
        print(" Engine:\n  Version:          27.5.1")
    return 0


def _info(args: list[str]) -> int:
    template = next((a.split("=", 1)[1] for a in args if a.startswith("--format=")), None)
    if template is None and "--format" in args:
        template = args[args.index("--format") + 1]
    runtimes: dict[str, Any] = {
        "io.containerd.runc.v2": {"path": "runc"},
        "runc": {"path": "runc"},
    }
    if not _settings().get("no_nvidia"):
        runtimes["nvidia"] = {"path": "nvidia-container-runtime"}
    if template is not None and ".Runtimes" in template:
        print(json.dumps(dict(sorted(runtimes.items()))))
        return 0
    return _err(f"template: {template}: not supported by the docker stand-in")


def _load_images() -> dict[str, dict[str, Any]]:
    path = _dir() / IMAGES_FILE
    data = json.loads(path.read_text()) if path.exists() else {}
    return data if isinstance(data, dict) else {}


_BUILD_STEPS = [
    "[internal] load build definition from Dockerfile",
    "[internal] load metadata for nvcr.io/nvidia/cuda:13.0.1-devel-ubuntu24.04",
    "[internal] load .dockerignore",
    "[builder 1/6] FROM nvcr.io/nvidia/cuda:13.0.1-devel-ubuntu24.04",
    "[internal] load build context",
    "[builder 2/6] RUN apt-get update && apt-get install -y git cmake ninja-build",
    "[builder 3/6] RUN git clone --depth 1 https://github.com/OpenNMT/CTranslate2",
    "[builder 4/6] RUN cmake -DWITH_CUDA=ON -DWITH_MKL=OFF -GNinja ..",
    "[builder 5/6] RUN ninja install",
    "[builder 6/6] RUN pip wheel ./python",
    "[runtime 1/5] FROM nvcr.io/nvidia/cuda:13.0.1-runtime-ubuntu24.04",
    "[runtime 2/5] RUN apt-get update && apt-get install -y ffmpeg python3-pip",
    "[runtime 3/5] COPY --from=builder /wheels /wheels",
    "[runtime 4/5] RUN pip install -r requirements.txt",
    "[runtime 5/5] COPY app /app/app",
    "exporting to image",
]


def _build(args: list[str]) -> int:
    settings = _settings()
    tag: str | None = None
    build_args: dict[str, str] = {}
    dockerfile = "Dockerfile"
    positional: list[str] = []
    it = iter(args)
    for arg in it:
        if arg in {"-t", "--tag"}:
            tag = next(it, None)
        elif arg == "--build-arg":
            key, _, value = (next(it, None) or "").partition("=")
            build_args[key] = value
        elif arg in {"-f", "--file"}:
            dockerfile = next(it, None) or dockerfile
        elif arg == "--progress":
            next(it, None)
        elif arg.startswith("--progress="):
            continue
        elif arg.startswith("-"):
            return _err(f"unknown flag: {arg}")
        else:
            positional.append(arg)
    if len(positional) != 1:
        return _err('ERROR: "docker buildx build" requires exactly 1 argument.')
    context = Path(positional[0]).resolve()
    if not (context / dockerfile).is_file():
        return _err(
            f"ERROR: failed to solve: failed to read dockerfile: open {dockerfile}: "
            "no such file or directory"
        )
    delay = float(settings.get("build_line_delay_s", 0.02))

    def line(text: str) -> None:
        print(text, file=sys.stderr, flush=True)
        time.sleep(delay)

    line('#0 building with "default" instance using docker driver')
    status = _build_steps(settings, line)
    if status:
        return status
    digest = hashlib.sha256(json.dumps([tag, str(context)]).encode()).hexdigest()
    line(f"#{len(_BUILD_STEPS)} writing image sha256:{digest} done")
    if tag:
        line(f"#{len(_BUILD_STEPS)} naming to docker.io/{tag} done")
        with _locked():
            images = _load_images()
            images[tag] = {"context": str(context), "build_args": build_args, "id": digest}
            (_dir() / IMAGES_FILE).write_text(json.dumps(images, indent=2))
        print(f"Successfully tagged {tag}", flush=True)
    return 0


def _build_steps(settings: dict[str, Any], line: Any) -> int:
    """Print the steps; a non-zero return is the failed build's exit status."""
    failure = settings.get("fail_build")
    for number, step in enumerate(_BUILD_STEPS, start=1):
        if "ninja install" in step and settings.get("build_gate"):
            _wait_for_gate(Path(settings["build_gate"]))
        line(f"#{number} {step}")
        if number == 1 and settings.get("hang_build_s"):
            time.sleep(float(settings["hang_build_s"]))
        if "ninja install" in step:
            for i in range(1, 4):
                line(f"#{number} {i * 33}.0 [{i * 100}/300] Building CUDA object ...")
                if failure in {"oom", "killed"} and i == 2:
                    return _build_killed(number, step, client=failure == "killed", line=line)
        if failure == "disk" and "pip install" in step:
            line(f"#{number} 41.20 Downloading torch-2.11.0-cp312-cp312-manylinux_2_28_aarch64.whl")
            line(
                f"#{number} 97.31 ERROR: Could not install packages due to an OSError: "
                "[Errno 28] No space left on device"
            )
            return _solve_failed(step, 1, line)
        if failure is True and "pip install" in step:
            line(f"#{number} 0.912 ERROR: No matching distribution found for whisperx==9.9")
            return _solve_failed(step, 1, line)
        line(f"#{number} DONE {0.1 * number:.1f}s")
    return 0


def _wait_for_gate(gate: Path) -> None:
    """Announce the wait (with this process's pid), then wait until the test opens the gate."""
    waiting = gate.with_name(gate.name + ".waiting")
    waiting.write_text(f"{os.getpid()}\n")
    while not gate.exists():
        time.sleep(0.02)


def _solve_failed(step: str, code: int, line: Any) -> int:
    line(
        f'ERROR: failed to solve: process "/bin/sh -c {step.split("] ", 1)[1]}" '
        f"did not complete successfully: exit code: {code}"
    )
    return 1


def _build_killed(number: int, step: str, *, client: bool, line: Any) -> int:
    """The compile step OOM-killed (BuildKit reports 137), or the docker client itself."""
    line(f"#{number} 98.1 nvcc error   : 'cicc' died due to signal 9 (Kill signal)")
    if client:
        return 137
    line(f"#{number} ERROR: process did not complete successfully: exit code: 137")
    return _solve_failed(step, 137, line)


def _spawn(name: str, container: dict[str, Any]) -> None:
    """Start a container's app detached (own session) and record its pid."""
    app = container["app"]
    if not app.get("start", True):
        container.pop("pid", None)
        return
    with (_dir() / f"app-{name}.log").open("ab") as log:
        process = subprocess.Popen(
            app["argv"],
            cwd=app["cwd"],
            env=app["env"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    container["pid"] = process.pid


def _kill(container: dict[str, Any]) -> None:
    """Stop a recorded app's process group: TERM, then KILL after a grace."""
    pid = container.pop("pid", None)
    if not pid:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + _KILL_GRACE_S
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _run(args: list[str]) -> int:  # noqa: PLR0912, PLR0915 - a CLI parser
    settings = _settings()
    name: str | None = None
    host_port: str | None = None
    env: dict[str, str] = {}
    options: dict[str, str] = {}
    mounts: list[str] = []
    it = iter(args)
    positional: list[str] = []
    for arg in it:
        if positional:
            positional.append(arg)
        elif arg in {"-d", "--detach", "--rm"}:
            options[arg] = "true"
        elif arg == "--name":
            name = next(it, None)
        elif arg in {"-p", "--publish"}:
            host_port = (next(it, None) or "").split(":")[0]
        elif arg in {"-e", "--env"}:
            key, eq, value = (next(it, None) or "").partition("=")
            if eq:
                env[key] = value
            elif key in os.environ:
                env[key] = os.environ[key]
        elif arg in {"-v", "--volume"}:
            mounts.append(next(it, None) or "")
        elif arg in {"--gpus", "--restart", "--memory", "-m", "--group-add"}:
            options[arg] = next(it, None) or ""
        elif arg.startswith("-"):
            return _err(f"unknown flag: {arg}")
        else:
            positional.append(arg)
    if not positional:
        return _err('"docker run" requires at least 1 argument.')
    tag = positional[0]
    image = _load_images().get(tag)
    if image is None:
        print(f"Unable to find image '{tag}' locally", file=sys.stderr)
        print(
            f"docker: Error response from daemon: pull access denied for {tag.split(':')[0]}",
            file=sys.stderr,
        )
        return 125
    name = name or f"standin-{time.monotonic_ns()}"
    context = Path(image["context"])
    with _locked():
        containers = _load()
        if name in containers:
            print(
                f'docker: Error response from daemon: Conflict. The container name "/{name}" '
                'is already in use by container "0123456789ab".',
                file=sys.stderr,
            )
            return 125
        container: dict[str, Any] = {
            "state": "created",
            "image": tag,
            "options": options,
            "mounts": mounts,
            "env": env,
            "started_at": NEVER_STARTED,
        }
        if settings.get("fail_run"):
            containers[name] = container
            _save(containers)
            print(
                'docker: Error response from daemon: could not select device driver "" '
                "with capabilities: [[gpu]].",
                file=sys.stderr,
            )
            return 125
        if host_port:
            container["control_url"] = f"http://127.0.0.1:{host_port}"
        has_app = (context / "app" / "main.py").is_file()
        if has_app and host_port:
            python = str(settings.get("python", sys.executable))
            uvicorn = [python, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1"]
            app_env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(_dir()),
                "PYTHONDONTWRITEBYTECODE": "1",
                **_through_mounts(env, mounts),
                "WHISPERX_ENGINE": "stub",
            }
            container["app"] = {
                "argv": [*uvicorn, "--port", host_port],
                "cwd": str(context),
                "env": app_env,
                "start": not settings.get("never_healthy"),
            }
            _spawn(name, container)
        container["state"] = "running"
        container["started_at"] = _now()
        containers[name] = container
        _save(containers)
    print(hashlib.sha256(name.encode()).hexdigest())
    return 0


def _through_mounts(env: dict[str, str], mounts: list[str]) -> dict[str, str]:
    """``env`` as the app process sees it: a value naming a bind mount's target becomes its source.

    The app runs on this machine, not in a container, so a mounted file is read
    where it really lies.
    """
    targets = {}
    for mount in mounts:
        source, _, rest = mount.partition(":")
        if source.startswith("/"):
            targets[rest.partition(":")[0]] = source
    return {key: targets.get(value, value) for key, value in env.items()}


def _rm(args: list[str]) -> int:
    if error := _settings().get("rm_error"):
        return _err(f"Error response from daemon: {error}")
    force = any(a in {"-f", "--force"} for a in args)
    names = [a for a in args if not a.startswith("-")]
    if not names:
        return _err('"docker rm" requires at least 1 argument.')
    status = 0
    for name in names:
        with _locked():
            containers = _load()
            container = containers.get(name)
            if container is None:
                status = _err(f"Error response from daemon: No such container: {name}")
                continue
            if container.get("state") == "running" and not force:
                status = _err(
                    f'Error response from daemon: cannot remove container "/{name}": '
                    "container is running: stop the container before removing or force remove"
                )
                continue
            _kill(container)
            del containers[name]
            _save(containers)
        print(name)
    return status


def _logs(args: list[str]) -> int:
    tail: int | None = None
    names: list[str] = []
    it = iter(args)
    for arg in it:
        if arg in {"--tail", "-n"}:
            value = next(it, "all")
            tail = None if value == "all" else int(value)
        elif not arg.startswith("-"):
            names.append(arg)
    if len(names) != 1:
        return _err('"docker logs" requires exactly 1 argument.')
    if names[0] not in _load():
        return _err(f"Error response from daemon: No such container: {names[0]}")
    log = _dir() / f"app-{names[0]}.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    for line in lines[-tail:] if tail else lines:
        print(line)
    return 0


VERIFY_ARGV = ["python", "-m", "app.verify", "--json"]


def _exec(args: list[str]) -> int:
    if not args:
        return _err('"docker exec" requires at least 2 arguments.')
    name, command = args[0], args[1:]
    container = _load().get(name)
    if container is None:
        return _err(f"Error response from daemon: No such container: {name}")
    if container.get("state", "running") != "running":
        return _err(f"Error response from daemon: container {name} is not running")
    if command != VERIFY_ARGV:
        print(f"OCI runtime exec failed: {command[:1]} not found", file=sys.stderr)
        return 126
    canned = _settings().get("verify")
    if not isinstance(canned, dict):
        return _err("/usr/bin/python: No module named app.verify")
    sys.stdout.write(str(canned.get("stdout", "")))
    sys.stderr.write(str(canned.get("stderr", "")))
    return int(canned.get("exit", 0))


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
    handlers = {
        "version": _version,
        "info": _info,
        "build": _build,
        "run": _run,
        "rm": _rm,
        "logs": _logs,
        "exec": _exec,
    }
    if argv and argv[0] in handlers:
        return handlers[argv[0]](argv[1:])
    command = argv[0] if argv else ""
    return _err(f"docker: '{command}' is not a docker command.\nSee 'docker --help'")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
