"""OpenAI-style transcription answers: json, text, verbose_json, srt, vtt."""

from __future__ import annotations

from typing import Any

from .engine import Segment, Transcript

RESPONSE_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
CONTENT_TYPES = {
    "json": "application/json",
    "verbose_json": "application/json",
    "text": "text/plain; charset=utf-8",
    "srt": "text/plain; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def render_srt(segments: tuple[Segment, ...]) -> str:
    """SubRip captions."""
    return "\n".join(
        f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text.strip()}\n"
        for i, s in enumerate(segments, start=1)
    )


def render_vtt(segments: tuple[Segment, ...]) -> str:
    """WebVTT captions."""
    body = "\n".join(
        f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text.strip()}\n" for s in segments
    )
    return "WEBVTT\n\n" + body


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
