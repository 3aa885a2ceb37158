"""Words + diarization turns -> speaker blocks (the predecessor's merge rules)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .engine import Turn, Word

SILENCE_BREAK_S = 1.5
UNKNOWN_SPEAKER = "Speaker_unknown"
_TIGHT = ".,;:!?)]}'\""


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


def speaker_for(word: Word, turns: Sequence[Turn]) -> str:
    """The turn holding the word's midpoint, else the one overlapping it most."""
    middle = (word.start + word.end) / 2
    for turn in turns:
        if turn.start <= middle <= turn.end:
            return turn.speaker
    best, best_overlap = UNKNOWN_SPEAKER, 0.0
    for turn in turns:
        overlap = min(word.end, turn.end) - max(word.start, turn.start)
        if overlap > best_overlap:
            best, best_overlap = turn.speaker, overlap
    return best


def join_words(tokens: Iterable[str]) -> str:
    """One space between words, none before punctuation."""
    out = ""
    for token in (t.strip() for t in tokens):
        if not token:
            continue
        out = token if not out else out + ("" if token[0] in _TIGHT else " ") + token
    return out


def speaker_blocks(words: Sequence[Word], turns: Sequence[Turn]) -> list[dict[str, Any]]:
    """Group consecutive same-speaker words; a gap > 1.5 s also starts a block."""
    blocks: list[dict[str, Any]] = []
    current: list[Word] = []
    current_speaker = ""
    for word in words:
        speaker = speaker_for(word, turns)
        if current and (
            speaker != current_speaker or word.start - current[-1].end > SILENCE_BREAK_S
        ):
            blocks.append(_block(current, current_speaker))
            current = []
        current.append(word)
        current_speaker = speaker
    if current:
        blocks.append(_block(current, current_speaker))
    return blocks


def _block(words: Sequence[Word], speaker: str) -> dict[str, Any]:
    return {
        "start_ms": int(words[0].start * 1000),
        "end_ms": int(words[-1].end * 1000),
        "speaker": speaker,
        "text": join_words(w.text for w in words),
    }
