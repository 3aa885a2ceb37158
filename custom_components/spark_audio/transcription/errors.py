"""The transcription core's one error type: what went wrong, and whose fault it was.

The core knows nothing of HTTP; ``status`` is the kind of failure written as
the HTTP status the gateway answers it with (4xx: the request or its audio,
5xx: a Spark), because that is the one scale both callers already speak. The
gateway renders it in OpenAI's error shape (``gateway.errors``); the action
and the jobs raise it again as a translated ``HomeAssistantError``.
"""

from __future__ import annotations


class TranscriptionError(Exception):
    """A transcription (or the upload it needs) failed for a reason the caller is told."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Describe the failure; ``param`` names the bad input, ``retry_after`` when to retry."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.retry_after = retry_after

    @property
    def caller_fault(self) -> bool:
        """The request or its audio was refused (not a Spark failing)."""
        return self.status < 500


def invalid_input(
    message: str, param: str | None = None, code: str | None = None
) -> TranscriptionError:
    """The request or its audio cannot be transcribed as sent (answered as a 400)."""
    return TranscriptionError(400, message, param=param, code=code)
