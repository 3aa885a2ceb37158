"""Fake recognition results with real-looking timing, shared by the STT sims.

The "recognized" text is whatever the test configured; what matters is that
word and segment timings fit the uploaded audio so clients' timestamp
handling, caption rendering and speaker merging get exercised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web

from .audio import WavInfo, parse_wav

RESPONSE_FORMATS = frozenset({"json", "text", "verbose_json", "srt", "vtt"})
TURN_SECONDS = 3.0
MAX_SORTFORMER_SPEAKERS = 4
_SENTENCE_END = re.compile(r"[.!?]$")


@dataclass(frozen=True, slots=True)
class Word:
    """One recognized word with its time span in seconds."""

    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class Turn:
    """One diarization turn: a speaker talking from start to end (s)."""

    start: float
    end: float
    speaker: str


def decode_upload(data: bytes) -> WavInfo | web.Response:
    """Decode an uploaded WAV, or the 400 answer the real services give."""
    if not data:
        return web.json_response({"detail": "Uploaded file is empty"}, status=400)
    try:
        info = parse_wav(data)
    except ValueError as err:
        return web.json_response({"detail": f"Could not decode audio file: {err}"}, status=400)
    if not info.pcm:
        return web.json_response({"detail": "Audio file contains no samples"}, status=400)
    return info


def spread_words(text: str, duration: float) -> list[Word]:
    """Spread the words of `text` evenly over `duration` seconds."""
    tokens = text.split()
    if not tokens or duration <= 0:
        return []
    span = duration / len(tokens)
    return [
        Word(round(i * span, 3), round(i * span + span * 0.9, 3), token)
        for i, token in enumerate(tokens)
    ]


def group_segments(words: list[Word]) -> list[list[Word]]:
    """Group words into sentence-like segments (max 12 words each)."""
    segments: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        current.append(word)
        if _SENTENCE_END.search(word.text) or len(current) >= 12:
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    return segments


def speaker_turns(duration: float, speakers: int) -> list[Turn]:
    """Speakers taking turns every ~3 s, cycling through `speakers` labels."""
    turns: list[Turn] = []
    start = 0.0
    index = 0
    while start < duration:
        end = min(duration, start + TURN_SECONDS)
        turns.append(Turn(round(start, 3), round(end, 3), f"Speaker_{index % max(1, speakers)}"))
        start = end
        index += 1
    return turns


def speaker_at(word: Word, turns: list[Turn]) -> str:
    """The speaker whose turn contains the word's midpoint."""
    middle = (word.start + word.end) / 2
    for turn in turns:
        if turn.start <= middle <= turn.end:
            return turn.speaker
    return turns[-1].speaker if turns else "Speaker_0"


def speaker_blocks(words: list[Word], turns: list[Turn]) -> list[dict[str, object]]:
    """Consecutive same-speaker words as {start_ms, end_ms, speaker, text}."""
    blocks: list[dict[str, object]] = []
    current: list[Word] = []
    current_speaker = ""
    for word in words:
        speaker = speaker_at(word, turns)
        if current and speaker != current_speaker:
            blocks.append(_block(current, current_speaker))
            current = []
        current.append(word)
        current_speaker = speaker
    if current:
        blocks.append(_block(current, current_speaker))
    return blocks


def _block(words: list[Word], speaker: str) -> dict[str, object]:
    """One speaker block in the predecessor's millisecond shape."""
    return {
        "start_ms": int(words[0].start * 1000),
        "end_ms": int(words[-1].end * 1000),
        "speaker": speaker,
        "text": " ".join(w.text for w in words),
    }


def _timestamp(seconds: float, separator: str) -> str:
    """HH:MM:SS<sep>mmm, the caption formats' clock."""
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def render_srt(segments: list[list[Word]]) -> str:
    """SubRip captions for the segments."""
    blocks = [
        f"{i}\n{_timestamp(seg[0].start, ',')} --> {_timestamp(seg[-1].end, ',')}\n"
        + " ".join(w.text for w in seg)
        + "\n"
        for i, seg in enumerate(segments, start=1)
    ]
    return "\n".join(blocks)


def render_vtt(segments: list[list[Word]]) -> str:
    """WebVTT captions for the segments."""
    blocks = [
        f"{_timestamp(seg[0].start, '.')} --> {_timestamp(seg[-1].end, '.')}\n"
        + " ".join(w.text for w in seg)
        + "\n"
        for seg in segments
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def transcription_response(
    response_format: str,
    text: str,
    duration: float,
    language: str,
    model: str,
    *,
    with_words: bool = True,
) -> web.Response:
    """The OpenAI-style transcription answer in the requested format.

    ``with_words=False``: verbose_json without ``words`` (our WhisperX container
    aligns, and lists words, only when ``timestamp_granularities[]=word`` is asked).
    """
    words = spread_words(text, duration)
    segments = group_segments(words)
    match response_format:
        case "text":
            return web.Response(text=text, content_type="text/plain")
        case "srt":
            return web.Response(text=render_srt(segments), content_type="text/plain")
        case "vtt":
            return web.Response(text=render_vtt(segments), content_type="text/vtt")
        case "verbose_json":
            body: dict[str, object] = {
                "task": "transcribe",
                "language": language,
                "duration": round(duration, 3),
                "text": text,
                "segments": [
                    {
                        "id": i,
                        "start": seg[0].start,
                        "end": seg[-1].end,
                        "text": " ".join(w.text for w in seg),
                    }
                    for i, seg in enumerate(segments)
                ],
                "model": model,
            }
            if with_words:
                body["words"] = [{"start": w.start, "end": w.end, "text": w.text} for w in words]
            return web.json_response(body)
        case _:
            return web.json_response({"text": text})
