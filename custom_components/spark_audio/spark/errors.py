"""One exception tree for every Spark client, so callers map errors in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import ServiceHealth


class SparkError(Exception):
    """Base class: anything that went wrong talking to a Spark service."""


class SparkConnectionError(SparkError):
    """The service could not be reached (refused, reset, DNS, TLS...)."""


class SparkTimeoutError(SparkError):
    """The service did not answer within the call's timeout."""


class SparkResponseError(SparkError):
    """The service answered, but not with what the API promises.

    ``status`` is the HTTP status (200 when the body itself was malformed).
    """

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class SparkBackendFaultError(SparkResponseError):
    """The service answered with a 5xx.

    On the Spark this is usually the "CUDA wedge": the process stays up and fails
    every inference until its container is restarted, so recovery keys on it.
    """


class ServiceNotReadyError(SparkError):
    """The service answered but says it cannot serve (yet: models loading; or why, in ``health``).

    ``health`` is what it said, kept so callers can show it (WhisperX's device and reason).
    """

    def __init__(self, message: str, *, health: ServiceHealth | None = None) -> None:
        super().__init__(message)
        self.health = health


class SparkSSHError(SparkError):
    """SSH access to the Spark host failed (restarts and installs go over SSH)."""


class SparkSSHAuthError(SparkSSHError):
    """The Spark refused the key or password: the user must re-enter credentials."""


class SparkSSHHostKeyError(SparkSSHError):
    """The Spark presented a host key other than the pinned one.

    Either the box was reinstalled or something sits in the middle; the user
    must confirm the new key, so both fingerprints are carried for the repair.
    ``actual_fingerprint`` is "unknown" in the rare case the server's key
    could not be read (e.g. it offered only an untrusted certificate).
    """

    def __init__(self, message: str, *, expected_fingerprint: str, actual_fingerprint: str) -> None:
        super().__init__(message)
        self.expected_fingerprint = expected_fingerprint
        self.actual_fingerprint = actual_fingerprint


class SparkSSHConnectionError(SparkSSHError):
    """The SSH connection was refused, unreachable, dropped or timed out."""


class SparkSSHTimeoutError(SparkSSHConnectionError):
    """Connecting or a remote command took longer than its timeout.

    A subclass of the connection error, so callers that only care about "the
    Spark is not answering" catch one class, while recovery code can still
    tell "the command may still be running" apart from "never got there".
    """


class SparkSSHCommandError(SparkSSHError):
    """A remote command ran and exited non-zero (``exit_status``, short ``stderr`` tail)."""

    def __init__(self, message: str, *, exit_status: int, stderr: str) -> None:
        super().__init__(message)
        self.exit_status = exit_status
        self.stderr = stderr


class SparkInvalidNameError(SparkError, ValueError):
    """A container or volume name Docker would reject, or that could smuggle shell syntax.

    Raised where the name is first used, before anything reaches SSH. Also a
    ValueError, because it is bad input, so form validation can treat it as such.
    """


class InstallError(SparkError):
    """The install could not go on (preflight refused, build or run failed, never healthy)."""


class InstallInProgressError(SparkError):
    """An install is already running on that Spark; ``job_id`` names it."""

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id
