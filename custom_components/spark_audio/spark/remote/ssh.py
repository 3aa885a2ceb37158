"""SSH access to a Spark host: one reused connection, commands, streamed output, tar upload.

Restarting a CUDA-wedged container and installing WhisperX need a shell on the
Spark. This module gives exactly that and nothing more:

- logins go through `PinnedLogin` (`ssh_login`): the pinned host key only, no
  ambient configuration of the HA host;
- commands are argv lists joined with `shlex.join` (the remote login shell is
  POSIX), so user input is never spliced into a shell line;
- secrets live only in `SSHCredentials` (hidden from its repr) and never reach
  logs or exception messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from collections.abc import AsyncIterable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import asyncssh

from ..errors import (
    SparkSSHCommandError,
    SparkSSHConnectionError,
    SparkSSHError,
    SparkSSHTimeoutError,
)
from .ssh_login import HostKey, PinnedLogin, SSHCredentials

__all__ = ["CommandResult", "SparkSSH"]

_LOGGER = logging.getLogger(__name__)

# OpenSSH allows 10 sessions per connection (MaxSessions); stay below it so a
# burst of commands queues here instead of failing with "open failed".
_MAX_SESSIONS = 8
_STDERR_TAIL_CHARS = 500
_CLOSE_GRACE_S = 1.0
_SSH_CONNECTION_CLOSED = "SSH connection closed"


@dataclass(frozen=True)
class CommandResult:
    """What a remote command left behind (output decoded as UTF-8, lossy)."""

    exit_status: int
    stdout: str
    stderr: str


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _STDERR_TAIL_CHARS else "…" + text[-_STDERR_TAIL_CHARS:]


def _checked(result: CommandResult, program: str, host: str) -> CommandResult:
    """`result` if it exited 0, else SparkSSHCommandError naming only the program."""
    if result.exit_status != 0:
        stderr = _tail(result.stderr)
        raise SparkSSHCommandError(
            f"`{program}` on {host} exited with status {result.exit_status}"
            + (f": {stderr}" if stderr else ""),
            exit_status=result.exit_status,
            stderr=stderr,
        )
    return result


class SparkSSH:
    """Commands on one Spark over one lazily opened, reused SSH connection.

    Concurrent callers share the connection (each command is its own channel).
    A connection found dead between commands is replaced once, transparently;
    a command is never sent twice.
    """

    def __init__(
        self,
        host: str,
        credentials: SSHCredentials,
        *,
        pinned_host_key: str,
        connect_timeout: float = 10.0,
        command_timeout: float = 60.0,
    ) -> None:
        """Nothing connects until the first command; a malformed pin raises ValueError."""
        self.host = host
        self._credentials = credentials
        self._login = PinnedLogin(host, credentials, pinned_host_key, timeout=connect_timeout)
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lock = asyncio.Lock()
        self._connect_failures = 0
        self._last_error: SparkSSHError | None = None
        self._sessions = asyncio.Semaphore(_MAX_SESSIONS)

    def __repr__(self) -> str:
        return f"SparkSSH({self._credentials.username}@{self.host}:{self._credentials.port})"

    @property
    def pinned_host_key(self) -> HostKey:
        """The only host key this instance accepts."""
        return self._login.pinned

    @property
    def connected(self) -> bool:
        """Whether a live connection is held right now."""
        return self._conn is not None and not self._conn.is_closed()

    # Connection ------------------------------------------------------------

    async def _connection(self) -> tuple[asyncssh.SSHClientConnection, bool]:
        """The shared connection and whether it was reused (False: just opened).

        Callers that queued behind a failed attempt get that failure instead
        of each waiting out another connect timeout.
        """
        failures_before = self._connect_failures
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn, True
            self._conn = None
            if self._connect_failures != failures_before and self._last_error is not None:
                raise self._last_error
            try:
                self._conn = await self._login.connect()
            except SparkSSHError as err:
                self._connect_failures += 1
                self._last_error = err
                raise
            self._last_error = None
            return self._conn, False

    async def _discard(self, conn: asyncssh.SSHClientConnection) -> None:
        async with self._lock:
            if self._conn is conn:
                self._conn = None
        conn.abort()
        await conn.wait_closed()

    async def close(self) -> None:
        """Close the connection; a later command opens a new one."""
        async with self._lock:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        conn.close()
        try:
            async with asyncio.timeout(_CLOSE_GRACE_S):
                await conn.wait_closed()
        except TimeoutError:
            # A peer that stopped answering must not hold up an unload.
            conn.abort()
            await conn.wait_closed()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # Commands --------------------------------------------------------------

    async def _open_process(
        self, command: str, *, stdin_pipe: bool, input: bytes | None = None
    ) -> asyncssh.SSHClientProcess[bytes]:
        """Start `command` on a channel, replacing a dead reused connection once.

        Retrying is safe only when the channel never opened: then the command
        was never sent.
        """
        for attempt in range(2):
            conn, reused = await self._connection()
            try:
                async with asyncio.timeout(self._connect_timeout):
                    return await conn.create_process(
                        command,
                        input=input,
                        stdin=asyncssh.PIPE
                        if stdin_pipe or input is not None
                        else asyncssh.DEVNULL,
                        encoding=None,
                    )
            except asyncssh.ChannelOpenError as err:
                lost = conn.is_closed() or err.reason == _SSH_CONNECTION_CLOSED
                if lost:
                    await self._discard(conn)
                    if reused and attempt == 0:
                        _LOGGER.debug("SSH connection to %s was lost; reconnecting", self.host)
                        continue
                raise SparkSSHConnectionError(
                    f"SSH channel to {self.host} could not be opened: {err.reason}"
                ) from err
            except TimeoutError as err:
                await self._discard(conn)
                raise SparkSSHTimeoutError(f"SSH server {self.host} stopped answering") from err
            except (OSError, asyncssh.Error) as err:
                await self._discard(conn)
                raise SparkSSHConnectionError(
                    f"SSH connection to {self.host} failed: {err}"
                ) from err
        raise AssertionError("unreachable")  # pragma: no cover

    async def _finish(
        self, process: asyncssh.SSHClientProcess[bytes], program: str, timeout: float
    ) -> CommandResult:
        """Wait for exit and turn it into a result or one of our errors."""
        try:
            completed = await process.wait(timeout=timeout)
        except asyncssh.TimeoutError:
            raise SparkSSHTimeoutError(
                f"`{program}` on {self.host} did not finish within {timeout:g} s"
            ) from None
        except (OSError, asyncssh.Error) as err:
            raise SparkSSHConnectionError(
                f"SSH connection to {self.host} dropped while `{program}` ran: {err}"
            ) from err
        if completed.returncode is None:
            raise SparkSSHConnectionError(
                f"SSH connection to {self.host} dropped before `{program}` finished"
            )
        return CommandResult(
            exit_status=completed.returncode,
            stdout=_decode(completed.stdout),
            stderr=_decode(completed.stderr),
        )

    @staticmethod
    async def _release(process: asyncssh.SSHClientProcess[bytes]) -> None:
        """Close the channel without waiting on a command that will not stop.

        A still-running command gets SIGTERM; OpenSSH honours that for normal
        users but not for root logins, and it closes the channel only once the
        command exits, so after a short grace the channel is abandoned.
        """
        if process.returncode is None:
            with contextlib.suppress(OSError, asyncssh.Error):
                process.terminate()
        process.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_CLOSE_GRACE_S):
                await process.wait_closed()

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        input: bytes | None = None,
        check: bool = True,
    ) -> CommandResult:
        """Run one command (argv, quoted with shlex) and collect its output.

        Raises SparkSSHCommandError on a non-zero exit (unless ``check`` is
        False), SparkSSHTimeoutError after ``timeout`` (default: the instance's
        command timeout), SparkSSHConnectionError when the connection fails.
        """
        if isinstance(argv, str) or not argv:
            raise ValueError("argv must be a non-empty sequence of strings, not a shell line")
        if any("\0" in arg for arg in argv):
            raise ValueError("command arguments cannot contain NUL bytes")
        program = argv[0]
        command = shlex.join(argv)
        async with self._sessions:
            process = await self._open_process(command, stdin_pipe=False, input=input)
            try:
                result = await self._finish(
                    process, program, self._command_timeout if timeout is None else timeout
                )
            finally:
                await self._release(process)
        return _checked(result, program, self.host) if check else result

    async def run_streaming(
        self,
        argv: Sequence[str],
        on_line: Callable[[str], None],
        *,
        timeout: float | None = None,
    ) -> int:
        """Run one command and hand each output line to ``on_line`` as it arrives.

        For long jobs whose progress must show live (``docker build``):
        stderr is merged into stdout by the remote shell (``2>&1``), lines
        are decoded lossily without their line ending. Returns the exit
        status (non-zero is not an error here); raises SparkSSHTimeoutError
        after ``timeout`` (default: the command timeout) and
        SparkSSHConnectionError when the link drops. Cancelling the caller
        closes the channel, which stops a command that writes output.
        """
        if isinstance(argv, str) or not argv:
            raise ValueError("argv must be a non-empty sequence of strings, not a shell line")
        if any("\0" in arg for arg in argv):
            raise ValueError("command arguments cannot contain NUL bytes")
        program = argv[0]
        command = f"{shlex.join(argv)} 2>&1"
        limit = self._command_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        async with self._sessions:
            process = await self._open_process(command, stdin_pipe=False)
            try:
                try:
                    async with asyncio.timeout_at(deadline):
                        while raw := await process.stdout.readline():
                            on_line(_decode(raw).rstrip("\r\n"))
                except TimeoutError:
                    raise SparkSSHTimeoutError(
                        f"`{program}` on {self.host} did not finish within {limit:g} s"
                    ) from None
                except (OSError, asyncssh.Error) as err:
                    raise SparkSSHConnectionError(
                        f"SSH connection to {self.host} dropped while `{program}` ran: {err}"
                    ) from err
                result = await self._finish(process, program, max(deadline - loop.time(), 0.0))
            finally:
                await self._release(process)
        return result.exit_status

    async def upload_tar_stream(
        self,
        remote_dir: str,
        chunks: AsyncIterable[bytes],
        *,
        timeout: float | None = None,
    ) -> None:
        """Extract a tar archive, streamed chunk by chunk, into ``remote_dir``.

        Runs ``mkdir -p DIR && tar -x -f - -C DIR``; each chunk is written and
        flow-controlled (drained) before the next is pulled, so the archive is
        never held in memory. A relative DIR is relative to the login's home;
        ``~`` is not expanded, so it is refused. ``timeout`` (default: the
        command timeout) bounds the whole upload.
        """
        if not remote_dir or remote_dir.startswith("~") or any(c in remote_dir for c in "\0\n"):
            raise ValueError(
                "remote_dir must be a non-empty absolute or home-relative path without '~'"
            )
        command = (
            f"{shlex.join(['mkdir', '-p', '--', remote_dir])} && "
            f"{shlex.join(['tar', '-x', '-f', '-', '-C', remote_dir])}"
        )
        limit = self._command_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        async with self._sessions:
            process = await self._open_process(command, stdin_pipe=True)
            try:
                try:
                    async with asyncio.timeout_at(deadline):
                        await self._feed(process, chunks)
                except TimeoutError:
                    raise SparkSSHTimeoutError(
                        f"tar upload to {self.host} did not finish within {limit:g} s"
                    ) from None
                result = await self._finish(process, "tar", max(deadline - loop.time(), 0.0))
            finally:
                await self._release(process)
        _checked(result, "tar", self.host)

    @staticmethod
    async def _feed(
        process: asyncssh.SSHClientProcess[bytes], chunks: AsyncIterable[bytes]
    ) -> None:
        """Stream chunks to stdin; if the remote side quits early, stop and let exit tell why."""
        try:
            async for chunk in chunks:
                if chunk:
                    process.stdin.write(chunk)
                    await process.stdin.drain()
            process.stdin.write_eof()
        except (BrokenPipeError, ConnectionError, asyncssh.Error):
            # tar exited (bad archive, disk full) or the link dropped: the
            # exit status or a dropped connection is reported by _finish.
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
