"""The tiny Whisper decodes the same on any CPU, under the beam search the engine really uses.

Its weights are random except for the steering (see tiny_models.py), so nothing but the steering
decides what it "hears". If a steered step got only the largest logit but not nearly all of the
probability, beam search with length normalisation could prefer a long run of improbable fillers
over end-of-text, and which one wins would depend on a CPU's rounding: the lane would pass on one
machine and fail on another. These tests fail with a clear message when the steering is that weak.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from .tiny_models import PROMPT_LENGTH, SPOKEN, steered_tokens

FIRM = 0.99  # the least probability each steered step must get
PROMPT = ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]


def vocabulary(model_dir: Path) -> dict[str, int]:
    """Token ids by token string, as the converted model numbers them."""
    tokens = json.loads((model_dir / "vocabulary.json").read_text(encoding="utf-8"))
    return {token: i for i, token in enumerate(tokens)}


def features(kind: str) -> np.ndarray:
    """Mel features: silence, or noise (what the tiny model hears must not depend on it)."""
    if kind == "zeros":
        return np.zeros((1, 80, 3000), dtype=np.float32)
    return np.random.default_rng(7).standard_normal((1, 80, 3000)).astype(np.float32)


@pytest.fixture(scope="module", params=["int8", "float32"])
def whisper(request: pytest.FixtureRequest, models: Path) -> object:
    """The converted tiny model as the engine loads it (int8 on CPU), and in float32."""
    import ctranslate2

    return ctranslate2.models.Whisper(
        str(models / "whisper"), device="cpu", compute_type=request.param
    )


def test_the_prompt_matches_the_model() -> None:
    assert len(PROMPT) == PROMPT_LENGTH


@pytest.mark.parametrize("kind", ["zeros", "noise"])
def test_every_steered_step_gets_nearly_all_the_probability(
    whisper: object, models: Path, kind: str
) -> None:
    import ctranslate2

    ids = vocabulary(models / "whisper")
    expected = steered_tokens(ids)[:-1]  # the words, then end-of-text
    result = whisper.generate(  # type: ignore[attr-defined]
        ctranslate2.StorageView.from_array(features(kind)),
        [PROMPT],
        beam_size=1,
        return_logits_vocab=True,
    )[0]
    steps = result.logits[0]
    assert len(steps) == len(expected), f"decoded {result.sequences[0]}, want {SPOKEN.split()}"
    for step, (logits, token) in enumerate(zip(steps, expected, strict=True)):
        values = np.asarray(logits, dtype=np.float64).ravel()
        probabilities = np.exp(values - values.max())
        probabilities /= probabilities.sum()
        assert probabilities[token] > FIRM, (
            f"step {step}: the steered token {token} gets p={probabilities[token]:.4f} "
            f"(< {FIRM}); the tiny Whisper is steered too weakly, so beam search may run on "
            "past end-of-text on some CPUs: raise the gain in tiny_models.py"
        )


@pytest.mark.parametrize("kind", ["zeros", "noise"])
def test_beam_five_decodes_what_greedy_decodes(whisper: object, kind: str) -> None:
    import ctranslate2

    audio = ctranslate2.StorageView.from_array(features(kind))
    greedy = whisper.generate(audio, [PROMPT], beam_size=1)[0]  # type: ignore[attr-defined]
    beam = whisper.generate(audio, [PROMPT], beam_size=5)[0]  # type: ignore[attr-defined]
    assert greedy.sequences[0] == ["Ġ" + word for word in SPOKEN.split()]
    assert beam.sequences[0] == greedy.sequences[0], (
        "beam search (the engine's beam_size=5) decodes something else than greedy search: "
        "the tiny Whisper's steered steps are not firm enough"
    )


def test_the_language_is_detected_firmly(whisper: object) -> None:
    import ctranslate2

    detected = whisper.detect_language(  # type: ignore[attr-defined]
        ctranslate2.StorageView.from_array(features("noise"))
    )[0]
    language, probability = detected[0]
    assert language == "<|en|>"
    assert probability > FIRM
