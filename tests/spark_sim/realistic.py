"""Rates of a real DGX Spark, for `python -m tests.spark_sim --realistic` (`scripts/develop`).

The tests run the simulator instant (every rate 0 but the small default RTFs)
so they stay fast; a developer trying the integration by hand should meet
the waits a real Spark makes: transcription and speech take time, word
alignment more, the first job of a language loads its aligner, a restart
loads the models before the service answers again. The figures are orders of
magnitude (medium Whisper and wav2vec2 on one GB10 GPU), not measurements.
"""

from __future__ import annotations

from collections.abc import Mapping

from .faults import ServiceState

REALISTIC: Mapping[str, Mapping[str, float]] = {
    # parakeet-tdt-0.6b-v3: about 100 times faster than real time; a restart loads NeMo.
    "parakeet": {"rtf": 0.015, "load_s": 30.0},
    # Magpie TTS (a NIM on Triton): a tenth of the audio's length; a restart starts Triton.
    "magpie": {"rtf": 0.1, "load_s": 60.0},
    # faster-whisper medium, wav2vec2 alignment, pyannote; a restart loads Whisper and pyannote.
    "whisperx": {"rtf": 0.05, "align_rtf": 0.02, "aligner_load_s": 8.0, "load_s": 45.0},
}


def apply_realistic(states: Mapping[str, ServiceState]) -> None:
    """Set each simulated service's rates to the realistic ones (through its control checks)."""
    for name, state in states.items():
        state.apply(REALISTIC[name])
