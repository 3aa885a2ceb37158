"""What a request asks for decides whether the real whisperX aligns: counted, not timed.

The tiny models' timings say nothing about a GPU, so this counts the calls into
whisperX's alignment module instead: loading an aligner (``load_align_model``,
and the wav2vec2 weights under it) and aligning (``align``). The counters wrap
the real functions, so every request still runs the whole real stack. They sit
on ``whisperx.alignment``, where ``whisperx.load_align_model`` and
``whisperx.align`` resolve at each call, so a caller through either name is
seen; the word-timing controls below prove the counters see the engine's calls.

Each test starts with an empty aligner cache (as a container just started): the
session's app may have loaded English's aligner, or marked Dutch's as failing,
in an earlier test, and either would hide a load this test must see.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.aligners import AlignerCache

from .test_engine import HEARD, engine_of, post

# What spark/transcription.py's asks put on the wire: TEXT_ONLY (Assist, and the gateway's json
# and text), SEGMENT_TIMING (the gateway's srt, vtt and default verbose_json). The container also
# renders text, srt and vtt itself for other clients; none of those asks for words either.
NO_WORDS: dict[str, dict[str, Any]] = {
    "assist json": {"response_format": "json"},
    "text": {"response_format": "text"},
    "srt": {"response_format": "srt"},
    "vtt": {"response_format": "vtt"},
    "verbose_json": {"response_format": "verbose_json"},
    "verbose_json segment": {
        "response_format": "verbose_json",
        "timestamp_granularities[]": "segment",
    },
}
WORDS = {"response_format": "verbose_json", "timestamp_granularities[]": ["word", "segment"]}


@dataclass
class AlignmentCalls:
    """Calls into whisperX's alignment during one test."""

    loads: list[str] = field(default_factory=list)  # the language of each aligner load
    weights: int = 0  # wav2vec2 weights loaded (Hugging Face path)
    aligns: int = 0


Counter = Callable[[tuple[Any, ...], dict[str, Any]], None]


def _counting(real: Callable[..., Any], count: Counter) -> Callable[..., Any]:
    """`real`, telling `count` of each call first."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        count(args, kwargs)
        return real(*args, **kwargs)

    return wrapper


@pytest.fixture
def calls(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> AlignmentCalls:
    """Counting wrappers around the real alignment calls, and no aligner cached yet."""
    alignment = importlib.import_module("whisperx.alignment")
    seen = AlignmentCalls()

    def on_load(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        seen.loads.append(kwargs.get("language_code") or args[0])

    def on_weights(_args: tuple[Any, ...], _kwargs: dict[str, Any]) -> None:
        seen.weights += 1

    def on_align(_args: tuple[Any, ...], _kwargs: dict[str, Any]) -> None:
        seen.aligns += 1

    model_class = alignment.Wav2Vec2ForCTC
    monkeypatch.setattr(
        alignment, "load_align_model", _counting(alignment.load_align_model, on_load)
    )
    monkeypatch.setattr(alignment, "align", _counting(alignment.align, on_align))
    monkeypatch.setattr(
        model_class,
        "from_pretrained",
        _counting(model_class.from_pretrained, on_weights),  # bound to the class already
    )
    engine = engine_of(client)
    fresh = AlignerCache(engine._load_aligner, engine._has_aligner)
    monkeypatch.setattr(engine, "aligners", fresh)
    return seen


@pytest.mark.parametrize("language", [None, "en", "nl"])
@pytest.mark.parametrize("ask", list(NO_WORDS), ids=list(NO_WORDS))
def test_no_word_ask_neither_aligns_nor_loads_an_aligner(
    client: TestClient, speech: bytes, calls: AlignmentCalls, ask: str, language: str | None
) -> None:
    """Dutch's aligner is on the hub (offline here): asked for, it would be a load (a download
    on a real Spark, minutes before the first Dutch voice command answers)."""
    data = dict(NO_WORDS[ask])
    if language is not None:
        data["language"] = language
    resp = post(client, speech, **data)
    assert resp.status_code == 200, resp.text
    assert HEARD in resp.text  # the real decoder ran
    assert calls.loads == []
    assert calls.weights == 0
    assert calls.aligns == 0
    assert engine_of(client).aligners.failures == {}  # not even a failed try


def test_word_ask_loads_the_aligner_once_and_aligns_each_time(
    client: TestClient, speech: bytes, calls: AlignmentCalls
) -> None:
    """The control: the counters see the engine's alignment when words are asked."""
    for _ in range(2):
        resp = post(client, speech, language="en", **WORDS)
        assert resp.status_code == 200, resp.text
        assert [w["word"] for w in resp.json()["words"]] == HEARD.split()
    assert calls.loads == ["en"]  # loaded by the first request, cached for the second
    assert calls.weights == 1
    assert calls.aligns == 2


def test_word_ask_in_a_language_without_a_cached_aligner_tries_to_load_it(
    client: TestClient, speech: bytes, calls: AlignmentCalls
) -> None:
    """The control for Dutch: asked for words, the engine goes for the aligner (offline here, so
    the load fails and the words fall back to segment timing, without an alignment)."""
    resp = post(client, speech, language="nl", **WORDS)
    assert resp.status_code == 200, resp.text
    assert [w["word"] for w in resp.json()["words"]] == HEARD.split()
    assert calls.loads == ["nl"]
    assert calls.aligns == 0
    assert engine_of(client).aligners.failures["nl"].count == 1


def test_no_word_asks_after_words_still_do_not_align(
    client: TestClient, speech: bytes, calls: AlignmentCalls
) -> None:
    """An aligner already in memory is no reason to use it: Assist's ask stays alignment-free."""
    assert post(client, speech, language="en", **WORDS).status_code == 200
    assert calls.aligns == 1
    for ask in NO_WORDS.values():
        assert post(client, speech, language="en", **ask).status_code == 200
    assert calls.loads == ["en"]
    assert calls.aligns == 1
