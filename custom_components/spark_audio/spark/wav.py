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


@dataclass(frozen=True, slots=True)
class WavLayout:
    """Where a PCM WAV's samples are, so they can be read or cut without decoding."""

    data_offset: int
    data_size: int
    sample_rate: int
    channels: int
    sample_width: int

    @property
    def block_align(self) -> int:
        """Bytes per sample frame."""
        return self.channels * self.sample_width

    @property
    def duration_s(self) -> float:
        """Seconds of audio."""
        return self.data_size / (self.sample_rate * self.block_align)


def wav_layout(head: bytes, total_size: int) -> WavLayout:
    """Find the PCM samples from a WAV's first bytes (``total_size``: the whole file).

    A data size of 0 or 0xFFFFFFFF (streaming writers) means "to the end of the
    file". Raises ValueError for anything that is not PCM WAV.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    offset = 12
    fmt: tuple[int, int, int, int] | None = None
    while offset + 8 <= len(head):
        chunk_id = head[offset : offset + 4]
        (size,) = struct.unpack_from("<I", head, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt ":
            if body + 16 > len(head):
                raise ValueError("WAV fmt chunk is cut short")
            audio_format, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", head, body)
            fmt = (audio_format, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise ValueError("WAV data chunk before its fmt chunk")
            audio_format, channels, rate, bits = fmt
            if audio_format != 1:
                raise ValueError(f"WAV is not PCM (format {audio_format})")
            if not channels or not rate or bits < 8:
                raise ValueError("WAV format fields are invalid")
            available = total_size - body
            data_size = available if size in (0, UNKNOWN_SIZE) else min(size, available)
            return WavLayout(body, data_size, rate, channels, bits // 8)
        offset = body + size + (size & 1)
    raise ValueError("WAV has no data chunk")


def read_wav(data: bytes) -> PcmAudio:
    """Extract PCM from a WAV file, tolerating streaming (unknown-size) headers."""
    layout = wav_layout(data, len(data))
    end = layout.data_offset + layout.data_size
    return PcmAudio(
        data[layout.data_offset : end], layout.sample_rate, layout.channels, layout.sample_width
    )


def quietest_point(pcm: bytes, sample_rate: int, channels: int = 1, frame_s: float = 0.02) -> float:
    """Seconds into 16-bit ``pcm`` where its quietest ``frame_s`` frame starts.

    Where long audio is cut into units, a cut there splits no word (a pause
    between words is the quietest place nearby). Frames are compared by their
    mean absolute amplitude; on a tie the frame nearest the middle wins, so
    silence everywhere keeps the cut where it was planned.
    """
    samples = memoryview(pcm[: len(pcm) // 2 * 2]).cast("h")
    step = max(1, int(frame_s * sample_rate)) * channels
    count = len(samples) // step
    if count == 0:
        return len(samples) / channels / sample_rate / 2
    middle = (count - 1) / 2
    best = min(
        range(count),
        key=lambda k: (
            sum(abs(s) for s in samples[k * step : (k + 1) * step]) // step,
            abs(k - middle),
        ),
    )
    return best * step / channels / sample_rate
