"""The audio a transcription reads: an upload the gateway is receiving, or a local file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from .spool import SpooledFile


class AudioInput(Protocol):
    """What the core needs of its audio; the gateway's ``Upload`` is one."""

    def chunks(self) -> AsyncIterator[bytes]:
        """The audio's bytes (a fresh read where it is on disk)."""

    def replayable(self) -> bool:
        """Whether a failed attempt can be retried with the same bytes."""

    async def ensure_spooled(self) -> SpooledFile:
        """The audio on disk (when it must be read more than once)."""

    def own(self, spooled: SpooledFile) -> None:
        """Remove ``spooled`` (a file derived from the audio) when the audio is done with."""


class FileAudio:
    """A local file, read in place and never removed; what it derives is removed on ``close``."""

    def __init__(self, spooled: SpooledFile) -> None:
        """Read ``spooled`` (not ours)."""
        self._file = spooled
        self._owned: list[SpooledFile] = []

    def chunks(self) -> AsyncIterator[bytes]:
        """A fresh read of the file."""
        return self._file.chunks()

    def replayable(self) -> bool:
        """Always: the file can be read again."""
        return True

    async def ensure_spooled(self) -> SpooledFile:
        """The file itself."""
        return self._file

    def own(self, spooled: SpooledFile) -> None:
        """Remove ``spooled`` on ``close``."""
        self._owned.append(spooled)

    async def close(self) -> None:
        """Remove every file derived from this one."""
        while self._owned:
            await self._owned.pop().remove()
