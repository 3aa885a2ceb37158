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
- the HF token and the service's API key reach ``docker run`` on stdin (read
  into the environment of the remote command, passed on with bare ``-e NAME``),
  so they are never on a command line, in the log buffer or in an error message;
- a failure or cancel after the old container was removed also removes the
  half-created new one; before that, the running service is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import stat
import tarfile
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any, Final

import aiohttp

from .build_log import TAIL_LINES, BuildProgress, describe_build_failure, with_last_lines
from .errors import SparkError, SparkSSHCommandError, SparkSSHError
from .ssh import SparkSSH, validate_container_name
from .whisperx import WhisperXClient

__all__ = [
    "DEFAULT_EXCLUDES",
    "HealthCheck",
    "InstallConfig",
    "InstallError",
    "InstallInProgressError",
    "InstallJob",
    "InstallManager",
    "InstallUpdate",
    "Phase",
    "build_context_tar",
    "read_context_version",
    "tar_size",
    "whisperx_health_check",
]

_LOGGER = logging.getLogger(__name__)

type HealthCheck = Callable[[], Awaitable[bool]]
"""``async () -> bool``: True once the new service reports its models loaded."""

APP_PORT: Final = 8000
BUILD_DIR_NAME: Final = "spark-audio-whisperx-build"
LOG_LINES: Final = 2000
_MAX_LINE_CHARS = 4000
_TAR_CHUNK = 256 * 1024
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
_CLEANUP_TIMEOUT_S = 30.0
_HEALTH_POLL_S = 2.0
_SUBSCRIBER_BACKLOG = 10_000
_KEEP_FINISHED = 20
_GIB = 1024**3

DEFAULT_EXCLUDES: Final = frozenset(
    {"__pycache__", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv"}
)
_EXCLUDED_SUFFIXES = (".pyc", ".pyo")

_IMAGE_REPO = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")
_IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_MEMORY = re.compile(r"[1-9][0-9]*[bkmgBKMG]?")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")
# Hugging Face tokens are "hf_" and letters/digits; older ones use '-' or '.' too.
_TOKEN = re.compile(r"[A-Za-z0-9_.-]{8,512}")
TARGETS: Final = ("spark", "x86_64")


class Phase(StrEnum):
    """Where an install stands; `PHASE_RANGES` gives each one's share of the bar."""

    CONNECT = "connect"
    PREFLIGHT = "preflight"
    UPLOAD = "upload"
    BUILD = "build"
    REPLACE = "replace"
    RUN = "run"
    WAIT_HEALTHY = "wait_healthy"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Whether the job has ended."""
        return self in _TERMINAL

    @property
    def percent_range(self) -> tuple[int, int]:
        """(start, end) percent of this phase; the build dominates real installs."""
        return PHASE_RANGES[self]


_TERMINAL = frozenset({Phase.DONE, Phase.FAILED, Phase.CANCELLED})
# A cold build on a Spark takes tens of minutes (CTranslate2's CUDA compile, the torch
# download); everything else takes seconds, except the first start, which downloads
# the models before /health says ready.
PHASE_RANGES: Final[dict[Phase, tuple[int, int]]] = {
    Phase.CONNECT: (0, 1),
    Phase.PREFLIGHT: (1, 2),
    Phase.UPLOAD: (2, 4),
    Phase.BUILD: (4, 90),
    Phase.REPLACE: (90, 91),
    Phase.RUN: (91, 92),
    Phase.WAIT_HEALTHY: (92, 99),
    Phase.DONE: (100, 100),
    # Terminal failures keep the percent reached; the range is nominal.
    Phase.FAILED: (0, 100),
    Phase.CANCELLED: (0, 100),
}
# Phases after which the old container is gone: failing there must clean up.
_CONTAINER_PHASES = frozenset({Phase.REPLACE, Phase.RUN, Phase.WAIT_HEALTHY})


class InstallError(SparkError):
    """The install could not go on (preflight refused, build or run failed, never healthy)."""


class InstallInProgressError(SparkError):
    """An install is already running on that Spark; ``job_id`` names it."""

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


def _check_port(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"{what} must be 1..65535, got {value!r}")


@dataclass(frozen=True)
class InstallConfig:
    """What to build and how to run it; validated on creation, so bad input never hits SSH.

    ``image_tag`` None means ``spark-audio/whisperx:<VERSION of the context>``.
    ``remote_base_dir`` None means the login's ``$HOME``; the build context
    always goes to its ``spark-audio-whisperx-build`` subfolder, the only
    folder this job ever deletes.
    """

    container_name: str = "whisperx-asr"
    image_tag: str | None = None
    host_port: int = 8002
    app_port: int = APP_PORT
    memory: str = "40g"
    cache_volume: str = "whisperx-cache"
    model: str = "medium"
    hf_token: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    """The key the new container requires (``WHISPERX_API_KEY``); None runs it open."""
    remote_base_dir: str | None = None
    target: str = "spark"
    docker: tuple[str, ...] = ("docker",)
    min_free_gib: float = 40.0
    upload_timeout: float = 300.0
    # Cold builds take tens of minutes; a slow link to the package index can triple that.
    build_timeout: float = 3 * 3600.0
    # No build output for this long means a hung build (compile steps print per object,
    # the biggest wheel download is minutes).
    build_idle_timeout: float = 1800.0
    # The first start downloads the models (GBs) before /health reports them loaded.
    health_timeout: float = 1800.0
    health_interval: float = _HEALTH_POLL_S
    require_diarizer: bool | None = None

    def __post_init__(self) -> None:
        validate_container_name(self.container_name)
        try:
            validate_container_name(self.cache_volume)
        except ValueError:
            raise ValueError(f"invalid cache volume name {self.cache_volume!r}") from None
        if self.image_tag is not None:
            _validate_image_tag(self.image_tag)
        _check_port(self.host_port, "host port")
        _check_port(self.app_port, "app port")
        if not _MEMORY.fullmatch(self.memory):
            raise ValueError(f"memory cap must look like 40g or 512m, got {self.memory!r}")
        if not _MODEL.fullmatch(self.model):
            raise ValueError(f"invalid model name {self.model!r}")
        if self.hf_token is not None:
            validate_hf_token(self.hf_token)
        if self.api_key is not None and not _TOKEN.fullmatch(self.api_key):
            raise ValueError("API key must be printable ASCII without spaces")
        if self.target not in TARGETS:
            raise ValueError(f"build target must be one of {TARGETS}, got {self.target!r}")
        if not isinstance(self.docker, tuple) or not self.docker or not all(self.docker):
            raise ValueError("docker must be a non-empty argv prefix, e.g. ('docker',)")
        if self.remote_base_dir is not None:
            _validate_base_dir(self.remote_base_dir)
        for name in (
            "upload_timeout",
            "build_timeout",
            "build_idle_timeout",
            "health_timeout",
            "health_interval",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.min_free_gib < 0:
            raise ValueError("min_free_gib must not be negative")

    @property
    def diarizer_required(self) -> bool:
        """Wait for the diarizer too? By default only when a token lets it load."""
        if self.require_diarizer is None:
            return bool(self.hf_token)
        return self.require_diarizer


def validate_hf_token(token: str) -> str:
    """``token`` when it can be a Hugging Face token; ValueError (never quoting it) otherwise.

    The one check for forms and the install job alike: a token with a space
    or a control character would break the line it travels on to the Spark.
    """
    if not _TOKEN.fullmatch(token):
        raise ValueError("HF token must be 8 to 512 letters, digits, '_', '-' or '.'")
    return token


def _validate_image_tag(tag: str) -> None:
    repo, sep, version = tag.rpartition(":")
    if not sep or not _IMAGE_REPO.fullmatch(repo) or not _IMAGE_TAG.fullmatch(version):
        raise ValueError(f"invalid image tag {tag!r}: expected repo/name:version")


def _validate_base_dir(path: str) -> None:
    if any(c in path for c in "\0\n\r"):
        raise ValueError("remote folder must not contain NUL or newlines")
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts:
        raise ValueError(f"remote folder must be an absolute path without '..', got {path!r}")


def read_context_version(context_dir: Path) -> str:
    """The build context's VERSION (first line), used for the image tag."""
    version = (context_dir / "VERSION").read_text(encoding="utf-8").strip().splitlines()
    if not version or not _IMAGE_TAG.fullmatch(version[0].strip()):
        raise ValueError(f"{context_dir / 'VERSION'} holds no usable version")
    return version[0].strip()


# Build context tar -----------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    path: Path
    arcname: str
    kind: str  # "dir" | "file" | "link"
    size: int = 0
    mode: int = 0o644
    target: str = ""


def _entries(context_dir: Path, excludes: frozenset[str]) -> list[_Entry]:
    """Every member in a stable order: sorted walk, excluded names pruned."""
    root = Path(context_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"build context {root} is not a directory")
    found: list[_Entry] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in excludes)
        here = Path(dirpath)
        rel = here.relative_to(root)
        if rel != Path():
            found.append(_Entry(here, rel.as_posix(), "dir", mode=0o755))
        for name in sorted(filenames):
            if name in excludes or name.endswith(_EXCLUDED_SUFFIXES):
                continue
            path = here / name
            arcname = (rel / name).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                found.append(_Entry(path, arcname, "link", target=os.readlink(path)))
            elif stat.S_ISREG(info.st_mode):
                mode = 0o755 if info.st_mode & 0o111 else 0o644
                found.append(_Entry(path, arcname, "file", size=info.st_size, mode=mode))
    # Directories before their contents, names in byte order: same bytes every time.
    found.sort(key=lambda e: e.arcname.encode())
    return found


def _header(entry: _Entry) -> bytes:
    info = tarfile.TarInfo(entry.arcname)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = entry.mode
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "link":
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target
        info.mode = 0o777
    else:
        info.size = entry.size
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _padding(size: int, unit: int = _BLOCK) -> int:
    return -size % unit


def tar_size(context_dir: Path, *, excludes: frozenset[str] = DEFAULT_EXCLUDES) -> int:
    """Exact byte size `build_context_tar` will produce, without reading file contents."""
    total = 0
    for entry in _entries(context_dir, excludes):
        total += len(_header(entry)) + entry.size + _padding(entry.size)
    total += 2 * _BLOCK
    return total + _padding(total, _RECORD)


def build_context_tar(
    context_dir: Path,
    *,
    excludes: frozenset[str] = DEFAULT_EXCLUDES,
    chunk_size: int = _TAR_CHUNK,
) -> Generator[bytes]:
    """A deterministic tar of ``context_dir``, produced chunk by chunk.

    Sorted names, mtime 0, uid/gid 0, no user names, modes 0644/0755: the same
    context gives the same bytes (so Docker's layer cache hits). File contents
    are read piecewise, so no file or archive is ever held whole in memory.
    Names in ``excludes`` (any depth) and ``*.pyc`` are left out.
    """
    buffer = bytearray()
    total = 0
    for entry in _entries(context_dir, excludes):
        buffer += _header(entry)
        if entry.kind == "file":
            remaining = entry.size
            with entry.path.open("rb") as source:
                while remaining:
                    data = source.read(min(chunk_size, remaining))
                    if not data:
                        raise OSError(f"{entry.path} shrank while it was being packed")
                    remaining -= len(data)
                    buffer += data
                    if len(buffer) >= chunk_size:
                        total += len(buffer)
                        yield bytes(buffer)
                        buffer.clear()
            buffer += b"\0" * _padding(entry.size)
        if len(buffer) >= chunk_size:
            total += len(buffer)
            yield bytes(buffer)
            buffer.clear()
    buffer += b"\0" * (2 * _BLOCK)
    buffer += b"\0" * _padding(total + len(buffer), _RECORD)
    yield bytes(buffer)


# Job -----------------------------------------------------------------------


@dataclass(frozen=True)
class InstallUpdate:
    """One event for watchers: the state now plus the log line that caused it, if any."""

    job_id: str
    phase: Phase
    percent: float
    elapsed: float
    line: str | None = None
    error: str | None = None
    final: bool = False
    """True only on the one last update a job sends (its state is then settled)."""


class _Cancelled(Exception):
    """Raised inside the job when `cancel()` was asked for."""


def whisperx_health_check(
    session: aiohttp.ClientSession, host: str, port: int, *, require_diarizer: bool
) -> HealthCheck:
    """The default readiness test: WhisperX ``/health`` says whisper (and diarizer) loaded."""
    client = WhisperXClient(session, host, port)

    async def check() -> bool:
        health = await client.health()
        if not health.ready:
            return False
        return not require_diarizer or bool(health.details.get("diarizer_loaded"))

    return check


class InstallJob:
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
        self.id = job_id or uuid.uuid4().hex
        self.ssh = ssh
        self.context_dir = Path(context_dir)
        if config.image_tag is None:
            tag = f"spark-audio/whisperx:{read_context_version(self.context_dir)}"
            _validate_image_tag(tag)
            config = replace(config, image_tag=tag)
        if not (self.context_dir / "Dockerfile").is_file():
            raise ValueError(f"build context {self.context_dir} has no Dockerfile")
        self.config = config
        self._health_check = health_check
        self.phase = Phase.CONNECT
        self.percent = 0.0
        self.error: str | None = None
        self.failed_phase: Phase | None = None
        self.started_at: float | None = None  # time.time() when run() began
        self.finished_at: float | None = None
        self._started_mono: float | None = None
        self._finished_mono: float | None = None
        self.tar_bytes: int | None = None  # size of the uploaded build context
        self.remote_dir: str | None = None
        self.phase_times: dict[Phase, float] = {}  # seconds spent in each phase
        self._phase_started = 0.0
        self._log: deque[str] = deque(maxlen=log_lines)
        self.total_lines = 0
        self._listeners: list[Callable[[InstallUpdate], None]] = []
        self._task: asyncio.Task[Any] | None = None
        self._cancel_requested = False
        self._finished = asyncio.Event()
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

    @property
    def lines(self) -> list[str]:
        """The log so far (the last `LOG_LINES` lines)."""
        return list(self._log)

    @property
    def done(self) -> bool:
        """Whether the job has ended (any terminal phase)."""
        return self.phase.terminal

    @property
    def elapsed(self) -> float:
        """Seconds since `run()` started (frozen once it ended)."""
        if self._started_mono is None:
            return 0.0
        end = self._finished_mono if self._finished_mono is not None else time.monotonic()
        return end - self._started_mono

    def snapshot(self) -> InstallUpdate:
        """The state now, as an update without a line."""
        return InstallUpdate(
            job_id=self.id,
            phase=self.phase,
            percent=round(self.percent, 1),
            elapsed=round(self.elapsed, 3),
            error=self.error,
            final=self._finished.is_set(),
        )

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

    # Watching ----------------------------------------------------------------

    def add_listener(self, listener: Callable[[InstallUpdate], None]) -> Callable[[], None]:
        """Call ``listener`` for every update (phase, percent, each log line); returns remover.

        Listeners run in the job's task and must not block; one that raises is
        logged and kept.
        """
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    async def updates(self, *, replay: bool = True) -> AsyncIterator[InstallUpdate]:
        """Stream updates until the job ends; the last one yielded is the final state.

        With ``replay``, the buffered log comes first (a late watcher sees the
        whole story). A watcher that falls more than 10,000 updates behind
        loses the oldest, never the final one.
        """
        pending: deque[InstallUpdate] = deque(maxlen=_SUBSCRIBER_BACKLOG)
        wake = asyncio.Event()

        def push(update: InstallUpdate) -> None:
            pending.append(update)
            wake.set()

        remove = self.add_listener(push)
        try:
            if replay:
                state = self.snapshot()
                for line in self.lines:
                    yield replace(state, line=line, error=None, final=False)
            if self._finished.is_set():
                yield self.snapshot()
                return
            while True:
                await wake.wait()
                wake.clear()
                while pending:
                    update = pending.popleft()
                    yield update
                    if update.final:
                        return
        finally:
            remove()

    async def wait(self) -> None:
        """Return once the job has ended."""
        await self._finished.wait()

    def _emit(self, line: str | None = None) -> None:
        update = replace(self.snapshot(), line=line)
        for listener in list(self._listeners):
            try:
                listener(update)
            except Exception:
                _LOGGER.exception("install listener failed")

    def _redact(self, text: str) -> str:
        for secret in (self.config.hf_token, self.config.api_key):
            if secret:
                text = text.replace(secret, "***")
        return text

    def log(self, line: str) -> None:
        """Append one line to the log (secrets redacted, long lines cut) and tell watchers."""
        line = self._redact(line)
        if len(line) > _MAX_LINE_CHARS:
            line = line[:_MAX_LINE_CHARS] + "…"
        self._log.append(line)
        self.total_lines += 1
        self._emit(line)

    def _set_phase(self, phase: Phase) -> None:
        if self._cancel_requested and not phase.terminal:
            # A step that swallowed the task cancel still stops at the next phase.
            raise _Cancelled
        now = time.monotonic()
        if self.phase not in _TERMINAL and self._started_mono is not None:
            self.phase_times[self.phase] = self.phase_times.get(self.phase, 0.0) + (
                now - self._phase_started
            )
        self._phase_started = now
        self.phase = phase
        if phase is Phase.DONE:
            self.percent = 100.0
        elif not phase.terminal:
            self.percent = max(self.percent, float(phase.percent_range[0]))
        self.log(f"==> {phase.value}")

    def _progress(self, fraction: float) -> None:
        """Move within the current phase's range; never backwards."""
        start, end = self.phase.percent_range
        value = start + (end - start) * min(max(fraction, 0.0), 1.0)
        if value > self.percent + 0.05:
            self.percent = value
            self._emit()

    # Control -----------------------------------------------------------------

    def cancel(self) -> bool:
        """Ask the job to stop; it cleans up and ends CANCELLED. False if already ended."""
        if self.done:
            return False
        if self._cancel_requested:
            # Cancelling the task twice would throw a second CancelledError later.
            return True
        self._cancel_requested = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
        return True

    async def run(self) -> Phase:
        """Do the install; returns the terminal phase. Call once."""
        if self._task is not None or self.started_at is not None:
            raise RuntimeError("an InstallJob runs only once")
        self._task = asyncio.current_task()
        self.started_at = time.time()
        self._started_mono = self._phase_started = time.monotonic()
        try:
            if self._cancel_requested:
                raise _Cancelled
            await self._steps()
        except (_Cancelled, asyncio.CancelledError) as err:
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

    def _finish(self) -> None:
        self._finished_mono = time.monotonic()
        self.finished_at = time.time()
        self._task = None
        self._finished.set()
        self._emit()

    async def _cleanup_after(self, outcome: Phase, message: str) -> None:
        """Record why the job ended and remove a half-made container, shielded from cancel."""
        failed_in = self.phase
        message = self._redact(message)
        verb = "cancelled" if outcome is Phase.CANCELLED else "failed"
        self.log(f"{verb} during {failed_in.value}: {message}")
        if failed_in in _CONTAINER_PHASES:
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

    def _docker(self, *args: str) -> list[str]:
        return [*self.config.docker, *args]

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
        version = await self._checked_docker(
            "version", "--format", "{{.Server.Version}}", what="Docker is not usable"
        )
        self.log(f"docker engine {version.strip() or 'unknown'}")
        runtimes = await self._checked_docker(
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
            _validate_base_dir(base)
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

    async def _checked_docker(self, *args: str, what: str) -> str:
        result = await self.ssh.run(self._docker(*args), check=False)
        if result.exit_status != 0:
            detail = (result.stderr.strip() or result.stdout.strip())[-300:]
            raise InstallError(f"{what} on {self.ssh.host}: {detail}")
        return result.stdout

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
        argv = self._docker(
            "build",
            "--progress=plain",
            "-t",
            self.image_tag,
            "--build-arg",
            f"TARGET={self.config.target}",
            self.remote_dir,
        )
        dockerfile = await asyncio.to_thread(
            (self.context_dir / "Dockerfile").read_text, encoding="utf-8", errors="replace"
        )
        self._build_progress = BuildProgress(dockerfile)
        self._last_build_output = time.monotonic()
        build = asyncio.ensure_future(
            self.ssh.run_streaming(argv, self._build_line, timeout=self.config.build_timeout)
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
        result = await self.ssh.run(self._docker("rm", "-f", name), check=False)
        if result.exit_status == 0:
            self.log(f"removed container {name}")
        elif "No such container" in result.stderr:
            self.log(f"no container {name} to remove")
        else:
            raise SparkSSHCommandError(
                f"`docker rm -f {name}` exited with status {result.exit_status}: "
                f"{result.stderr.strip()[-300:]}",
                exit_status=result.exit_status,
                stderr=result.stderr.strip()[-300:],
            )

    def _secrets(self) -> dict[str, str]:
        """Environment variables the container gets from stdin, never from argv."""
        config = self.config
        found = {"HF_TOKEN": config.hf_token, "WHISPERX_API_KEY": config.api_key}
        return {name: value for name, value in found.items() if value}

    def run_argv(self) -> list[str]:
        """The ``docker run`` argv (no secret in it: secrets come from the environment)."""
        config = self.config
        argv = self._docker(
            "run",
            "-d",
            "--name",
            config.container_name,
            "--gpus",
            "all",
            "--restart",
            "unless-stopped",
            "--memory",
            config.memory,
            "-p",
            f"{config.host_port}:{config.app_port}",
            "-v",
            f"{config.cache_volume}:/cache",
            "-e",
            f"WHISPERX_MODEL={config.model}",
        )
        for name in self._secrets():
            argv += ["-e", name]
        return [*argv, self.image_tag]

    async def _docker_run(self) -> None:
        argv = self.run_argv()
        self.log("$ " + " ".join(argv))
        secrets = self._secrets()
        if secrets:
            # Secrets travel on stdin, one line each, into the remote command's
            # environment; `-e NAME` (no value) makes Docker copy them from there.
            names = " ".join(secrets)
            reads = " && ".join(f"IFS= read -r {name}" for name in secrets)
            wrapper = f'{reads} && export {names} && exec "$@"'
            lines = "".join(f"{value}\n" for value in secrets.values())
            result = await self.ssh.run(
                ["sh", "-c", wrapper, "sh", *argv], input=lines.encode(), check=False
            )
        else:
            result = await self.ssh.run(argv, check=False)
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
            logs = await self.ssh.run(
                self._docker("logs", "--tail", "50", self.config.container_name), check=False
            )
            output = (logs.stdout + logs.stderr).splitlines()
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


# Manager -------------------------------------------------------------------


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
    ) -> InstallJob:
        """Create and start a job; InstallInProgressError if that host has one running.

        ``host_key`` identifies the Spark (default: the SSH host name).
        """
        key = host_key or ssh.host
        running = self._active.get(key)
        if running is not None and not running.done:
            raise InstallInProgressError(
                f"a WhisperX install is already running on {key} (job {running.id})",
                job_id=running.id,
            )
        job = InstallJob(ssh, config, context_dir, health_check)
        self._jobs[job.id] = job
        self._active[key] = job
        task = self._create_task(job.run(), f"spark_audio whisperx install {job.id}")
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
        """Cancel every running job and wait until each has cleaned up."""
        tasks = list(self._tasks.values())
        for job in self._active.values():
            job.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
