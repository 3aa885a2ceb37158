"""Decoding an upload with ffmpeg, bounded and confined to the upload itself.

The same rules as the Home Assistant gateway's decoder: ffmpeg reads the
upload through a pipe (``-protocol_whitelist pipe``) with a whitelist of audio
demuxers, so a playlist or concat list cannot make it open other files or
URLs; MP4/M4A, whose index may sit at the end, are read from the file with the
``mov`` demuxer forced and the ``file`` protocol only. ``-t`` stops it one
second past the longest audio the service takes, so a few hundred KB of
compressed silence never becomes gigabytes of samples in RAM.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from .engine import AudioDecodeError, AudioTooLong

_LOGGER = logging.getLogger(__name__)
SAMPLE_RATE = 16_000
DEFAULT_MAX_AUDIO_S = 12 * 3600
AUDIO_DEMUXERS = (
    "wav,w64,mp3,ogg,flac,mov,matroska,aac,asf,amr,caf,aiff,au,wv,ape,tta,ac3,eac3,dts,"
    "mpeg,mpegts,avi,flv"
)


def ffmpeg_argv(path: Path, max_s: float, *, seekable: bool) -> list[str]:
    """The ffmpeg command: 16 kHz mono signed 16-bit PCM on stdout, at most ``max_s`` + 1 s."""
    source = (
        ["-protocol_whitelist", "file", "-f", "mov", "-i", f"file:{path}"]
        if seekable
        else ["-protocol_whitelist", "pipe", "-i", "pipe:0"]
    )
    return [
        *("ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"),
        *("-threads", "0", "-format_whitelist", AUDIO_DEMUXERS, *source),
        *("-t", f"{max_s + 1:.3f}", "-f", "s16le", "-ac", "1", "-acodec", "pcm_s16le"),
        *("-ar", str(SAMPLE_RATE), "-"),
    ]


def decode_pcm(path: str | Path, max_s: float) -> bytes:
    """The upload as 16 kHz mono s16le samples; AudioDecodeError / AudioTooLong otherwise.

    ffmpeg's complaint names our temp path: it goes to the log, not the client.
    """
    upload = Path(path)
    with upload.open("rb", buffering=0) as source:  # unbuffered: ffmpeg reads from its offset
        seekable = source.read(8)[4:8] == b"ftyp"
        source.seek(0)
        result = subprocess.run(
            ffmpeg_argv(upload, max_s, seekable=seekable),
            stdin=subprocess.DEVNULL if seekable else source,
            capture_output=True,
            check=False,
        )
    if result.returncode != 0:
        _LOGGER.info(
            "ffmpeg could not decode an upload: %s", result.stderr[-2000:].decode(errors="replace")
        )
        raise AudioDecodeError("Could not decode audio file (not audio ffmpeg may read)")
    pcm = result.stdout
    if not pcm:
        raise AudioDecodeError("Audio file contains no samples")
    if len(pcm) > max_s * SAMPLE_RATE * 2:
        raise AudioTooLong(f"The audio is longer than the {max_s:g} s this service takes")
    return pcm
