"""OpenAI transcription formats rendered from a backend's verbose_json (pure functions)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from custom_components.spark_audio.spark.transcripts.formats import cues, render_transcription

WORDS_ONLY: dict[str, Any] = {
    "text": " Hello there. How are you? ",
    "language": "en",
    "duration": 4.0,
    "words": [
        {"start": 0.0, "end": 0.4, "text": "Hello"},
        {"start": 0.5, "end": 0.9, "text": "there."},
        {"start": 2.0, "end": 2.3, "word": "How"},
        {"start": 2.4, "end": 2.6, "word": "are"},
        {"start": 2.7, "end": 3.1, "word": "you?"},
    ],
}


def test_srt_from_words_breaks_at_sentences() -> None:
    content_type, body = render_transcription(WORDS_ONLY, "srt")
    assert content_type.startswith("text/plain")
    assert body.decode() == (
        "1\n00:00:00,000 --> 00:00:00,900\nHello there.\n\n"
        "2\n00:00:02,000 --> 00:00:03,100\nHow are you?\n"
    )


def test_vtt_prefers_backend_segments() -> None:
    data = {**WORDS_ONLY, "segments": [{"id": 0, "start": 0.0, "end": 3.5, "text": " All. "}]}
    _, body = render_transcription(data, "vtt")
    assert body.decode() == "WEBVTT\n\n00:00:00.000 --> 00:00:03.500\nAll.\n"


def test_text_only_transcript_is_one_cue() -> None:
    assert cues({"text": "just text", "duration": 2.5}) == cues(
        {"text": " just text ", "duration": 2.5, "words": []}
    )
    _, body = render_transcription({"text": "just text", "duration": 2.5}, "srt")
    assert body.decode() == "1\n00:00:00,000 --> 00:00:02,500\njust text\n"


def test_long_speech_without_punctuation_is_split() -> None:
    words = [{"start": i * 0.5, "end": i * 0.5 + 0.4, "text": f"w{i}"} for i in range(30)]
    found = cues({"text": "x", "words": words})
    assert len(found) == 3
    assert all(c.end - c.start <= 7.0 for c in found)


@pytest.mark.parametrize(
    ("granularities", "keys"),
    [((), {"segments"}), (("word",), {"words"}), (("word", "segment"), {"words", "segments"})],
)
def test_verbose_json_follows_granularities(granularities: tuple[str, ...], keys: set[str]) -> None:
    _, body = render_transcription(WORDS_ONLY, "verbose_json", granularities)
    data = json.loads(body)
    assert {"words", "segments"} & set(data) == keys
    assert data["text"] == "Hello there. How are you?"
    if "words" in keys:
        assert data["words"][2] == {"word": "How", "start": 2.0, "end": 2.3}


def test_json_and_text() -> None:
    assert json.loads(render_transcription(WORDS_ONLY, "json")[1]) == {
        "text": "Hello there. How are you?"
    }
    assert render_transcription(WORDS_ONLY, "text")[1] == b"Hello there. How are you?\n"


@pytest.mark.parametrize(
    "data", [{"words": []}, {"text": 5}, {"text": "x", "words": [{"start": "a", "end": 1}]}]
)
def test_not_a_transcription(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        render_transcription(data, "srt")
