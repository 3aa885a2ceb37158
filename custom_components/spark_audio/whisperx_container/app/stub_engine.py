"""A stand-in engine for tests: no ML, real WAV durations, steerable by env.

``WHISPERX_ENGINE=stub`` selects it. It "recognises" a fixed text spread over
the real duration of the uploaded WAV and alternates speakers every few
seconds. Env knobs (read when the engine is built):

- ``WHISPERX_STUB_TEXT``: the text it "hears".
- ``WHISPERX_STUB_DELAY_S``: seconds each transcription/diarization takes.
- ``WHISPERX_STUB_CUDA_FAULT=1``: every job raises a CUDA fault.
- ``WHISPERX_STUB_GPU_OK=0``: the GPU self-test (run by /health) fails.
- ``WHISPERX_STUB_SPEAKERS``: speakers it hears when not told (default 2).
- ``WHISPERX_STUB_CUDA=0``: no GPU is visible; with ``WHISPERX_DEVICE=cuda`` (the
  default) it loads nothing and reports why, as the real engine does.

It reports the real engine's phases (``progress.report``), transcription in
ten steps of "audio processed". A background job's ten steps are its units,
like the real engine's batches of VAD chunks: it hands the GPU to waiting
voice commands between them (`gate.between_units`). Tests steer it with
`unit_hold` (each unit waits for it) and read the order of work in `jobs`.

Diarization is on only with ``HF_TOKEN`` set, like the real engine. Voice
embeddings are deterministic pseudo-random unit vectors (EMBEDDING_DIM, like
pyannote community-1's) derived from the file's bytes (and the speaker label):
the same audio, the same voice; other audio, another voice.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import re
import threading
import time
import wave
from collections.abc import Mapping

from .decoder import DEFAULT_MAX_AUDIO_S
from .engine import (
    CUDA_MISSING,
    NO_TOKEN_REASON,
    AudioDecodeError,
    AudioTooLong,
    AudioTooShort,
    ClipEmbedding,
    CudaFault,
    Diarization,
    DiarizationUnavailable,
    Segment,
    Transcript,
    Turn,
    Word,
)
from .gate import between_units, is_background
from .progress import report

DEFAULT_TEXT = (
    "Good morning everyone. Thanks for joining the call today. "
    "Let us start with the weather report. It will be sunny this afternoon."
)
TURN_SECONDS = 3.0
PROGRESS_STEPS = 10
EMBEDDING_DIM = 256
SHORTEST_CLIP_S = 0.5
_SENTENCE_END = re.compile(r"[.!?]$")


def wav_duration(path: str) -> float:
    """The WAV's duration in seconds; AudioDecodeError when it is not a WAV."""
    try:
        with wave.open(path, "rb") as wav:
            rate, frame = wav.getframerate(), wav.getsampwidth() * wav.getnchannels()
            # A streamed WAV's header claims the largest size: count what arrived.
            frames = min(wav.getnframes(), os.path.getsize(path) // max(frame, 1))
    except (wave.Error, EOFError) as err:
        raise AudioDecodeError(f"Could not decode audio file: {err}") from err
    if rate <= 0 or frames <= 0:
        raise AudioDecodeError("Audio file contains no samples")
    return frames / rate


class StubEngine:
    """Fake recognition with real-looking timing."""

    def __init__(
        self,
        model: str = "medium",
        *,
        hf_token: str | None = None,
        text: str = DEFAULT_TEXT,
        delay_s: float = 0.0,
        cuda_fault: bool = False,
        gpu_ok: bool = True,
        speakers: int = 2,
        hold: threading.Event | None = None,
        max_audio_s: float = DEFAULT_MAX_AUDIO_S,
        device: str = "cuda",
        cuda: bool = True,
    ) -> None:
        self._model = model
        self._device = device
        self.cuda = cuda
        self._hf_token = hf_token
        self.text = text
        self.delay_s = delay_s
        self.cuda_fault = cuda_fault
        self.gpu_ok = gpu_ok
        self.speakers = speakers
        self.hold = hold
        self.max_audio_s = max_audio_s
        self.started = threading.Event()
        self.unit_started = threading.Event()
        self.unit_hold: threading.Event | None = None
        self.self_tests = 0
        self.self_test_hold: threading.Event | None = None
        self.loaded = False
        self.released = 0
        self.jobs: list[str] = []
        self.last_options: dict[str, object] = {}

    @classmethod
    def from_env(
        cls,
        model: str,
        hf_token: str | None,
        env: Mapping[str, str] | None = None,
        *,
        max_audio_s: float = DEFAULT_MAX_AUDIO_S,
        device: str = "cuda",
    ) -> StubEngine:
        """Build one steered by the WHISPERX_STUB_* variables."""
        env = os.environ if env is None else env
        return cls(
            model,
            hf_token=hf_token,
            text=env.get("WHISPERX_STUB_TEXT") or DEFAULT_TEXT,
            delay_s=float(env.get("WHISPERX_STUB_DELAY_S") or 0),
            cuda_fault=env.get("WHISPERX_STUB_CUDA_FAULT", "") == "1",
            gpu_ok=env.get("WHISPERX_STUB_GPU_OK", "1") != "0",
            speakers=int(env.get("WHISPERX_STUB_SPEAKERS") or 2),
            max_audio_s=max_audio_s,
            device=device,
            cuda=env.get("WHISPERX_STUB_CUDA", "1") != "0",
        )

    def _duration(self, path: str) -> float:
        """The WAV's duration, bounded like the real engine's decoder."""
        duration = wav_duration(path)
        if duration > self.max_audio_s:
            raise AudioTooLong(
                f"The audio is longer than the {self.max_audio_s:g} s this service takes"
            )
        return duration

    @property
    def model(self) -> str:
        """The model size it pretends to run."""
        return self._model

    @property
    def device(self) -> str:
        """The device it was asked for, like the real engine."""
        return self._device

    @property
    def compute_type(self) -> str | None:
        """The real engine's default for the device, once loaded."""
        if not self.loaded:
            return None
        return "float16" if self._device == "cuda" else "int8"

    @property
    def device_error(self) -> str | None:
        """CUDA asked for while the stub "sees" no GPU."""
        if self._device == "cuda" and not self.cuda:
            return f"{CUDA_MISSING}: torch.cuda.is_available() is false (stub)"
        return None

    @property
    def whisper_loaded(self) -> bool:
        """True after load()."""
        return self.loaded

    @property
    def diarizer_loaded(self) -> bool:
        """True after load() when a token was given."""
        return self.loaded and self._hf_token is not None

    @property
    def diarizer_off_reason(self) -> str | None:
        """Why diarization is off."""
        if self.device_error is not None:
            return self.device_error
        if self._hf_token is None:
            return NO_TOKEN_REASON
        return None if self.loaded else "models not loaded yet"

    def load(self) -> None:
        """Nothing to load (and nothing at all without the GPU it was told to use)."""
        self.loaded = self.device_error is None

    def _work(self, job: str) -> None:
        self.jobs.append(job)
        self.started.set()
        if self.hold is not None:
            self.hold.wait(timeout=10)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.cuda_fault:
            raise CudaFault("CUDA error: an illegal memory access was encountered")

    def _units(self) -> None:
        """A background transcription: PROGRESS_STEPS units, the GPU offered between them."""
        for step in range(1, PROGRESS_STEPS + 1):
            if step > 1:
                between_units()
            self._work(f"transcribe unit {step}/{PROGRESS_STEPS}")
            self.unit_started.set()
            if self.unit_hold is not None:
                self.unit_hold.wait(timeout=10)
            report("transcribing", 100 * step / PROGRESS_STEPS)

    def transcribe(
        self,
        path: str,
        language: str | None,
        *,
        words: bool = True,
        prompt: str | None = None,
    ) -> Transcript:
        """Spread the fixed text over the WAV's duration."""
        report("loading_audio")
        duration = self._duration(path)
        self.last_options = {"language": language, "prompt": prompt, "words": words}
        if is_background():
            self._units()
        else:
            self._work("transcribe")
            for step in range(1, PROGRESS_STEPS + 1):  # "audio processed", like the real engine
                report("transcribing", 100 * step / PROGRESS_STEPS)
        tokens = self.text.split()
        span = duration / len(tokens)
        spread = tuple(
            Word(round(i * span, 3), round(i * span + span * 0.9, 3), token)
            for i, token in enumerate(tokens)
        )
        segments: list[Segment] = []
        current: list[Word] = []
        for word in spread:
            current.append(word)
            if _SENTENCE_END.search(word.text) or len(current) >= 12:
                segments.append(_segment(current))
                current = []
        if current:
            segments.append(_segment(current))
        if words:
            report("aligning", 100)
        return Transcript(
            language=language or "en",
            duration=duration,
            segments=tuple(segments),
            words=spread if words else (),
        )

    def diarize(
        self,
        path: str,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> list[Turn]:
        """Speakers taking turns every 3 s."""
        if not self.diarizer_loaded:
            raise DiarizationUnavailable(self.diarizer_off_reason or "diarization is off")
        duration = self._duration(path)
        report("diarizing")
        self._work("diarize")
        count = num_speakers or max(min_speakers or 1, min(max_speakers or 99, self.speakers))
        turns: list[Turn] = []
        start, index = 0.0, 0
        while start < duration:
            end = min(duration, start + TURN_SECONDS)
            turns.append(Turn(start, end, f"SPEAKER_{index % count:02d}"))
            start, index = end, index + 1
        report("diarizing", 100)
        return turns

    def diarize_with_embeddings(
        self,
        path: str,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> Diarization:
        """The turns, and a vector per speaker label derived from the file and the label."""
        turns = self.diarize(path, num_speakers, min_speakers, max_speakers)
        content = _content(path)
        labels = sorted({t.speaker for t in turns})
        return Diarization(
            tuple(turns), {label: derived_vector(content, label.encode()) for label in labels}
        )

    def embedding(self, path: str) -> ClipEmbedding:
        """A vector derived from the file; clips under SHORTEST_CLIP_S are refused."""
        if not self.diarizer_loaded:
            raise DiarizationUnavailable(self.diarizer_off_reason or "diarization is off")
        duration = self._duration(path)
        if duration < SHORTEST_CLIP_S:
            raise AudioTooShort(
                f"The clip is too short for a voice embedding ({duration:.2f} s; "
                f"it needs at least {SHORTEST_CLIP_S:.2f} s)"
            )
        self._work("embedding")
        return ClipEmbedding(derived_vector(_content(path)), duration)

    def gpu_check(self) -> bool | None:
        """What the test asked for; counted, so tests see it run beside a held job."""
        self.self_tests += 1
        if self._device != "cuda" or not self.cuda:
            return None  # no GPU to test, as the real engine says
        if self.self_test_hold is not None:
            self.self_test_hold.wait(timeout=10)
        return self.gpu_ok

    def release_memory(self) -> None:
        """Count the calls so tests can see it happen."""
        self.released += 1


def derived_vector(*parts: bytes) -> tuple[float, ...]:
    """A fixed pseudo-random unit vector per input."""
    rng = random.Random(hashlib.sha256(b"\0".join(parts)).digest())
    vector = [rng.gauss(0.0, 1.0) for _ in range(EMBEDDING_DIM)]
    norm = math.sqrt(sum(v * v for v in vector))
    return tuple(round(v / norm, 6) for v in vector)


def _content(path: str) -> bytes:
    with open(path, "rb") as audio:
        return audio.read()


def _segment(words: list[Word]) -> Segment:
    return Segment(words[0].start, words[-1].end, " ".join(w.text for w in words), tuple(words))
