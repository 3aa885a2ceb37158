"""The OpenAI-compatible ``/v1/audio/transcriptions`` call both STT services share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from .errors import SparkResponseError
from .http import SparkServiceClient, read_json
from .models import Transcription, Word
from .multipart import AudioSource, multipart_form

TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"


@dataclass(frozen=True, slots=True)
class TranscriptionOptions:
    """The OpenAI options a transcription request passes on to the model (None: not sent)."""

    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None


class OpenAITranscriptionClient(SparkServiceClient):
    """A service that speaks OpenAI's transcription API (Parakeet, WhisperX)."""

    accepts_prompt: ClassVar[bool] = True
    """Whether the model uses OpenAI's ``prompt`` (vocabulary hints); if not it is not sent."""

    async def transcribe_verbose(
        self,
        audio: AudioSource,
        *,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        filename: str = "audio.wav",
        content_type: str = "application/octet-stream",
        timeout: float | None = None,
        late_options: Callable[[], TranscriptionOptions] | None = None,
    ) -> dict[str, Any]:
        """The backend's ``verbose_json`` with words and segments, for any rendering.

        Every OpenAI-compatible server renders verbose_json; not all render SRT
        or WebVTT, so callers render those themselves. ``prompt`` biases
        Whisper models (WhisperX passes it on); Parakeet ignores it.
        ``late_options`` is asked once the audio has gone out, for options that
        were not known when it started (sent after the file part).
        """
        leading = [
            ("response_format", "verbose_json"),
            ("timestamp_granularities[]", "word"),
            ("timestamp_granularities[]", "segment"),
            *self._option_fields(
                TranscriptionOptions(language=language, prompt=prompt, temperature=temperature)
            ),
        ]
        trailing = None if late_options is None else lambda: self._option_fields(late_options())
        form = multipart_form(
            leading, audio=audio, filename=filename, content_type=content_type, trailing=trailing
        )
        async with self._request(
            "POST", TRANSCRIPTIONS_PATH, data=form, timeout=timeout
        ) as response:
            return await read_json(response)

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
        language: str | None = None,
        prompt: str | None = None,
        filename: str = "audio.wav",
        content_type: str = "audio/wav",
        timeout: float | None = None,
    ) -> Transcription:
        """Transcribe ``audio`` (streamed as it arrives) with word timestamps.

        ``language=None`` lets the model detect it; an empty string is refused
        here because the backends reject it with a confusing error. ``prompt``
        biases recognition toward its words; dropped where ``accepts_prompt`` is
        false.
        """
        if language is not None and not language.strip():
            raise ValueError("language must be a language code or None, not empty")
        fields = {
            "response_format": "verbose_json",
            "timestamp_granularities[]": "word",
            "language": language,
            "prompt": (prompt or None) if self.accepts_prompt else None,
        }
        data = await self._post_form(
            TRANSCRIPTIONS_PATH,
            fields,
            audio=audio,
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
