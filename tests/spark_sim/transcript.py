"""Fake recognition results with real-looking timing, shared by the STT sims.

The "recognized" text is whatever the test configured; what matters is that
word and segment timings fit the uploaded audio so clients' timestamp
handling, caption rendering and speaker merging get exercised. Captions and
speaker blocks come from the code the real services run (the WhisperX image's
caption writer and the shared merge), so the simulator cannot drift from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web

from custom_components.spark_audio.spark.models import DiarizationSegment, Word
from custom_components.spark_audio.spark.transcripts.speaker_merge import merge_words_with_speakers
from custom_components.spark_audio.whisperx_container.app.captions import Cue, srt, vtt

from .audio import WavInfo, parse_wav

RESPONSE_FORMATS = frozenset({"json", "text", "verbose_json", "srt", "vtt"})
TURN_SECONDS = 3.0
MAX_SORTFORMER_SPEAKERS = 4
_SENTENCE_END = re.compile(r"[.!?]$")


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


def speaker_blocks(words: list[Word], turns: list[Turn]) -> list[dict[str, object]]:
    """The words in speaker blocks ``{start_ms, end_ms, speaker, text}``: the shared merge.

    The simulated WhisperX joins words and turns with the one merge the container
    and the integration run, so its blocks cannot drift from theirs.
    """
    merged = merge_words_with_speakers(
        words, [DiarizationSegment(t.start, t.end, t.speaker) for t in turns]
    )
    return [
        {"start_ms": b.start_ms, "end_ms": b.end_ms, "speaker": b.speaker, "text": b.text}
        for b in merged
    ]


def _cues(segments: list[list[Word]]) -> list[Cue]:
    """One caption per segment, rendered by the one SubRip/WebVTT writer."""
    return [Cue(seg[0].start, seg[-1].end, " ".join(w.text for w in seg)) for seg in segments]


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
            return web.Response(text=srt(_cues(segments)), content_type="text/plain")
        case "vtt":
            return web.Response(text=vtt(_cues(segments)), content_type="text/vtt")
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
