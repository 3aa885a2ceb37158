"""The OpenAI-compatible ``/v1/audio/transcriptions`` call both STT services share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Literal

from ..errors import SparkResponseError
from ..models import Transcription, Word
from .http import SparkServiceClient, read_json
from .multipart import AudioSource, FormFields, multipart_form

TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"

type Granularity = Literal["word", "segment"]


@dataclass(frozen=True, slots=True)
class BackendAsk:
    """What a caller asks the backend to return, and no more: every extra costs GPU time.

    ``json`` is the text alone; ``verbose_json`` adds language, duration and the
    timing levels in ``granularities``. On WhisperX a ``word`` level is a
    wav2vec2 alignment (and, the first time in a language, a download of its
    aligner), so only callers that use words ask for them.
    """

    response_format: Literal["json", "verbose_json"] = "json"
    granularities: tuple[Granularity, ...] = ()

    def fields(self) -> list[tuple[str, str | None]]:
        """The form fields that say it."""
        return [
            ("response_format", self.response_format),
            *(("timestamp_granularities[]", level) for level in self.granularities),
        ]


TEXT_ONLY = BackendAsk()
"""Text alone: Assist's voice commands and the health probes."""
SEGMENT_TIMING = BackendAsk("verbose_json", ("segment",))
"""Language, duration and segment timing: captions, the transcribe action's summary."""
WORD_TIMING = BackendAsk("verbose_json", ("word",))
"""Word timing: what a merge with diarization turns needs."""


def language_code(language: str | None) -> str | None:
    """The language to send, stripped; None lets the model detect it.

    An empty one is refused: the backends reject it with a confusing error.
    The one place this rule lives (the gateway and the action answer its
    ``ValueError`` in their own words).
    """
    if language is None:
        return None
    if not language.strip():
        raise ValueError("language must not be empty")
    return language.strip()


@dataclass(frozen=True, slots=True)
class TranscriptionOptions:
    """What one transcription call asks the model (None: not sent), checked when made.

    ``ask`` is the shape of the answer; ``prompt`` biases recognition toward
    its words and is sent only where the model takes one (``fields``).
    """

    ask: BackendAsk = TEXT_ONLY
    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None

    def __post_init__(self) -> None:
        """Refuse an empty language before anything is sent."""
        object.__setattr__(self, "language", language_code(self.language))

    def fields(self, *, accepts_prompt: bool) -> list[tuple[str, str | None]]:
        """The form fields that say it to a model that does (or does not) take a prompt."""
        return [
            *self.ask.fields(),
            ("language", self.language),
            ("prompt", (self.prompt or None) if accepts_prompt else None),
            ("temperature", None if self.temperature is None else repr(self.temperature)),
        ]


def ask_for_rendering(response_format: str, granularities: Sequence[str] = ()) -> BackendAsk:
    """What the backend must return for the gateway to render OpenAI's ``response_format``.

    ``json`` and ``text`` are the text alone; ``srt`` and ``vtt`` are cut from
    segments; ``verbose_json`` carries the levels the client asked for
    (OpenAI's default: segment).
    """
    if response_format in ("srt", "vtt"):
        return SEGMENT_TIMING
    if response_format != "verbose_json":
        return TEXT_ONLY
    asked = {level for level in granularities if level in ("word", "segment")} or {"segment"}
    levels: tuple[Granularity, ...] = tuple(
        level for level in ("word", "segment") if level in asked
    )
    return BackendAsk("verbose_json", levels)


class OpenAITranscriptionClient(SparkServiceClient):
    """A service that speaks OpenAI's transcription API (Parakeet, WhisperX)."""

    accepts_prompt: ClassVar[bool] = True
    """Whether the model uses OpenAI's ``prompt`` (vocabulary hints); if not it is not sent."""

    async def transcribe_raw(
        self,
        audio: AudioSource,
        options: TranscriptionOptions | Callable[[], TranscriptionOptions] = TranscriptionOptions(),
        *,
        filename: str = "audio.wav",
        content_type: str = "application/octet-stream",
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """The backend's JSON answer to ``options``, unparsed, for any rendering.

        Every OpenAI-compatible server renders json and verbose_json; not all
        render SRT or WebVTT, so callers render those themselves. ``options``
        given as a callable are asked once the audio has gone out, for what
        was not known when it started (a client's fields after its file): they
        are sent after the file part.
        """
        if isinstance(options, TranscriptionOptions):
            leading: FormFields = [
                *options.fields(accepts_prompt=self.accepts_prompt),
                *self._request_fields(),
            ]
            trailing: Callable[[], FormFields] | None = None
        else:
            leading, trailing = self._request_fields(), partial(self._fields_of, options)
        form = multipart_form(
            leading, audio=audio, filename=filename, content_type=content_type, trailing=trailing
        )
        async with self._request(
            "POST", TRANSCRIPTIONS_PATH, data=form, timeout=timeout
        ) as response:
            return await read_json(response)

    def _fields_of(self, late: Callable[[], TranscriptionOptions]) -> FormFields:
        return late().fields(accepts_prompt=self.accepts_prompt)

    def _request_fields(self) -> list[tuple[str, str | None]]:
        """Fields a service adds to every transcription request (WhisperX: its priority)."""
        return []

    async def transcribe(
        self,
        audio: AudioSource,
        options: TranscriptionOptions = TranscriptionOptions(),
        *,
        filename: str = "audio.wav",
        content_type: str = "audio/wav",
        timeout: float | None = None,
    ) -> Transcription:
        """Transcribe ``audio`` (streamed as it arrives); timings only as ``options.ask`` says.

        The text alone by default: language, duration and words come back only
        with ``verbose_json`` (words with its ``word`` level).
        """
        data = await self.transcribe_raw(
            audio, options, filename=filename, content_type=content_type, timeout=timeout
        )
        return parse_transcription(data)


def parse_transcription(data: dict[str, Any]) -> Transcription:
    """Read an OpenAI ``json``/``verbose_json`` body (words keyed ``text`` or ``word``)."""
    text = data.get("text")
    if not isinstance(text, str):
        raise SparkResponseError("transcription has no text", status=200)
    try:
        words = tuple(
            Word(
                start=float(w["start"]),
                end=float(w["end"]),
                text=str(w.get("text", w.get("word", ""))),
            )
            for w in data.get("words") or ()
        )
        duration = None if data.get("duration") is None else float(data["duration"])
    except (KeyError, TypeError, ValueError) as err:
        raise SparkResponseError(f"malformed transcription words: {err}", status=200) from err
    model = data.get("model")
    language = data.get("language")
    return Transcription(
        text=text.strip(),
        language=language if isinstance(language, str) else None,
        duration=duration,
        model=model if isinstance(model, str) else None,
        words=words,
    )


def join_transcriptions(
    parts: Sequence[Transcription], offsets: Sequence[float], duration: float | None
) -> Transcription:
    """One transcription of consecutive, non-overlapping pieces of a recording.

    Texts are joined in order; word times move by each piece's ``offset`` (its
    start in the recording); the language is the one most pieces heard (the
    earliest on a tie), since one piece of silence or music may be misjudged.
    """
    languages = Counter(part.language for part in parts if part.language)
    return Transcription(
        text=" ".join(part.text for part in parts if part.text),
        language=languages.most_common(1)[0][0] if languages else None,
        duration=duration,
        model=next((part.model for part in parts if part.model), None),
        words=tuple(
            Word(word.start + offset, word.end + offset, word.text)
            for part, offset in zip(parts, offsets, strict=True)
            for word in part.words
        ),
    )
