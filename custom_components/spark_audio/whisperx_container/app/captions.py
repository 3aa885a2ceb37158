"""Caption files: the clock, SubRip and WebVTT, from cues (spans and their text).

The only implementation. The image renders ``srt``/``vtt`` answers with it
(``app/formats.py``), and the Home Assistant integration imports this very file
from the build context it ships (``spark/transcripts/formats.py``: plain and
speaker captions), so both write the same captions. Keep it standard library
only: the image has no integration, the integration has no FastAPI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cue:
    """One caption: a time span in seconds and its text."""

    start: float
    end: float
    text: str


def clock(seconds: float, separator: str) -> str:
    """``HH:MM:SS<separator>mmm``, to the nearest millisecond; before 0 reads as 0."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(cues: Iterable[Cue]) -> str:
    """SubRip: numbered cues, ``,`` before the milliseconds, a blank line between."""
    return "\n".join(
        f"{i}\n{clock(c.start, ',')} --> {clock(c.end, ',')}\n{c.text}\n"
        for i, c in enumerate(cues, start=1)
    )


def vtt(cues: Iterable[Cue]) -> str:
    """WebVTT: the header, then cues with ``.`` before the milliseconds."""
    body = "\n".join(f"{clock(c.start, '.')} --> {clock(c.end, '.')}\n{c.text}\n" for c in cues)
    return "WEBVTT\n\n" + body
