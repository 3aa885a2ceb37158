"""Deep probes: real inference on each service, because /health lies during a CUDA wedge."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from importlib import resources

from .magpie import MagpieClient
from .transcription import OpenAITranscriptionClient
from .wav import read_wav

PROBE_PHRASE = "Spark audio check, one two three."
PROBE_CLIP_NAME = "probe_clip.wav"
_WORD = re.compile(r"[\w']+")


def load_probe_clip() -> bytes:
    """The bundled 16 kHz WAV ("testing one two three"). Blocking: call it off the loop."""
    return resources.files(__package__).joinpath(PROBE_CLIP_NAME).read_bytes()


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """A successful deep probe: how long the inference took and what it produced."""

    latency_s: float
    detail: str


@dataclass(frozen=True, slots=True)
class RoundTripResult:
    """Magpie spoke a known phrase and Parakeet transcribed it."""

    latency_s: float
    real_time_factor: float
    heard: str
    word_accuracy: float

    @property
    def understood(self) -> bool:
        """At least half of the phrase's words came back."""
        return self.word_accuracy >= 0.5


async def probe_transcription(
    client: OpenAITranscriptionClient, clip: bytes, *, language: str = "en"
) -> ProbeResult:
    """Transcribe the bundled clip; any SparkError means the service cannot infer."""
    start = time.monotonic()
    result = await client.transcribe(clip, language=language)
    return ProbeResult(time.monotonic() - start, result.text)


async def probe_synthesis(client: MagpieClient, *, voice: str) -> ProbeResult:
    """Synthesize a short phrase and check real audio came back."""
    start = time.monotonic()
    audio = read_wav(await client.synthesize(PROBE_PHRASE, voice=voice))
    elapsed = time.monotonic() - start
    seconds = len(audio.pcm) / max(1, audio.sample_rate * audio.channels * audio.sample_width)
    return ProbeResult(elapsed, f"{seconds:.2f} s of audio")


async def round_trip(
    magpie: MagpieClient,
    stt: OpenAITranscriptionClient,
    *,
    voice: str,
    language: str = "en",
    phrase: str = PROBE_PHRASE,
) -> RoundTripResult:
    """Speak ``phrase`` with Magpie, transcribe it, and compare the words."""
    start = time.monotonic()
    wav = await magpie.synthesize(phrase, voice=voice)
    audio = read_wav(wav)
    heard = (await stt.transcribe(wav, language=language)).text
    elapsed = time.monotonic() - start
    seconds = len(audio.pcm) / max(1, audio.sample_rate * audio.channels * audio.sample_width)
    return RoundTripResult(
        latency_s=elapsed,
        real_time_factor=elapsed / seconds if seconds else float("inf"),
        heard=heard,
        word_accuracy=word_accuracy(phrase, heard),
    )


def word_accuracy(expected: str, heard: str) -> float:
    """Share of the expected words (case and punctuation ignored) that were heard."""
    wanted = _WORD.findall(expected.lower())
    got = set(_WORD.findall(heard.lower()))
    return sum(w in got for w in wanted) / len(wanted) if wanted else 0.0
