"""Validators for /_sim/control values: each raises ValueError or TypeError (a 400)."""

from __future__ import annotations


def number(key: str, value: object, minimum: float = 0.0) -> float:
    """Validate a control value as a non-negative number (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ValueError(f"{key} must be a number >= {minimum}")
    return float(value)


def typed(key: str, value: object, kind: type) -> object:
    """Validate a control value's type (``transcript`` a string, flags true/false)."""
    if not isinstance(value, kind):
        raise TypeError(f"{key} must be a {'string' if kind is str else 'boolean'}")
    return value


def integer(key: str, value: object, low: int, high: int) -> int:
    """Validate a control value as an integer in ``low..high`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key} must be an integer {low}..{high}")
    return value


def voice_list(value: object) -> list[str]:
    """Validate Magpie voice names: Model.LOCALE.Speaker[.Emotion]."""
    if not isinstance(value, list):
        raise TypeError("voices must be a list of strings")
    voices: list[str] = []
    for item in value:
        if not isinstance(item, str) or len(item.split(".")) < 3 or "-" not in item.split(".")[1]:
            raise TypeError(f"bad voice name {item!r}; expected Model.LOCALE.Speaker[.Emotion]")
        voices.append(item)
    return voices
