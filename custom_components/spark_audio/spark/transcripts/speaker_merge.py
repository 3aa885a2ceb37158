"""Word↔speaker merge for diarization, in the integration's types.

Parakeet gives words with times, Sortformer gives speaker turns; a transcript
with speakers needs both joined. The one implementation of the join lives in
the WhisperX image's build context (``whisperx_container/app/speaker_merge.py``),
which this integration ships, so the container's speakers endpoint and this
side cannot drift apart. Long recordings are diarized in windows first
(``diarization_windows``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ...whisperx_container.app.speaker_merge import (
    SILENCE_BREAK_S,
    UNKNOWN_SPEAKER,
    merge_speakers,
)
from ..models import DiarizationSegment, SpeakerSegment, Word

__all__ = ["SILENCE_BREAK_S", "UNKNOWN_SPEAKER", "merge_words_with_speakers"]


def merge_words_with_speakers(
    words: Sequence[Word], turns: Sequence[DiarizationSegment]
) -> list[SpeakerSegment]:
    """Group words, in the given order, into blocks of one speaker each.

    The rules (``merge_speakers``): a word belongs to the first turn whose closed
    span holds its midpoint, else to the turn overlapping it most, else to
    ``Speaker_unknown``; a speaker change or a pause over 1.5 s starts a block.
    Times in the result are milliseconds, truncated. Times must not be NaN.
    """
    return merge_speakers(words, [(t.start_s, t.end_s, t.speaker) for t in turns], SpeakerSegment)
