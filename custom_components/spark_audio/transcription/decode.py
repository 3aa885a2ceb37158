"""Decoding an upload to 16 kHz mono WAV with HA's ffmpeg, bounded in what it may write.

A few hundred KB of compressed silence can decode to hundreds of GB, so the
output is capped three ways at once: by the longest audio we take
(``MAX_AUDIO_S``), by the configured upload cap (a decoded file is never larger
than the WAV the caller could have uploaded), and by the disk space left above
the spool reserve. Past the cap the WAV is removed and the caller hears 413
(or 507 when the disk was the limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.core import HomeAssistant

from .audio import AudioInput
from .errors import TranscriptionError, invalid_input
from .limits import upload_limits
from .spool import SpooledFile, free_bytes_above_reserve, insufficient_storage, spool_path

_LOGGER = logging.getLogger(__name__)
MAX_AUDIO_S = 12 * 3600
"""The longest audio the gateway decodes (also the WhisperX container's bound)."""
DECODED_RATE = 16_000
DECODED_BYTES_PER_S = DECODED_RATE * 2  # mono, 16-bit
WAV_HEADER_ROOM = 4096
"""ffmpeg's WAV header (with its LIST chunk) is well under this."""
# The demuxers ffmpeg may pick for an upload: audio containers only, no playlists
# (hls, concat, ...) or other formats that open further files or URLs.
AUDIO_DEMUXERS = (
    "wav,w64,mp3,ogg,flac,mov,matroska,aac,asf,amr,caf,aiff,au,wv,ape,tta,ac3,eac3,dts,"
    "mpeg,mpegts,avi,flv"
)


@dataclass(frozen=True, slots=True)
class DecodeBound:
    """How many WAV bytes one decode may write, and which limit set that."""

    max_bytes: int
    by_disk: bool
    max_s: float

    @classmethod
    async def for_request(cls, hass: HomeAssistant) -> DecodeBound:
        """The smallest of the duration cap, the upload cap and the free disk space."""
        by_audio = min(MAX_AUDIO_S * DECODED_BYTES_PER_S, upload_limits(hass).max_upload_bytes)
        room = await hass.async_add_executor_job(free_bytes_above_reserve, spool_path("").parent)
        cap = min(by_audio, room)
        if cap <= WAV_HEADER_ROOM:
            raise insufficient_storage()
        return cls(cap, room < by_audio, cap / DECODED_BYTES_PER_S)

    def too_long(self) -> TranscriptionError:
        """The answer when the decoded audio passed the cap."""
        if self.by_disk:
            return insufficient_storage()
        if self.max_s >= 3600:
            limit = f"{round(self.max_s / 3600, 1):g} h"
        else:
            limit = (
                f"{round(self.max_s / 60, 1):g} min" if self.max_s >= 60 else f"{self.max_s:.0f} s"
            )
        return TranscriptionError(
            413,
            f"The decoded audio is longer than the {limit} this gateway takes "
            "(bounded by the maximum audio length and the upload size cap)",
            param="file",
            code="audio_too_long",
        )


async def decoded_wav(hass: HomeAssistant, owner: AudioInput, spooled: SpooledFile) -> SpooledFile:
    """A 16 kHz mono WAV of any upload ffmpeg can read, so long audio can be windowed.

    ffmpeg reads only the upload: through a pipe with a ``pipe``-only protocol
    whitelist and a whitelist of audio demuxers, so playlists and concat lists
    cannot make it open other files. MP4/M4A need seeking (their index may sit
    at the end): they are read from the spool path, but with the ``mov``
    demuxer forced and the ``file`` protocol only. ``-t`` and ``-fs`` stop it
    one second past the bound (so passing it is visible). The WAV belongs to
    ``owner`` from the start, so every failure or cancel path removes it;
    ffmpeg is killed and reaped whatever happens. Its stderr (which names our
    paths) goes to the debug log, never to the caller.
    """
    bound = await DecodeBound.for_request(hass)
    binary = get_ffmpeg_manager(hass).binary
    decoded = SpooledFile(hass, spool_path(".wav"), 0)
    owner.own(decoded)
    head = await spooled.read(0, 16)
    seekable = head[4:8] == b"ftyp"
    source = (
        ("-protocol_whitelist", "file", "-f", "mov", "-i", f"file:{spooled.path}")
        if seekable
        else ("-protocol_whitelist", "pipe", "-i", "pipe:0")
    )
    limit = bound.max_bytes + WAV_HEADER_ROOM
    process = await asyncio.create_subprocess_exec(
        binary,
        *("-hide_banner", "-nostats", "-loglevel", "error", "-y"),
        *("-format_whitelist", AUDIO_DEMUXERS, *source),
        *("-t", f"{bound.max_s + 1:.3f}", "-fs", str(limit + DECODED_BYTES_PER_S)),
        *("-ac", "1", "-ar", str(DECODED_RATE), "-f", "wav", str(decoded.path)),
        stdin=asyncio.subprocess.DEVNULL if seekable else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stderr = await _run_ffmpeg(process, None if seekable else spooled)
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.shield(process.wait())
    if process.returncode != 0:
        _LOGGER.debug(
            "ffmpeg exited with %s on an upload: %s",
            process.returncode,
            stderr.decode(errors="replace"),
        )
        await decoded.remove()
        raise invalid_input(
            "The file is not audio this gateway can read", param="file", code="not_audio"
        )
    decoded.size = (await hass.async_add_executor_job(decoded.path.stat)).st_size
    if decoded.size > limit:
        await decoded.remove()
        raise bound.too_long()
    return decoded


async def _run_ffmpeg(process: asyncio.subprocess.Process, feed: SpooledFile | None) -> bytes:
    """Feed stdin (when reading from the pipe) and collect stderr until ffmpeg exits."""
    assert process.stderr is not None
    stderr = process.stderr

    async def feed_stdin() -> None:
        assert process.stdin is not None
        assert feed is not None
        stdin = process.stdin
        try:
            async for chunk in feed.chunks():
                stdin.write(chunk)
                await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return  # ffmpeg stopped reading: it says why on stderr
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    async def tail() -> bytes:
        kept = b""
        while chunk := await stderr.read(4096):
            kept = (kept + chunk)[-4096:]
        return kept

    async with asyncio.TaskGroup() as group:
        if feed is not None:
            group.create_task(feed_stdin())
        collected = group.create_task(tail())
    await process.wait()
    return collected.result()
