"""Uploads go to a temporary file in chunks, never into memory whole."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import UploadFile

CHUNK_SIZE = 1024 * 1024


class EmptyUpload(ValueError):
    """The uploaded file has no bytes."""


@asynccontextmanager
async def spooled(upload: UploadFile, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[Path]:
    """Copy `upload` to a temp file chunk by chunk; the file is removed afterwards.

    The name is ours alone: the client's filename never picks a path or suffix
    (ffmpeg and the WAV reader look at the content, not the name).
    """
    fd, name = tempfile.mkstemp(prefix="whisperx-", suffix=".upload")
    path = Path(name)
    try:
        size = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := await upload.read(chunk_size):
                await asyncio.to_thread(out.write, chunk)
                size += len(chunk)
        if size == 0:
            raise EmptyUpload("Uploaded file is empty")
        yield path
    finally:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(path.unlink, missing_ok=True)
