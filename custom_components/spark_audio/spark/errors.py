"""One exception tree for every Spark client, so callers map errors in one place."""

from __future__ import annotations


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
