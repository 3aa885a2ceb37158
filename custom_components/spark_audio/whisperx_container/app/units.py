"""A background recording cut into units: batches of whisperX's merged VAD chunks.

whisperX transcribes merged VAD chunks (up to 30 s of speech each) in GPU
batches of ``WHISPERX_BATCH_SIZE``. A background job runs one batch of chunks
per unit, on its own slice of the audio, so the GPU can go to a voice command
between units (`gate.between_units`): a command waits for at most one batch.
The slices are cut halfway between the last chunk of a unit and the first of
the next, in the gap the VAD found, so no speech is split. The VAD runs once
over the whole recording here, and whisperX runs it again on each slice (a
small share of the work next to the decoding).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from .decoder import SAMPLE_RATE

CHUNK_S = 30  # whisperX's default merged chunk size


def unit_spans(
    chunks: Sequence[tuple[float, float]] | None, per_unit: int, duration: float
) -> list[tuple[float, float]]:
    """The (start, end) seconds of each unit: `per_unit` chunks each, covering the recording."""
    if per_unit < 1:
        raise ValueError("a unit holds at least one chunk")
    if not chunks:
        return [(0.0, duration)]
    cuts = [0.0]
    for first in range(per_unit, len(chunks), per_unit):
        cuts.append((chunks[first - 1][1] + chunks[first][0]) / 2)
    cuts.append(duration)
    return list(itertools.pairwise(cuts))


def shifted(segment: dict[str, Any], offset: float) -> dict[str, Any]:
    """A whisperX segment of a unit, with its (and its words') times moved onto the recording."""
    moved = dict(segment)
    for key in ("start", "end"):
        if moved.get(key) is not None:
            moved[key] = round(float(moved[key]) + offset, 3)
    if isinstance(words := segment.get("words"), list):
        moved["words"] = [shifted(word, offset) for word in words]
    return moved


def vad_chunks(
    pipeline: Any, audio: Any, load: Callable[[str], ModuleType]
) -> list[tuple[float, float]] | None:
    """The merged VAD chunks whisperX would transcribe `audio` in (as its ``transcribe`` does).

    `load` imports a module by name (the engine's, so tests can hand in fakes).

    None when the pipeline is not one whose VAD is reachable (a whisperX
    release that moved it): the job then runs as one unit.
    """
    vad = getattr(pipeline, "vad_model", None)
    params = getattr(pipeline, "_vad_params", None)
    if vad is None or not isinstance(params, dict):
        return None
    vads = load("whisperx.vads")
    if isinstance(vad, vads.Vad):
        waveform, merge = vad.preprocess_audio(audio), vad.merge_chunks
    else:
        waveform, merge = vads.Pyannote.preprocess_audio(audio), vads.Pyannote.merge_chunks
    found = vad({"waveform": waveform, "sample_rate": SAMPLE_RATE})
    merged = merge(found, CHUNK_S, onset=params["vad_onset"], offset=params["vad_offset"])
    return [(float(chunk["start"]), float(chunk["end"])) for chunk in merged]
