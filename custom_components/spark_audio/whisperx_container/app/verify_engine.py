"""The real `VerifyProbe`: whisperX, CTranslate2 and torchcodec as the service uses them.

Device and compute types: the service's device. On cuda (the image's default)
``float16`` and ``int8_float16`` (what the Spark runs); with ``WHISPERX_DEVICE=cpu``
``float32`` and ``int8`` (CTranslate2's CPU types, what the engine lane runs), and
the CUDA check is skipped ("no GPU"). The clip is a
bundled 1.5 s English phrase (``verify_clip.wav``): speech, so the VAD passes it
to Whisper (a tone would be cut out and prove nothing).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import Settings
from .verify_checks import NO_GPU, Skipped
from .verify_cuda import verdict
from .whisperx_engine import WhisperXEngine

CLIP = Path(__file__).resolve().parent / "verify_clip.wav"
CLIP_LANGUAGE = "en"
CUDA_CHILD_TIMEOUT_S = 600.0


class WhisperXProbe:
    """Each check loads what it needs; the first compute type's engine serves alignment too."""

    def __init__(
        self, settings: Settings, env: Mapping[str, str] | None = None, clip: Path = CLIP
    ) -> None:
        """Read the service's own settings (model, token, device, aligner overrides)."""
        self._settings = settings
        self._env = dict(os.environ if env is None else env)
        self._clip = clip
        self._engine: WhisperXEngine | None = None

    @property
    def model(self) -> str:
        """The configured Whisper model."""
        return self._settings.model

    @property
    def device(self) -> str:
        """The service's device (``WHISPERX_DEVICE``; cuda unless cpu is asked for by name).

        Never guessed from what torch sees: a Spark whose container lost its GPU must fail
        the CUDA checks, not pass them on the CPU.
        """
        return self._settings.device

    def compute_types(self) -> tuple[str, ...]:
        """float16 and int8_float16 on the GPU; float32 and int8 on the CPU."""
        return ("float16", "int8_float16") if self.device == "cuda" else ("float32", "int8")

    def cuda_kernels(self) -> str:
        """`verify_cuda` in a fresh interpreter with ``CT2_VERBOSE=1``; its log is its stderr."""
        if self.device != "cuda":
            raise Skipped(NO_GPU)
        child = subprocess.run(
            [sys.executable, "-m", "app.verify_cuda", self._model_dir()],
            cwd=Path(__file__).resolve().parent.parent,
            env={**self._env, "CT2_VERBOSE": "1"},
            capture_output=True,
            text=True,
            timeout=CUDA_CHILD_TIMEOUT_S,
            check=False,
        )
        if child.returncode != 0:
            raise RuntimeError(f"exit status {child.returncode}: {child.stderr.strip()[-400:]}")
        return verdict(child.stdout, child.stderr)

    def _model_dir(self) -> str:
        """The configured model's CTranslate2 folder (the one the service downloaded)."""
        local = self._env.get("WHISPERX_MODEL_DIR", "").strip()
        if local:
            return local
        utils: Any = importlib.import_module("faster_whisper.utils")
        return str(utils.download_model(self.model))

    def transcribe(self, compute_type: str) -> str:
        """Load the model in `compute_type` and transcribe the clip (no word timings)."""
        first = self._engine is None
        engine = WhisperXEngine(
            self.model,
            self._settings.hf_token if first else None,
            {**self._env, "WHISPERX_COMPUTE_TYPE": compute_type},
            max_audio_s=self._settings.max_audio_s,
            device=self.device,
        )
        engine.load()
        transcript = engine.transcribe(str(self._clip), CLIP_LANGUAGE, words=False)
        if first:
            self._engine = engine
        else:
            del engine
            if self._engine is not None:
                self._engine.release_memory()
        if not transcript.text:
            raise RuntimeError(f"{compute_type} on {self.device} heard nothing in the clip")
        return f'{compute_type} on {self.device}: "{transcript.text}"'

    def _loaded(self) -> WhisperXEngine:
        if self._engine is None:
            raise RuntimeError("no model loaded: the first transcription check failed")
        return self._engine

    def align(self) -> str:
        """One word-timed request: the aligner must load (the engine would fall back silently)."""
        engine = self._loaded()
        transcript = engine.transcribe(str(self._clip), CLIP_LANGUAGE, words=True)
        failure = engine.aligners.failures.get(CLIP_LANGUAGE)
        if failure is not None:
            raise RuntimeError(f"the {CLIP_LANGUAGE} aligner failed to load: {failure.error}")
        if not transcript.words:
            raise RuntimeError("alignment gave no words")
        first, last = transcript.words[0], transcript.words[-1]
        return (
            f"{len(transcript.words)} words, {first.text!r} at {first.start:.2f} s "
            f"to {last.text!r} ending {last.end:.2f} s"
        )

    def diarize(self) -> str:
        """The pyannote pipeline on the clip, when a token is configured."""
        if self._settings.hf_token is None:
            raise Skipped("no HF token configured")
        engine = self._loaded()
        if not engine.diarizer_loaded:
            raise RuntimeError(engine.diarizer_off_reason or "the diarizer did not load")
        turns = engine.diarize(str(self._clip))
        speakers = sorted({turn.speaker for turn in turns})
        return f"{len(turns)} turn(s), speakers {speakers}"

    def torchcodec(self) -> str:
        """A file-path decode, the path pyannote and torchaudio take with torchcodec."""
        torchcodec: Any = importlib.import_module("torchcodec")
        decoders: Any = importlib.import_module("torchcodec.decoders")
        samples = decoders.AudioDecoder(str(self._clip)).get_all_samples()
        return (
            f"torchcodec {torchcodec.__version__}: {samples.data.shape[-1]} samples "
            f"at {samples.sample_rate} Hz from the clip's file path"
        )
