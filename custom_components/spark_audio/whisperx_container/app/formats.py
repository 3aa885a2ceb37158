"""OpenAI-style transcription answers: json, text, verbose_json, srt, vtt."""

from __future__ import annotations

from typing import Any

from .captions import Cue, srt, vtt
from .engine import Segment, Transcript

RESPONSE_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
CONTENT_TYPES = {
    "json": "application/json",
    "verbose_json": "application/json",
    "text": "text/plain; charset=utf-8",
    "srt": "text/plain; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}


def render_srt(segments: tuple[Segment, ...]) -> str:
    """SubRip captions, one per segment."""
    return srt(_cues(segments))


def render_vtt(segments: tuple[Segment, ...]) -> str:
    """WebVTT captions, one per segment."""
    return vtt(_cues(segments))


def _cues(segments: tuple[Segment, ...]) -> list[Cue]:
    """Whisper's segment texts carry a leading space; captions don't."""
    return [Cue(s.start, s.end, s.text.strip()) for s in segments]


def verbose_json(transcript: Transcript, model: str, *, words: bool = True) -> dict[str, Any]:
    """OpenAI's verbose_json shape (plus the model name)."""
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": transcript.language,
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
        "segments": [
            {
                "id": i,
                "seek": 0,
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "text": s.text.strip(),
            }
            for i, s in enumerate(transcript.segments)
        ],
        "model": model,
    }
    if words:
        body["words"] = [
            {"word": w.text.strip(), "start": round(w.start, 3), "end": round(w.end, 3)}
            for w in transcript.words
        ]
    return body


def render(
    response_format: str, transcript: Transcript, model: str, *, words: bool = False
) -> str | dict[str, Any]:
    """The body for `response_format`: a dict for JSON formats, else text.

    ``verbose_json`` lists words only when they were asked for (OpenAI's
    ``timestamp_granularities[]=word``).
    """
    match response_format:
        case "text":
            return transcript.text
        case "srt":
            return render_srt(transcript.segments)
        case "vtt":
            return render_vtt(transcript.segments)
        case "verbose_json":
            return verbose_json(transcript, model, words=words)
        case _:
            return {"text": transcript.text}
