"""Validation of the simulated WhisperX's own knobs (no sim imports: faults.py uses it)."""

from __future__ import annotations

import math

# What the simulated WhisperX can report running on (the ``device`` knob).
DEVICES = ("cuda", "cpu", "cuda_missing")


def embedding_list(key: str, value: object) -> list[float]:
    """Validate a control vector: a non-empty list of finite numbers, not all zero."""
    if not isinstance(value, list) or not value:
        raise TypeError(f"{key} must be a non-empty list of numbers")
    vector: list[float] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise TypeError(f"{key} must be a non-empty list of finite numbers")
        vector.append(float(item))
    if not any(vector):
        raise ValueError(f"{key} must not be all zeros")
    return vector


def parse_voice_knob(key: str, value: object) -> object:
    """Validate `diarizer`, `clip_embedding` (list or null), `speaker_embeddings`, `device`."""
    if key == "device":
        if value not in DEVICES:
            raise ValueError(f"device must be one of {list(DEVICES)}")
        return value
    if key == "diarizer":
        if not isinstance(value, bool):
            raise TypeError("diarizer must be a boolean")
        return value
    if key == "clip_embedding":
        return None if value is None else embedding_list(key, value)
    if not isinstance(value, dict):
        raise TypeError("speaker_embeddings must map speaker labels to lists of numbers")
    return {str(label): embedding_list(f"{key}[{label}]", v) for label, v in value.items()}
