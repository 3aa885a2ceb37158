"""Just enough WAV to wrap raw PCM streams and to unwrap WAV replies.

Assist hands STT raw PCM and the backends want files; Magpie's streaming
endpoint returns raw PCM and HA wants a playable file. Headers for streams of
unknown length use 0xFFFFFFFF sizes, the convention ffmpeg and libsndfile read
as "until the end of the data".
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

UNKNOWN_SIZE = 0xFFFFFFFF
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")


def wav_header(
    sample_rate: int, *, channels: int = 1, sample_width: int = 2, data_size: int | None = None
) -> bytes:
    """A 44-byte PCM WAV header; ``data_size=None`` marks a stream of unknown length."""
    block_align = channels * sample_width
    if data_size is None:
        riff_size = data_size = UNKNOWN_SIZE
    else:
        riff_size = 36 + data_size
    return _HEADER.pack(
        b"RIFF",
        riff_size,
        b"WAVE",
        b"fmt ",
        16,
        1,
        channels,
        sample_rate,
        sample_rate * block_align,
        block_align,
        sample_width * 8,
        b"data",
        data_size,
    )


async def wav_stream(
    pcm: AsyncIterable[bytes], sample_rate: int, *, channels: int = 1, sample_width: int = 2
) -> AsyncIterator[bytes]:
    """Yield a streaming WAV header, then the PCM chunks as they arrive."""
    yield wav_header(sample_rate, channels=channels, sample_width=sample_width)
    async for chunk in pcm:
        if chunk:
            yield chunk


@dataclass(frozen=True, slots=True)
class PcmAudio:
    """Raw PCM samples and their format."""

    pcm: bytes
    sample_rate: int
    channels: int
    sample_width: int


def read_wav(data: bytes) -> PcmAudio:
    """Extract PCM from a WAV file, tolerating streaming (unknown-size) headers."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    offset = 12
    fmt: tuple[int, int, int, int] | None = None
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt ":
            audio_format, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            fmt = (audio_format, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise ValueError("WAV data chunk before its fmt chunk")
            audio_format, channels, rate, bits = fmt
            if audio_format != 1:
                raise ValueError(f"WAV is not PCM (format {audio_format})")
            end = len(data) if size == UNKNOWN_SIZE else min(len(data), body + size)
            return PcmAudio(data[body:end], rate, channels, bits // 8)
        offset = body + size + (size & 1)
    raise ValueError("WAV has no data chunk")
