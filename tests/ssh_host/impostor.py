"""An impostor SSH server that records every authentication attempt and accepts none.

It stands where a Spark should be (someone else's box at the Spark's address
or port) so tests can prove that no user name, key or password reaches a
server before the user confirmed its host key. It is a real SSH server
(asyncssh), so the client goes through a full key exchange with it; only what
happens after is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import asyncssh


@dataclass(frozen=True)
class AuthAttempt:
    """One thing a client offered: the user name alone, a password or a public key."""

    method: str
    username: str
    secret: str | None = None


@dataclass
class ImpostorSSH:
    """Listens on ``host``:``port`` (a free one) with its own host key; use ``async with``."""

    host: str = "127.0.0.1"
    attempts: list[AuthAttempt] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    _key: asyncssh.SSHKey = field(
        default_factory=lambda: asyncssh.generate_private_key("ssh-ed25519")
    )
    _server: asyncssh.SSHAcceptor | None = None

    @property
    def fingerprint(self) -> str:
        """SHA256 fingerprint of the impostor's host key."""
        return str(self._key.get_fingerprint("sha256"))

    async def __aenter__(self) -> Self:
        self._server = await asyncssh.create_server(
            lambda: _Recorder(self), self.host, self.port, server_host_keys=[self._key]
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


class _Recorder(asyncssh.SSHServer):
    """Records what a client offers; refuses everything."""

    def __init__(self, impostor: ImpostorSSH) -> None:
        self._impostor = impostor

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._impostor.connections += 1

    def begin_auth(self, username: str) -> bool:
        # The first user-auth request: the client already told us who it is.
        self._impostor.attempts.append(AuthAttempt("begin", username))
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        self._impostor.attempts.append(AuthAttempt("password", username, password))
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        self._impostor.attempts.append(
            AuthAttempt("publickey", username, str(key.get_fingerprint("sha256")))
        )
        return False
