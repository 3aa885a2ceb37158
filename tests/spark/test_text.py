"""Sentence cutting for TTS: complete texts and LLM-style streams."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from custom_components.spark_audio.spark.clients.magpie_sentences import (
    split_sentences,
    stream_sentences,
)


async def pieces(text: str, sizes: list[int]) -> AsyncIterator[str]:
    start = 0
    for size in sizes:
        yield text[start : start + size]
        start += size
    yield text[start:]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello there. How are you? Fine!", ["Hello there.", "How are you?", "Fine!"]),
        ("Pi is 3.14 today.", ["Pi is 3.14 today."]),
        ("Line one\nLine two", ["Line one", "Line two"]),
        ("   ", []),
        ("你好。 再见！", ["你好。", "再见！"]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text, 2000) == expected


def test_long_sentence_split_at_soft_breaks() -> None:
    sentence = "word, " * 500 + "end."
    parts = split_sentences(sentence, 100)
    assert all(len(p) <= 100 for p in parts)
    assert " ".join(parts).split() == sentence.split()
    assert all(p.endswith(",") for p in parts[:-1])


def test_unbreakable_text_is_hard_cut() -> None:
    parts = split_sentences("x" * 250, 100)
    assert [len(p) for p in parts] == [100, 100, 50]


async def test_stream_matches_whole_text_for_any_chunking() -> None:
    """However the text is chunked, the stream yields what the whole text splits into."""
    rng = random.Random(7)
    text = "Hello there. The value is 3.5 today! Is it? " + "long, " * 60 + "done. Bye"
    expected = split_sentences(text, 120)
    for _ in range(50):
        sizes = [rng.randint(1, 12) for _ in range(60)]
        got = [s async for s in stream_sentences(pieces(text, sizes), 120)]
        assert got == expected, sizes


async def test_stream_yields_sentence_before_text_ends() -> None:
    """The first sentence comes out as soon as whitespace closes it."""
    produced: list[str] = []

    async def text() -> AsyncIterator[str]:
        for chunk in ("First one. ", "Second"):
            produced.append(chunk)
            yield chunk
        produced.append(" part.")
        yield " part."

    stream = stream_sentences(text(), 2000)
    assert await anext(stream) == "First one."
    assert produced == ["First one. "]
    assert [s async for s in stream] == ["Second part."]
