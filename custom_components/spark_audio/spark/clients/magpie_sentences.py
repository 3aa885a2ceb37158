"""Cut text into sentences that each fit one TTS request."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Iterator

# A sentence ends at . ! ? (or their CJK forms) followed by whitespace, or at a newline.
_BOUNDARY = re.compile(r"(?<=[.!?…。！？])\s+|\n+")  # noqa: RUF001 (CJK marks on purpose)
_SOFT_BREAKS = (", ", "; ", ": ", " ")


def split_sentences(text: str, limit: int) -> list[str]:
    """All sentences of a complete text, each at most ``limit`` characters."""
    return [piece for sentence in _BOUNDARY.split(text) for piece in _fit(sentence, limit)]


async def stream_sentences(chunks: AsyncIterable[str], limit: int) -> AsyncIterator[str]:
    """Yield each sentence as soon as the streamed text has completed it.

    A sentence is only complete once whitespace follows its punctuation, so a
    chunk that ends in "3." waits for the next one ("3.5" is not a boundary).
    """
    buffer = ""
    async for chunk in chunks:
        buffer += chunk
        *complete, buffer = _BOUNDARY.split(buffer)
        for sentence in complete:
            for piece in _fit(sentence, limit):
                yield piece
        while len(buffer) > limit:  # a run-on sentence: ship what fits now
            head, buffer = _cut(buffer, limit)
            yield head
    for piece in _fit(buffer, limit):
        yield piece


def _fit(sentence: str, limit: int) -> Iterator[str]:
    """Split one sentence into pieces of at most ``limit``, preferring soft breaks."""
    rest = sentence.strip()
    while len(rest) > limit:
        head, rest = _cut(rest, limit)
        yield head
    if rest:
        yield rest


def _cut(text: str, limit: int) -> tuple[str, str]:
    """The longest head of ``text`` within ``limit`` that ends at a soft break."""
    window = text[: limit + 1]
    for mark in _SOFT_BREAKS:
        at = window.rfind(mark, 0, limit)
        if at > 0:
            return text[: at + len(mark)].strip(), text[at + len(mark) :].lstrip()
    return text[:limit], text[limit:].lstrip()
