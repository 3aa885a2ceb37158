"""The seam between ``python -m app.verify`` and the ML stack: one method per check.

Nothing here imports torch or whisperx, so the report, its pass/fail rules and
the exit status are tested with a fake probe (app_tests); the real probe
(`verify_engine.WhisperXProbe`) runs the checks on the engine lane and the Spark.
"""

from __future__ import annotations

from typing import Protocol

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
NO_GPU = "no GPU"


class Skipped(Exception):
    """The check does not apply here (no GPU, no HF token); the message says why."""


class VerifyProbe(Protocol):
    """The checks. Each returns what it saw (one line), raises Skipped, or raises to fail."""

    @property
    def model(self) -> str:
        """The configured Whisper model (``WHISPERX_MODEL``)."""
        ...

    @property
    def device(self) -> str:
        """``cuda`` or ``cpu``: where the transcription checks run."""
        ...

    def compute_types(self) -> tuple[str, ...]:
        """The CTranslate2 compute types to transcribe with on this device."""
        ...

    def cuda_kernels(self) -> str:
        """CTranslate2's CUDA kernels and cuBLAS on the GPU, with ``CT2_VERBOSE=1``."""
        ...

    def transcribe(self, compute_type: str) -> str:
        """Load the configured model in `compute_type` and transcribe the bundled clip."""
        ...

    def align(self) -> str:
        """One word-timed transcription: the wav2vec2 aligner must load and time the words."""
        ...

    def diarize(self) -> str:
        """The pyannote pipeline on the clip (Skipped without an HF token)."""
        ...

    def torchcodec(self) -> str:
        """Import torchcodec and decode the clip from its file path."""
        ...
