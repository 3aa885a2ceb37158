"""The one seam between the HTTP app and the ML library.

Nothing here imports torch or whisperx: the app, its tests and the stub engine
run without the ML stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

MODELS: tuple[str, ...] = ("tiny", "base", "small", "medium", "large-v3")
DEFAULT_MODEL = "medium"
DIARIZATION_MODEL = "pyannote/speaker-diarization-community-1"
NO_TOKEN_REASON = "HF_TOKEN is not set (diarization needs a Hugging Face token)"  # noqa: S105
# The first words of `Engine.device_error` (clients match on them; no "CUDA error" in it:
# nothing here is a broken CUDA context that a restart would cure).
CUDA_MISSING = "CUDA is expected (WHISPERX_DEVICE=cuda) but not available"
_FAULT_MARKERS = ("CUDA", "CUBLAS", "CUDNN", "ILLEGAL MEMORY ACCESS")


class EngineError(Exception):
    """The engine could not do the job; the process is still healthy."""


class AudioDecodeError(EngineError):
    """The upload is not audio the engine can read (answered with 400)."""


class AudioTooShort(AudioDecodeError):
    """The clip is too short for the embedding model to hear a voice in (answered with 400)."""


class AudioTooLong(EngineError):
    """The decoded audio is past the service's maximum length (answered with 413)."""


class CudaFault(EngineError):
    """The GPU context is broken: only a process restart recovers it."""


class DiarizationUnavailable(EngineError):
    """Diarization is off (no HF token, or the model failed to load)."""


def is_cuda_fault(exc: BaseException) -> bool:
    """Whether `exc` means the CUDA context is wedged."""
    if isinstance(exc, CudaFault):
        return True
    if isinstance(exc, EngineError):
        return False
    message = f"{type(exc).__name__}: {exc}".upper()
    return any(marker in message for marker in _FAULT_MARKERS)


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word, times in seconds."""

    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class Segment:
    """One recognised segment (sentence-like), times in seconds."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the engine heard."""

    language: str
    duration: float
    segments: tuple[Segment, ...]
    words: tuple[Word, ...] = field(default=())

    @property
    def text(self) -> str:
        """The whole transcript as one string."""
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


@dataclass(frozen=True, slots=True)
class Turn:
    """One diarization turn, times in seconds."""

    start: float
    end: float
    speaker: str


@dataclass(frozen=True, slots=True)
class ClipEmbedding:
    """The voice embedding of one clip (the diarizer's embedding model) and the clip's length."""

    vector: tuple[float, ...]
    duration: float


@dataclass(frozen=True, slots=True)
class Diarization:
    """Who spoke when, and one voice embedding per speaker label of `turns`."""

    turns: tuple[Turn, ...]
    embeddings: dict[str, tuple[float, ...]] = field(default_factory=dict)


@runtime_checkable
class Engine(Protocol):
    """A speech engine. All methods block; the app runs them in a thread."""

    @property
    def model(self) -> str:
        """The Whisper model size (e.g. ``medium``)."""
        ...

    @property
    def device(self) -> str:
        """``cuda`` or ``cpu``: where the models run (or were asked to, see `device_error`)."""
        ...

    @property
    def compute_type(self) -> str | None:
        """CTranslate2's compute type in use (``float16``, ``int8``...); None until loaded."""
        ...

    @property
    def device_error(self) -> str | None:
        """Why the engine refuses to run: CUDA was asked for and is not there (None when fine).

        The engine then loads nothing rather than fall back to the CPU: /health
        answers 503 with this reason and every job 503.
        """
        ...

    @property
    def whisper_loaded(self) -> bool:
        """Whether transcription is ready."""
        ...

    @property
    def diarizer_loaded(self) -> bool:
        """Whether diarization is ready."""
        ...

    @property
    def diarizer_off_reason(self) -> str | None:
        """Why diarization is off, or None when it is loaded."""
        ...

    def load(self) -> None:
        """Load the models (called once at startup)."""
        ...

    def transcribe(
        self,
        path: str,
        language: str | None,
        *,
        words: bool = True,
        prompt: str | None = None,
    ) -> Transcript:
        """Transcribe the audio file at `path`; `words` asks for word timings (alignment)."""
        ...

    def diarize(
        self,
        path: str,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> list[Turn]:
        """Who spoke when in the audio file at `path`."""
        ...

    def diarize_with_embeddings(
        self,
        path: str,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> Diarization:
        """`diarize`, plus the embedding the pipeline computed for each speaker it found."""
        ...

    def embedding(self, path: str) -> ClipEmbedding:
        """The voice embedding of the whole clip at `path` (raises DiarizationUnavailable)."""
        ...

    def gpu_check(self) -> bool | None:
        """The GPU self-test: tiny torch and CTranslate2 kernels with known answers.

        Runs beside a job, never behind it (the app calls it outside the GPU
        queue, from /health). True: right answers; False: wrong ones; None: no
        GPU to test (CPU engine). Raises when the GPU fails (a CUDA fault).
        """
        ...

    def release_memory(self) -> None:
        """Give cached GPU memory back after a job."""
        ...
