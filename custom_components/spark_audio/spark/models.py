"""Typed, frozen results of the Spark services' APIs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SELF_TEST_FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    """What a service's health endpoint said, plus what it reports about itself.

    ``busy``/``queue`` and the GPU self-test are None where the service does not
    report them (only our WhisperX container does; Parakeet and Magpie do not).
    """

    ready: bool
    model: str | None = None
    version: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    busy: bool | None = None
    queue: int | None = None
    self_test: str | None = None
    self_test_error: str | None = None
    problem: str | None = None
    """Why the service cannot serve, where it says (WhisperX: CUDA expected and missing)."""

    @property
    def working(self) -> bool:
        """Whether the service says a job holds its GPU or waits for it."""
        return bool(self.busy) or bool(self.queue)

    @property
    def self_test_failed(self) -> bool:
        """Whether the service's own GPU self-test failed (its CUDA context is broken)."""
        return self.self_test == SELF_TEST_FAILED


def load_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The queue and self-test fields of a health body, typed; absent ones stay None."""
    busy, queue = data.get("busy"), data.get("queue")
    self_test, error = data.get("self_test"), data.get("self_test_error")
    return {
        "busy": busy if isinstance(busy, bool) else None,
        "queue": queue if isinstance(queue, int) and not isinstance(queue, bool) else None,
        "self_test": self_test if isinstance(self_test, str) else None,
        "self_test_error": str(error) if error else None,
    }


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word; times in seconds from the start of the audio."""

    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class Transcription:
    """An OpenAI ``verbose_json`` transcription reduced to what we use."""

    text: str
    language: str | None = None
    duration: float | None = None
    model: str | None = None
    words: tuple[Word, ...] = ()


@dataclass(frozen=True, slots=True)
class DiarizationSegment:
    """One speaker turn from Sortformer; times in seconds."""

    start_s: float
    end_s: float
    speaker: str


@dataclass(frozen=True, slots=True)
class Diarization:
    """Sortformer's answer for one file."""

    segments: tuple[DiarizationSegment, ...]
    speakers_detected: tuple[str, ...]
    duration: float | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class SpeakerSegment:
    """A block of consecutive words by one speaker; times in milliseconds."""

    start_ms: int
    end_ms: int
    speaker: str
    text: str
    person: str | None = None
    """The enrolled person's entity id when the speaker was recognised (``speaker``: the name)."""


@dataclass(frozen=True, slots=True)
class SpeakerTranscript:
    """A speaker-labelled transcript (the predecessor's response shape)."""

    duration: float
    language: str | None
    speakers_detected: tuple[str, ...]
    segments: tuple[SpeakerSegment, ...]
    models: Mapping[str, str] = field(default_factory=dict)
    speaker_embeddings: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    """One voice embedding per detected speaker, when asked for (WhisperX only)."""


@dataclass(frozen=True, slots=True)
class Voice:
    """A Magpie voice: ``Magpie-Multilingual.{LOCALE}.{Speaker}[.{Emotion}]``."""

    name: str
    language: str
    speaker: str
    emotion: str | None = None

    @classmethod
    def parse(cls, name: str) -> Voice | None:
        """Parse a voice name; None when it does not follow Magpie's scheme."""
        parts = name.split(".")
        if len(parts) < 3 or "-" not in parts[1] or not parts[2]:
            return None
        primary, _, region = parts[1].partition("-")
        emotion = ".".join(parts[3:]) or None
        return cls(
            name=name,
            language=f"{primary.lower()}-{region.upper()}",
            speaker=parts[2],
            emotion=emotion,
        )

    @property
    def base_name(self) -> str:
        """The voice without its emotion suffix."""
        return self.name if self.emotion is None else self.name.rsplit(".", 1)[0]

    @property
    def display_name(self) -> str:
        """A human label, e.g. ``Mia (Happy)``."""
        return self.speaker if self.emotion is None else f"{self.speaker} ({self.emotion})"


@dataclass(frozen=True, slots=True)
class VoiceCatalog:
    """Every voice a Magpie NIM offers, and the languages it declares."""

    languages: tuple[str, ...]
    voices: tuple[Voice, ...]

    def voices_for(self, language: str) -> tuple[Voice, ...]:
        """Voices speaking ``language`` (case-insensitive, ``en-us`` == ``en-US``)."""
        wanted = language.lower()
        return tuple(v for v in self.voices if v.language.lower() == wanted)

    def get(self, name: str) -> Voice | None:
        """The voice called ``name``, if offered."""
        return next((v for v in self.voices if v.name == name), None)


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One poll of a service, the same shape for every client: health, and Magpie's voices."""

    health: ServiceHealth
    voices: VoiceCatalog | None = None
