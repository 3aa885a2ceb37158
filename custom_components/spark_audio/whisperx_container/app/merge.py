"""Words + diarization turns -> the speakers endpoint's blocks.

The merge itself is ``speaker_merge`` (shared with the integration); this module
adds what only the container does: naming pyannote's labels Speaker_0,
Speaker_1... and the endpoint's dict shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .engine import Turn, Word
from .speaker_merge import merge_speakers


def speaker_names(turns: Iterable[Turn]) -> dict[str, str]:
    """The engine's label -> Speaker_0, Speaker_1... in order of first appearance."""
    names: dict[str, str] = {}
    for turn in sorted(turns, key=lambda t: (t.start, t.end)):
        names.setdefault(turn.speaker, f"Speaker_{len(names)}")
    return names


def normalise_speakers(turns: Iterable[Turn]) -> list[Turn]:
    """Relabel speakers Speaker_0, Speaker_1... in order of first appearance."""
    ordered = sorted(turns, key=lambda t: (t.start, t.end))
    names = speaker_names(ordered)
    return [Turn(turn.start, turn.end, names[turn.speaker]) for turn in ordered]


def speaker_blocks(words: Sequence[Word], turns: Sequence[Turn]) -> list[dict[str, Any]]:
    """Consecutive same-speaker words as ``{start_ms, end_ms, speaker, text}``."""
    return merge_speakers(words, [(t.start, t.end, t.speaker) for t in turns], _block)


def _block(start_ms: int, end_ms: int, speaker: str, text: str) -> dict[str, Any]:
    return {"start_ms": start_ms, "end_ms": end_ms, "speaker": speaker, "text": text}
