"""Joining the transcriptions of a recording's consecutive units."""

from __future__ import annotations

from custom_components.spark_audio.spark import Transcription
from custom_components.spark_audio.spark.clients.transcription import join_transcriptions
from custom_components.spark_audio.spark.models import Word


def test_units_join_in_order_with_word_times_moved_by_their_offsets() -> None:
    parts = [
        Transcription("good morning", "en", 600.0, "parakeet", (Word(1.0, 1.5, "good"),)),
        Transcription("", "en", 600.0, "parakeet"),  # a unit of silence adds nothing
        Transcription("bonjour", "fr", 300.0, "parakeet", (Word(2.0, 2.4, "bonjour"),)),
    ]
    joined = join_transcriptions(parts, [0.0, 600.0, 1200.0], 1500.0)
    assert joined.text == "good morning bonjour"
    assert joined.language == "en"  # what most units heard
    assert joined.duration == 1500.0
    assert joined.model == "parakeet"
    assert joined.words == (Word(1.0, 1.5, "good"), Word(1202.0, 1202.4, "bonjour"))


def test_language_tie_goes_to_the_earliest_unit() -> None:
    parts = [Transcription("hallo", "de"), Transcription("hello", "en")]
    assert join_transcriptions(parts, [0.0, 600.0], None).language == "de"
