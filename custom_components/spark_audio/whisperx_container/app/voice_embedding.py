"""A clip's voice embedding from the diarization pipeline's own embedding model.

pyannote's diarizer embeds speech in 10 s chunks; a clip is embedded the same
way (windows, unit vectors averaged by length), so a long clip never meets the
model whole and the vector lives in the space the diarizer clusters in.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from typing import Any

from .engine import AudioTooShort, EngineError

WINDOW_S = 10.0


def clip_windows(samples: int, window: int, shortest: int) -> list[tuple[int, int]]:
    """``[start, end)`` sample ranges of `window`; a tail shorter than `shortest` is dropped."""
    return [
        (start, min(start + window, samples))
        for start in range(0, samples, window)
        if min(start + window, samples) - start >= shortest
    ]


def clip_embedding(model: Any, audio: Any, sample_rate: int) -> tuple[float, ...]:
    """The unit-length embedding of float32 `audio` by pyannote's embedding `model`.

    `model` is the pipeline's ``_embedding`` (``PretrainedSpeakerEmbedding``:
    ``(batch, 1, samples)`` tensor in, ``(batch, dimension)`` array out).
    """
    torch = importlib.import_module("torch")
    numpy = importlib.import_module("numpy")
    if int(model.sample_rate) != sample_rate:
        raise EngineError(f"the embedding model wants {model.sample_rate} Hz, not {sample_rate}")
    shortest = int(model.min_num_samples)
    windows = clip_windows(len(audio), int(WINDOW_S * sample_rate), shortest)
    if not windows:
        raise AudioTooShort(
            f"The clip is too short for a voice embedding ({len(audio) / sample_rate:.2f} s; "
            f"it needs at least {shortest / sample_rate:.2f} s)"
        )
    total = numpy.zeros(int(model.dimension), dtype=numpy.float64)
    for start, end in windows:
        piece = torch.from_numpy(numpy.ascontiguousarray(audio[start:end], dtype=numpy.float32))
        vector = numpy.asarray(model(piece[None, None, :]), dtype=numpy.float64)[0]
        norm = float(numpy.linalg.norm(vector))
        if math.isfinite(norm) and norm > 0:
            total += vector / norm * (end - start)
    norm = float(numpy.linalg.norm(total))
    if not math.isfinite(norm) or norm == 0:
        raise AudioTooShort("No voice could be heard in the clip")
    return tuple(float(v) for v in total / norm)


def finite_vectors(raw: Mapping[str, Any]) -> dict[str, tuple[float, ...]]:
    """Speaker -> embedding as floats, leaving out any that are empty or not finite.

    pyannote answers NaN for a speaker it found no clean frames of; a client
    could not match that, and JSON cannot carry it.
    """
    vectors: dict[str, tuple[float, ...]] = {}
    for label, values in raw.items():
        vector = tuple(float(v) for v in values)
        if vector and all(math.isfinite(v) for v in vector):
            vectors[str(label)] = vector
    return vectors
