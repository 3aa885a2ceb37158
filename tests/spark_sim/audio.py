"""Real speech audio for the simulated Spark.

The sim answers TTS with audible speech (espeak-ng) so that clients and
humans testing by ear get something realistic, and it parses WAV uploads the
way the real services do, including the streaming headers that Assist-style
clients send before they know the length.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import shutil
import struct
import wave
from array import array
from dataclasses import dataclass

# espeak-ng voice per BCP-47 tag; the primary subtag is tried when the full
# tag is missing so "es-MX" still speaks Spanish.
_ESPEAK_VOICES: dict[str, str] = {
    "en-us": "en-us",
    "en-gb": "en-gb",
    "en": "en-us",
    "es-us": "es",
    "es": "es",
    "fr-fr": "fr",
    "fr": "fr",
    "de-de": "de",
    "de": "de",
    "it-it": "it",
    "it": "it",
    "zh-cn": "cmn",
    "zh": "cmn",
    "hi-in": "hi",
    "hi": "hi",
    "ja-jp": "ja",
    "ja": "ja",
    "vi-vn": "vi",
    "vi": "vi",
    "pt-br": "pt-br",
    "pt": "pt",
    "ko-kr": "ko",
    "ko": "ko",
    "ar": "ar",
}
_ESPEAK_RATE = 22050
_TONE_SECONDS_PER_CHAR = 0.07
_CACHE_LIMIT = 64
_cache: dict[tuple[str, str, int], bytes] = {}

# Sizes a streaming writer puts in the header when the length is unknown.
STREAMING_SIZE = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class WavInfo:
    """Decoded WAV: format plus the raw PCM payload."""

    sample_rate: int
    channels: int
    sample_width: int
    pcm: bytes

    @property
    def duration(self) -> float:
        """Seconds of audio; the sims' processing delays scale with it."""
        frame = self.sample_rate * self.channels * self.sample_width
        return len(self.pcm) / frame if frame else 0.0


def espeak_voice(language: str) -> str:
    """Map a BCP-47 language to an espeak-ng voice, falling back to English."""
    tag = language.strip().lower().replace("_", "-")
    return _ESPEAK_VOICES.get(tag) or _ESPEAK_VOICES.get(tag.split("-")[0], "en-us")


def parse_wav(data: bytes) -> WavInfo:
    """Parse a RIFF/WAVE file, tolerating streaming-style length fields.

    Streaming writers put 0, 0xFFFFFFFF or an oversized guess in the RIFF and
    data sizes; in all those cases the data runs to the end of the body.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise ValueError("truncated fmt chunk")
            tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from(
                "<HHIIHH", data, body
            )
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise ValueError("data chunk before fmt chunk")
            tag, channels, rate, bits = fmt
            if tag not in (1, 0xFFFE):
                raise ValueError(f"unsupported WAV format tag {tag:#x}")
            if channels < 1 or rate < 1 or bits not in (8, 16, 24, 32):
                raise ValueError("invalid WAV format fields")
            end = len(data) if size in (0, STREAMING_SIZE) else min(body + size, len(data))
            width = bits // 8
            usable = (end - body) - (end - body) % (width * channels)
            return WavInfo(rate, channels, width, data[body : body + usable])
        pos = body + size + (size & 1)
    raise ValueError("no data chunk in WAV")


def wav_bytes(pcm: bytes, sample_rate: int, channels: int = 1, sample_width: int = 2) -> bytes:
    """Wrap PCM in a canonical WAV header (what Magpie's offline API returns)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(sample_width)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm)
    return out.getvalue()


def streaming_wav_header(sample_rate: int, channels: int = 1, sample_width: int = 2) -> bytes:
    """A WAV header with unknown (0xFFFFFFFF) sizes, as streaming clients send."""
    block = channels * sample_width
    return (
        b"RIFF"
        + struct.pack("<I", STREAMING_SIZE)
        + b"WAVEfmt "
        + struct.pack(
            "<IHHIIHH",
            16,
            1,
            channels,
            sample_rate,
            sample_rate * block,
            block,
            sample_width * 8,
        )
        + b"data"
        + struct.pack("<I", STREAMING_SIZE)
    )


def tone(seconds: float, sample_rate: int, frequency: float = 440.0) -> bytes:
    """16-bit mono sine PCM; the stand-in for speech when espeak-ng is absent."""
    count = max(0, int(seconds * sample_rate))
    step = 2 * math.pi * frequency / sample_rate
    samples = array("h", (int(8000 * math.sin(i * step)) for i in range(count)))
    return samples.tobytes()


def resample_linear(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Linear-interpolation resample of 16-bit mono PCM (the no-sox fallback)."""
    if src_rate == dst_rate or not pcm:
        return pcm
    src = array("h")
    src.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    count = int(len(src) * dst_rate / src_rate)
    ratio = src_rate / dst_rate
    last = len(src) - 1
    out = array("h", bytes(2 * count))
    for i in range(count):
        pos = i * ratio
        left = int(pos)
        right = min(left + 1, last)
        frac = pos - left
        out[i] = int(src[left] + (src[right] - src[left]) * frac)
    return out.tobytes()


async def _run(argv: list[str], stdin: bytes) -> bytes:
    """Run a helper program without blocking the loop; raise on failure."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{argv[0]} failed ({proc.returncode}): {err.decode(errors='replace')[:200]}"
        )
    return out


async def _resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Resample 16-bit mono PCM with sox when present, else in Python."""
    if src_rate == dst_rate:
        return pcm
    sox = shutil.which("sox")
    if sox is None:
        return resample_linear(pcm, src_rate, dst_rate)
    raw = ["-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1"]
    return await _run([sox, *raw, "-r", str(src_rate), "-", *raw, "-r", str(dst_rate), "-"], pcm)


async def speak_pcm(text: str, language: str, sample_rate: int) -> bytes:
    """16-bit mono PCM of `text` spoken in `language` at `sample_rate`."""
    key = (text, language, sample_rate)
    if (cached := _cache.get(key)) is not None:
        return cached
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pcm = tone(max(0.2, len(text) * _TONE_SECONDS_PER_CHAR), sample_rate)
    else:
        # Text goes through stdin so that leading dashes or long input never
        # become command-line options.
        raw = await _run(
            [espeak, "-v", espeak_voice(language), "--stdin", "--stdout"], text.encode()
        )
        info = parse_wav(raw)
        pcm = await _resample(info.pcm, info.sample_rate, sample_rate)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.pop(next(iter(_cache)))
    _cache[key] = pcm
    return pcm


async def speak(text: str, language: str, sample_rate: int) -> bytes:
    """A 16-bit mono WAV of `text` spoken in `language` at `sample_rate`."""
    return wav_bytes(await speak_pcm(text, language, sample_rate), sample_rate)


# What the simulated Magpie said lately, by a digest of its PCM. The simulated
# STT services cannot recognise speech (no ASR model runs here), so when they
# are sent audio this process synthesised they "hear" the text it was made
# from: Magpie -> Parakeet round trips then behave like the real pair.
_SPOKEN: dict[bytes, str] = {}
_SPOKEN_LIMIT = 256


def remember_speech(pcm: bytes, text: str) -> None:
    """Note that `pcm` is the simulated voice saying `text`."""
    if len(_SPOKEN) >= _SPOKEN_LIMIT:
        _SPOKEN.pop(next(iter(_SPOKEN)))
    _SPOKEN[hashlib.sha256(pcm).digest()] = text


def recall_speech(pcm: bytes) -> str | None:
    """The text of audio this simulator synthesised, if `pcm` is exactly that."""
    return _SPOKEN.get(hashlib.sha256(pcm).digest())
