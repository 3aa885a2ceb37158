"""The OpenAI-compatible ``/v1/audio/transcriptions`` call both STT services share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ..errors import SparkResponseError
from ..models import Transcription, Word
from .http import SparkServiceClient, read_json
from .multipart import AudioSource, FormFields, multipart_form

TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"

type Granularity = Literal["word", "segment"]


@dataclass(frozen=True, slots=True)
class TranscriptionOptions:
    """The OpenAI options a transcription request passes on to the model (None: not sent)."""

    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None


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
        *,
        ask: BackendAsk | Callable[[], BackendAsk] = TEXT_ONLY,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        filename: str = "audio.wav",
        content_type: str = "application/octet-stream",
        timeout: float | None = None,
        late_options: Callable[[], TranscriptionOptions] | None = None,
    ) -> dict[str, Any]:
        """The backend's JSON answer to ``ask``, unparsed, for any rendering.

        Every OpenAI-compatible server renders json and verbose_json; not all
        render SRT or WebVTT, so callers render those themselves. ``prompt``
        biases Whisper models (WhisperX passes it on); Parakeet ignores it.
        An ``ask`` or ``late_options`` given as a callable is asked once the
        audio has gone out, for what was not known when it started (a client's
        fields after its file): it is sent after the file part.
        """
        options = TranscriptionOptions(language=language, prompt=prompt, temperature=temperature)
        leading: list[tuple[str, str | None]] = [
            *(ask.fields() if isinstance(ask, BackendAsk) else ()),
            *self._option_fields(options),
            *self._request_fields(),
        ]
        late_ask = None if isinstance(ask, BackendAsk) else ask

        def trailing() -> FormFields:
            fields: list[tuple[str, str | None]] = [] if late_ask is None else late_ask().fields()
            if late_options is not None:
                fields += self._option_fields(late_options())
            return fields

        form = multipart_form(
            leading,
            audio=audio,
            filename=filename,
            content_type=content_type,
            trailing=None if late_ask is None and late_options is None else trailing,
        )
        async with self._request(
            "POST", TRANSCRIPTIONS_PATH, data=form, timeout=timeout
        ) as response:
            return await read_json(response)

    def _request_fields(self) -> list[tuple[str, str | None]]:
        """Fields a service adds to every transcription request (WhisperX: its priority)."""
        return []

    def _option_fields(self, options: TranscriptionOptions) -> list[tuple[str, str | None]]:
        language, prompt, temperature = options.language, options.prompt, options.temperature
        if language is not None and not language.strip():
            raise ValueError("language must be a language code or None, not empty")
        return [
            ("language", language),
            ("prompt", (prompt or None) if self.accepts_prompt else None),
            ("temperature", None if temperature is None else repr(temperature)),
        ]

    async def transcribe(
        self,
        audio: AudioSource,
        *,
        ask: BackendAsk = TEXT_ONLY,
        language: str | None = None,
        prompt: str | None = None,
        filename: str = "audio.wav",
        content_type: str = "audio/wav",
        timeout: float | None = None,
    ) -> Transcription:
        """Transcribe ``audio`` (streamed as it arrives); timings only as ``ask`` says.

        The text alone by default: language, duration and words come back only
        with ``verbose_json`` (words with its ``word`` level). ``language=None``
        lets the model detect it; an empty string is refused here because the
        backends reject it with a confusing error. ``prompt`` biases recognition
        toward its words; dropped where ``accepts_prompt`` is false.
        """
        data = await self.transcribe_raw(
            audio,
            ask=ask,
            language=language,
            prompt=prompt,
            filename=filename,
            content_type=content_type,
            timeout=timeout,
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
