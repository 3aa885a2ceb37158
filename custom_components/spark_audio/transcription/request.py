"""The typed transcription request: parsed once at the edge, handed on as a value.

The gateway builds it from a form, the action from its validated data; the
core, the clients and the renderers read it and never parse anything again.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data import ServiceSlot
from ..spark.clients.transcription import (
    OpenAITranscriptionClient,
    TranscriptionOptions,
    ask_for_rendering,
    language_code,
)
from .errors import invalid_input

GRANULARITIES = ("word", "segment")


@dataclass(frozen=True, slots=True)
class SpeakerCounts:
    """How many speakers the caller expects (None: the diarizer decides)."""

    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None

    def __post_init__(self) -> None:
        """A range that holds no count is refused, naming its lower end."""
        low, high = self.min_speakers, self.max_speakers
        if low is not None and high is not None and low > high:
            raise invalid_input("min_speakers must not exceed max_speakers", param="min_speakers")


@dataclass(frozen=True, slots=True)
class TranscriptionRequest:
    """One transcription: the service, what the model is asked, and the answer's shape.

    ``model`` is the service of a plain transcription (None for a speaker-labelled
    one, which picks its own); ``speakers`` set means a speaker-labelled
    transcript. ``language`` is checked (never empty) when the request is made.
    """

    model: ServiceSlot[OpenAITranscriptionClient] | None = None
    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    response_format: str = "json"
    granularities: tuple[str, ...] = ()
    speakers: SpeakerCounts | None = None

    def __post_init__(self) -> None:
        """Refuse what no backend takes, naming the field."""
        try:
            object.__setattr__(self, "language", language_code(self.language))
        except ValueError as err:
            raise invalid_input(str(err), param="language") from err
        if bad := [level for level in self.granularities if level not in GRANULARITIES]:
            raise invalid_input(
                f"timestamp_granularities[] values must be word or segment, not {bad[0]!r}",
                param="timestamp_granularities[]",
            )

    @property
    def backend(self) -> TranscriptionOptions:
        """What the model is asked for this answer, and no more."""
        return TranscriptionOptions(
            ask_for_rendering(self.response_format, self.granularities),
            self.language,
            self.prompt,
            self.temperature,
        )
