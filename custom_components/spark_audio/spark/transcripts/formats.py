"""Render transcripts as JSON, text, SRT or WebVTT (pure).

Speaker-labelled ones in the predecessor's shapes, plain ones in OpenAI's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..models import SpeakerSegment, SpeakerTranscript

SPEAKER_FORMATS = ("json", "srt", "vtt")


def speaker_json(transcript: SpeakerTranscript) -> dict[str, Any]:
    """The predecessor's response shape, key for key."""
    return {
        "duration": transcript.duration,
        "language": transcript.language,
        "speakers_detected": list(transcript.speakers_detected),
        "segments": [_speaker_segment(s) for s in transcript.segments],
        "models": dict(transcript.models),
    }


def _speaker_segment(segment: SpeakerSegment) -> dict[str, Any]:
    """One segment; ``person`` only on a recognised speaker (the predecessor's keys otherwise)."""
    found: dict[str, Any] = {
        "start_ms": segment.start_ms,
        "end_ms": segment.end_ms,
        "speaker": segment.speaker,
        "text": segment.text,
    }
    if segment.person is not None:
        found["person"] = segment.person
    return found


def speaker_srt(segments: Sequence[SpeakerSegment]) -> str:
    """SubRip captions, each line tagged ``[Speaker_N]``."""
    blocks = [
        f"{i}\n{_stamp(s.start_ms, ',')} --> {_stamp(s.end_ms, ',')}\n[{s.speaker}] {s.text}\n"
        for i, s in enumerate(segments, start=1)
    ]
    return "\n".join(blocks)


def speaker_vtt(segments: Sequence[SpeakerSegment]) -> str:
    """WebVTT captions with voice spans (``<v Speaker_N>``) players can style."""
    cues = [
        f"{_stamp(s.start_ms, '.')} --> {_stamp(s.end_ms, '.')}\n<v {s.speaker}>{s.text}\n"
        for s in segments
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def _stamp(ms: int, separator: str) -> str:
    hours, rest = divmod(max(0, ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


# --- Plain transcriptions (``/audio/transcriptions``) rendered from verbose_json ---

TRANSCRIPTION_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
_CUE_MAX_WORDS = 12
_CUE_MAX_S = 7.0
_CUE_GAP_S = 1.5
_SENTENCE_ENDS = (".", "!", "?", "\u3002", "\uff1f", "\uff01")  # and CJK ones


@dataclass(frozen=True, slots=True)
class Cue:
    """One caption: a time span in seconds and its text."""

    start: float
    end: float
    text: str


def render_transcription(
    data: dict[str, Any], response_format: str, granularities: Sequence[str] = ()
) -> tuple[str, bytes]:
    """``(content_type, body)`` of an OpenAI transcription in ``response_format``.

    Rendered here from the backend's ``verbose_json`` so every format is right
    whatever subset a backend renders itself. Raises ValueError for a body that
    is not a transcription.
    """
    text = data.get("text")
    if not isinstance(text, str):
        raise ValueError("the transcription has no text")
    text = text.strip()
    match response_format:
        case "text":
            return "text/plain; charset=utf-8", (text + "\n").encode()
        case "srt":
            return "text/plain; charset=utf-8", _srt(cues(data)).encode()
        case "vtt":
            return "text/vtt; charset=utf-8", _vtt(cues(data)).encode()
        case "verbose_json":
            return "application/json", _dumps(_verbose(data, text, granularities))
        case _:
            return "application/json", _dumps({"text": text})


def cues(data: dict[str, Any]) -> list[Cue]:
    """Caption cues: the backend's segments, else words grouped into lines, else one cue."""
    found = [
        Cue(float(s["start"]), float(s["end"]), str(s.get("text", "")).strip())
        for s in data.get("segments") or ()
        if isinstance(s, dict) and "start" in s and "end" in s
    ]
    if found:
        return [c for c in found if c.text]
    words = _words(data)
    if not words:
        text = str(data.get("text", "")).strip()
        return [Cue(0.0, float(data.get("duration") or 0.0), text)] if text else []
    grouped: list[Cue] = []
    line: list[dict[str, Any]] = []
    for word in words:
        if line and (
            len(line) >= _CUE_MAX_WORDS
            or word["end"] - line[0]["start"] > _CUE_MAX_S
            or word["start"] - line[-1]["end"] > _CUE_GAP_S
        ):
            grouped.append(_cue(line))
            line = []
        line.append(word)
        if word["word"].endswith(_SENTENCE_ENDS):
            grouped.append(_cue(line))
            line = []
    if line:
        grouped.append(_cue(line))
    return grouped


def _words(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Words in OpenAI's shape (``word``, ``start``, ``end``) whether keyed text or word."""
    return [
        {
            "word": str(w.get("word", w.get("text", ""))).strip(),
            "start": float(w["start"]),
            "end": float(w["end"]),
        }
        for w in data.get("words") or ()
        if isinstance(w, dict) and "start" in w and "end" in w
    ]


def _cue(line: list[dict[str, Any]]) -> Cue:
    return Cue(line[0]["start"], line[-1]["end"], " ".join(w["word"] for w in line))


def _verbose(data: dict[str, Any], text: str, granularities: Sequence[str]) -> dict[str, Any]:
    """OpenAI's verbose_json: segments unless only words were asked for, words when asked."""
    asked = set(granularities) or {"segment"}
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": data.get("language"),
        "duration": data.get("duration"),
        "text": text,
    }
    if "segment" in asked:
        body["segments"] = [s for s in data.get("segments") or () if isinstance(s, dict)] or [
            {"id": i, "start": c.start, "end": c.end, "text": c.text}
            for i, c in enumerate(cues(data))
        ]
    if "word" in asked:
        body["words"] = _words(data)
    return body


def _srt(found: Sequence[Cue]) -> str:
    return "\n".join(
        f"{i}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{c.text}\n"
        for i, c in enumerate(found, start=1)
    )


def _vtt(found: Sequence[Cue]) -> str:
    body = "\n".join(f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{c.text}\n" for c in found)
    return "WEBVTT\n\n" + body


def _clock(seconds: float, separator: str) -> str:
    return _stamp(round(seconds * 1000), separator)


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()
