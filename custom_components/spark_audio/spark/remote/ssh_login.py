"""Who may log in where: SSH credentials, host keys, and the pinned-key login.

- the server must present the host key pinned at setup (trust on first use by
  the config flow via `fetch_host_key`); anything else is refused before a
  single command is sent;
- no ambient configuration leaks in: no ``~/.ssh/config``, no agent, no
  default keys or known_hosts of the HA host;
- secrets live only in `SSHCredentials` (hidden from its repr) and never reach
  logs or exception messages.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import asyncssh
from asyncssh.public_key import get_default_public_key_algs

from ..errors import (
    SparkSSHAuthError,
    SparkSSHConnectionError,
    SparkSSHError,
    SparkSSHHostKeyError,
    SparkSSHTimeoutError,
)

__all__ = [
    "UNKNOWN_FINGERPRINT",
    "HostKey",
    "PinnedLogin",
    "SSHCredentials",
    "check_private_key",
    "fetch_host_key",
    "host_key_fingerprint",
    "load_private_key",
]

_LOGGER = logging.getLogger(__name__)

_KEEPALIVE_INTERVAL_S = 30.0
_KEEPALIVE_COUNT_MAX = 3
UNKNOWN_FINGERPRINT = "unknown"
SSH_PORT = 22  # the standard sshd port, the default everywhere


@dataclass(frozen=True)
class SSHCredentials:
    """Login for the Spark's SSH server; the secrets never show in repr()."""

    username: str
    private_key: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    port: int = SSH_PORT

    def __post_init__(self) -> None:
        if not self.username:
            raise ValueError("SSH username must not be empty")
        if not self.private_key and not self.password:
            raise ValueError("SSH credentials need a private key or a password")
        if not 0 < self.port < 65536:
            raise ValueError(f"SSH port must be 1..65535, got {self.port}")


@dataclass(frozen=True)
class HostKey:
    """A server host key: the openssh line to pin and its SHA256 fingerprint."""

    openssh: str
    fingerprint: str

    @classmethod
    def from_openssh(cls, line: str) -> HostKey:
        """Parse ``"ssh-ed25519 AAAA... [comment]"``; ValueError when it is not a key."""
        key = _import_public_key(line)
        return cls(openssh=_openssh_line(key), fingerprint=key.get_fingerprint("sha256"))


def host_key_fingerprint(openssh: str) -> str:
    """SHA256 fingerprint of an openssh public key line, as ``ssh-keygen -lf`` prints it."""
    return HostKey.from_openssh(openssh).fingerprint


def check_private_key(text: str) -> None:
    """ValueError unless ``text`` is an unencrypted private key asyncssh can use.

    For forms: the message never quotes the key material.
    """
    load_private_key(text)


def load_private_key(text: str) -> asyncssh.SSHKey:
    """The asyncssh key for ``text``; ValueError that never quotes the key material."""
    try:
        return asyncssh.import_private_key(text)
    except (asyncssh.KeyImportError, ValueError):
        # Raised without the parser's error, which could quote the key.
        raise ValueError(
            "not a usable SSH private key (unsupported format or protected by a passphrase)"
        ) from None


def _import_public_key(line: str) -> asyncssh.SSHKey:
    try:
        return asyncssh.import_public_key(line.strip())
    except (asyncssh.KeyImportError, ValueError) as err:
        raise ValueError(f"not an OpenSSH public key: {err}") from None


def _openssh_line(key: asyncssh.SSHKey) -> str:
    """``"<algorithm> <base64>"`` without a comment, so it compares stably."""
    algorithm, blob = key.export_public_key("openssh").decode("ascii").split()[:2]
    return f"{algorithm} {blob}"


async def fetch_host_key(host: str, port: int = SSH_PORT, *, timeout: float = 10.0) -> HostKey:
    """The key a server presents, for the user to confirm and pin (trust on first use)."""
    try:
        async with asyncio.timeout(timeout):
            key = await asyncssh.get_server_host_key(host, port, config=None)
    except TimeoutError as err:
        raise SparkSSHTimeoutError(f"SSH server {host}:{port} did not answer in time") from err
    except (OSError, asyncssh.Error) as err:
        raise SparkSSHConnectionError(f"cannot reach SSH server {host}:{port}: {err}") from err
    if key is None:
        raise SparkSSHError(f"SSH server {host}:{port} presented no host key")
    return HostKey(openssh=_openssh_line(key), fingerprint=key.get_fingerprint("sha256"))


class _PinnedHostClient(asyncssh.SSHClient):
    """Remembers the key a server offered when it was not the pinned one."""

    def __init__(self) -> None:
        self.offered_key: asyncssh.SSHKey | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        # Only called for keys that are not the pinned one: record and refuse.
        self.offered_key = key
        return False


class PinnedLogin:
    """Opens connections to one server that only succeed with the pinned host key."""

    def __init__(
        self, host: str, credentials: SSHCredentials, pinned_host_key: str, *, timeout: float
    ) -> None:
        """A malformed pin raises ValueError; ``timeout`` bounds connect and login."""
        self.host = host
        self._credentials = credentials
        self._pinned_key = _import_public_key(pinned_host_key)
        self.pinned = HostKey(
            openssh=_openssh_line(self._pinned_key),
            fingerprint=self._pinned_key.get_fingerprint("sha256"),
        )
        # The pinned key's type first, then every other: a server that lost that
        # key type still shows its key, so the mismatch is reported as one.
        pinned_algs = list(self._pinned_key.sig_algorithms)
        self._host_key_algs = [
            alg.decode("ascii")
            for alg in pinned_algs
            + [a for a in get_default_public_key_algs() if a not in pinned_algs]
        ]
        self._timeout = timeout

    def _client_keys(self) -> list[asyncssh.SSHKey] | None:
        if not self._credentials.private_key:
            return None
        try:
            return [load_private_key(self._credentials.private_key)]
        except ValueError as err:
            raise SparkSSHAuthError(str(err)) from None

    async def connect(self) -> asyncssh.SSHClientConnection:
        """A new connection, or the SparkSSH error that says why not (host key, auth, network)."""
        client = _PinnedHostClient()
        target = f"{self._credentials.username}@{self.host}:{self._credentials.port}"
        preferred_auth = []
        if self._credentials.private_key:
            preferred_auth.append("publickey")
        if self._credentials.password:
            preferred_auth += ["keyboard-interactive", "password"]
        client_keys = self._client_keys()
        try:
            async with asyncio.timeout(self._timeout):
                conn = await asyncssh.connect(
                    self.host,
                    self._credentials.port,
                    client_factory=lambda: client,
                    config=None,
                    username=self._credentials.username,
                    client_keys=client_keys,
                    password=self._credentials.password,
                    passphrase=None,
                    agent_path=None,
                    known_hosts=([self._pinned_key], [], []),
                    server_host_key_algs=self._host_key_algs,
                    x509_trusted_certs=None,
                    gss_host=None,
                    preferred_auth=preferred_auth,
                    connect_timeout=self._timeout,
                    login_timeout=self._timeout,
                    keepalive_interval=_KEEPALIVE_INTERVAL_S,
                    keepalive_count_max=_KEEPALIVE_COUNT_MAX,
                )
        except asyncssh.HostKeyNotVerifiable as err:
            offered = client.offered_key
            if offered is not None:
                actual = offered.get_fingerprint("sha256")
            else:
                actual = await self._fetch_fingerprint()
            raise SparkSSHHostKeyError(
                f"SSH host key of {self.host}:{self._credentials.port} is {actual}, "
                f"expected the pinned {self.pinned.fingerprint}",
                expected_fingerprint=self.pinned.fingerprint,
                actual_fingerprint=actual,
            ) from err
        except asyncssh.PermissionDenied as err:
            raise SparkSSHAuthError(f"SSH login {target} was refused") from err
        except TimeoutError as err:
            raise SparkSSHTimeoutError(f"SSH connection to {target} timed out") from err
        except (OSError, asyncssh.Error) as err:
            raise SparkSSHConnectionError(f"SSH connection to {target} failed: {err}") from err
        _LOGGER.debug("SSH connected to %s", target)
        return conn

    async def _fetch_fingerprint(self) -> str:
        """The server's plain key, when the refused one was e.g. a certificate."""
        try:
            key = await fetch_host_key(self.host, self._credentials.port, timeout=self._timeout)
        except SparkSSHError:
            return UNKNOWN_FINGERPRINT
        return key.fingerprint
