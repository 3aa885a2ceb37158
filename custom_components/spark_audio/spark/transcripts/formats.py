"""Render transcripts as JSON, text, SRT or WebVTT (pure).

Speaker-labelled ones in the predecessor's shapes, plain ones in OpenAI's. Both
kinds of captions go through the one SubRip and WebVTT writer and clock, which
live in the WhisperX image's build context (``whisperx_container/app/captions.py``)
so the container writes the same captions; speaker captions are plain cues
whose text carries the speaker.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ...whisperx_container.app.captions import Cue, srt, vtt
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
    return srt(Cue(*_span(s), f"[{s.speaker}] {s.text}") for s in segments)


def speaker_vtt(segments: Sequence[SpeakerSegment]) -> str:
    """WebVTT captions with voice spans (``<v Speaker_N>``) players can style."""
    return vtt(Cue(*_span(s), f"<v {s.speaker}>{s.text}") for s in segments)


def _span(segment: SpeakerSegment) -> tuple[float, float]:
    """A block's milliseconds as the caption clock's seconds (it rounds back exactly)."""
    return segment.start_ms / 1000, segment.end_ms / 1000


# --- Plain transcriptions (``/audio/transcriptions``) rendered from verbose_json ---

TRANSCRIPTION_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
_CUE_MAX_WORDS = 12
_CUE_MAX_S = 7.0
_CUE_GAP_S = 1.5
_SENTENCE_ENDS = (".", "!", "?", "\u3002", "\uff1f", "\uff01")  # and CJK ones


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
            return "text/plain; charset=utf-8", srt(cues(data)).encode()
        case "vtt":
            return "text/vtt; charset=utf-8", vtt(cues(data)).encode()
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


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()
