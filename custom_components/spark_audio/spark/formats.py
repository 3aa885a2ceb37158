"""Render speaker-labelled transcripts as the predecessor's JSON, SRT or WebVTT (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .models import SpeakerSegment, SpeakerTranscript

SPEAKER_FORMATS = ("json", "srt", "vtt")


def speaker_json(transcript: SpeakerTranscript) -> dict[str, Any]:
    """The predecessor's response shape, key for key."""
    return {
        "duration": transcript.duration,
        "language": transcript.language,
        "speakers_detected": list(transcript.speakers_detected),
        "segments": [
            {"start_ms": s.start_ms, "end_ms": s.end_ms, "speaker": s.speaker, "text": s.text}
            for s in transcript.segments
        ],
        "models": dict(transcript.models),
    }


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
