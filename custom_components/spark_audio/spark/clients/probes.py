"""Deep probes: real inference on each service, because /health lies during a CUDA wedge.

A GPU busy with a long job is not a wedged one: `deep_probe` looks at health
first and never sends its inference through a queue that holds work, and it
calls a service wedged only on evidence (see `Verdict`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus
from importlib import resources

from ..errors import SparkError, SparkResponseError, SparkTimeoutError
from ..models import ServiceHealth
from ..wav import read_wav
from .http import SparkServiceClient, check_requests
from .magpie import MagpieClient
from .transcription import OpenAITranscriptionClient, TranscriptionOptions

PROBE_PHRASE = "Spark audio check, one two three."
PROBE_CLIP_NAME = "probe_clip.wav"
_WORD = re.compile(r"[\w']+")
# What a broken CUDA context says (CUDA runtime, cuBLAS, cuDNN, our container's 500).
_CUDA_FAULT = re.compile(
    r"CUDA error|CUBLAS_STATUS|CUDNN_STATUS|illegal memory access|GPU fault", re.IGNORECASE
)
# Out of memory is the job's size, not a broken context: the next job runs fine.
_OUT_OF_MEMORY = re.compile(r"out of memory", re.IGNORECASE)


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


class Verdict(StrEnum):
    """What a deep check concluded about a service."""

    OK = "ok"
    """The probe's inference worked."""
    BUSY = "busy"
    """Work runs or waits (health says so, our own requests are out, or a 429): not probed."""
    DOWN = "down"
    """Health does not answer (stopped, restarting, loading): not a wedge."""
    WEDGED = "wedged"
    """Answers health but cannot infer: failed while idle, CUDA error text, self-test failed."""


@dataclass(frozen=True, slots=True)
class DeepProbeResult:
    """A deep check's verdict, with the probe's latency (OK) or the reason (otherwise)."""

    verdict: Verdict
    latency_s: float | None = None
    reason: str | None = None


def names_cuda_fault(text: str) -> bool:
    """Whether an error message says the GPU context is broken (out of memory is not)."""
    return bool(_CUDA_FAULT.search(text)) and not _OUT_OF_MEMORY.search(text)


async def deep_probe(
    client: SparkServiceClient, probe: Callable[[], Awaitable[ProbeResult]]
) -> DeepProbeResult:
    """Health first; infer only on an idle service; wedged only on evidence.

    Busy (never probed through its queue): health reports a job running or
    waiting, or this client has requests out (for services whose health does not
    say), or the probe met a 429 or failed while health now says busy. Wedged:
    the GPU self-test failed; while busy, a 5xx since the last check named a CUDA
    fault; the probe's error names one; or the probe failed while the service was
    idle (a timeout counts only where health reports the queue: elsewhere the
    probe may have waited behind another client's job). An idle service is always
    probed: its answer beats older evidence.
    """
    seen_fault = client.take_fault()
    health = await _health(client)
    if isinstance(health, SparkError):
        return DeepProbeResult(Verdict.DOWN, reason=str(health))
    if health.self_test_failed:
        return DeepProbeResult(Verdict.WEDGED, reason=_self_test_reason(health))
    if health.working or client.work_in_flight:
        # Not probed through the queue; only a 5xx naming a CUDA fault still convicts it.
        if seen_fault is not None and names_cuda_fault(seen_fault):
            return DeepProbeResult(Verdict.WEDGED, reason=seen_fault)
        return DeepProbeResult(Verdict.BUSY, reason=_busy_reason(health, client))
    try:
        with check_requests():
            result = await probe()
    except (SparkError, ValueError) as err:
        return await _judge_failure(client, err)
    return DeepProbeResult(Verdict.OK, latency_s=result.latency_s)


async def _judge_failure(client: SparkServiceClient, err: Exception) -> DeepProbeResult:
    """The probe failed: down, busy after all, or wedged."""
    reason = str(err) or type(err).__name__
    if isinstance(err, SparkResponseError) and err.status == HTTPStatus.TOO_MANY_REQUESTS:
        return DeepProbeResult(Verdict.BUSY, reason=reason)
    client.take_fault()  # the probe's own 5xx, judged here
    health = await _health(client)
    if isinstance(health, SparkError):
        return DeepProbeResult(Verdict.DOWN, reason=f"{reason}; then health: {health}")
    if health.self_test_failed:
        return DeepProbeResult(Verdict.WEDGED, reason=_self_test_reason(health))
    if names_cuda_fault(reason):
        return DeepProbeResult(Verdict.WEDGED, reason=reason)
    if health.working or client.work_in_flight:
        return DeepProbeResult(Verdict.BUSY, reason=f"{reason} ({_busy_reason(health, client)})")
    if isinstance(err, SparkTimeoutError) and health.busy is None:
        # It does not report its queue: the probe may wait behind someone else's job.
        return DeepProbeResult(Verdict.BUSY, reason=f"{reason} (queue not reported)")
    return DeepProbeResult(Verdict.WEDGED, reason=reason)


async def _health(client: SparkServiceClient) -> ServiceHealth | SparkError:
    """Health right now (a stale poll could be minutes old); the error if it fails."""
    try:
        return (await client.fetch_status()).health
    except SparkError as err:
        return err


def _self_test_reason(health: ServiceHealth) -> str:
    return f"GPU self-test failed: {health.self_test_error or 'no detail'}"


def _busy_reason(health: ServiceHealth, client: SparkServiceClient) -> str:
    if health.working:
        return f"busy: a job is running, {health.queue or 0} waiting"
    return f"busy: {client.work_in_flight} request(s) from Home Assistant still running"


async def probe_transcription(
    client: OpenAITranscriptionClient, clip: bytes, *, language: str = "en"
) -> ProbeResult:
    """Transcribe the bundled clip; any SparkError means the service cannot infer."""
    start = time.monotonic()
    result = await client.transcribe(clip, TranscriptionOptions(language=language))
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
    with check_requests():
        wav = await magpie.synthesize(phrase, voice=voice)
        audio = read_wav(wav)
        heard = (await stt.transcribe(wav, TranscriptionOptions(language=language))).text
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
