"""The real engine: whisperX (faster-whisper + wav2vec2 alignment + pyannote).

torch and whisperx are imported inside methods only, so importing this module
(and the whole app) works without the ML stack.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import replace
from types import ModuleType
from typing import Any

from .aligners import AlignerCache
from .audio_progress import AudioProgress, chunks_seen, progress_kwargs
from .decoder import DEFAULT_MAX_AUDIO_S, SAMPLE_RATE, decode_pcm
from .engine import (
    CUDA_MISSING,
    DIARIZATION_MODEL,
    NO_TOKEN_REASON,
    ClipEmbedding,
    Diarization,
    DiarizationUnavailable,
    Segment,
    Transcript,
    Turn,
    Word,
)
from .gate import between_units, is_background
from .progress import report
from .units import shifted, unit_spans, vad_chunks
from .voice_embedding import clip_embedding, finite_vectors

_LOGGER = logging.getLogger(__name__)


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


def parse_align_models(raw: str) -> dict[str, str]:
    """``WHISPERX_ALIGN_MODELS``: ``en=/models/en,de=org/name`` (language=model or path)."""
    models: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        language, sep, model = item.partition("=")
        if not sep or not language.strip() or not model.strip():
            raise ValueError(f"WHISPERX_ALIGN_MODELS entry {item.strip()!r} is not language=model")
        models[language.strip().lower()] = model.strip()
    return models


class WhisperXEngine:
    """whisperX behind the Engine protocol."""

    def __init__(
        self,
        model: str,
        hf_token: str | None,
        env: Mapping[str, str] | None = None,
        *,
        max_audio_s: float = DEFAULT_MAX_AUDIO_S,
        device: str = "cuda",
    ) -> None:
        """Read the engine's env knobs; nothing is loaded until `load()`.

        ``device`` (``WHISPERX_DEVICE``, checked by the settings) is where the
        models must run: ``cuda`` never falls back to the CPU.
        ``WHISPERX_MODEL_DIR`` loads a local CTranslate2 model instead of
        downloading `model`; ``WHISPERX_ALIGN_MODELS`` overrides alignment models.
        """
        env = os.environ if env is None else env
        self._model_name = model
        self._model_source = env.get("WHISPERX_MODEL_DIR", "").strip() or model
        self._hf_token = hf_token
        self._max_audio_s = max_audio_s
        self._device = device
        self._compute_setting = env.get("WHISPERX_COMPUTE_TYPE", "").strip()
        self._compute_type: str | None = None
        self._device_error: str | None = None
        self._batch_size = int(env.get("WHISPERX_BATCH_SIZE") or 16)
        self._align_models = parse_align_models(env.get("WHISPERX_ALIGN_MODELS", ""))
        self._whisper: Any = None
        self._diarizer: Any = None
        self._diarizer_error: str | None = None
        self.aligners: AlignerCache[tuple[Any, Any]] = AlignerCache(
            self._load_aligner, self._has_aligner
        )
        self._options_lock = threading.Lock()

    @property
    def model(self) -> str:
        """The Whisper model size."""
        return self._model_name

    @property
    def device(self) -> str:
        """``cuda`` or ``cpu``, as the settings ask (never changed behind their back)."""
        return self._device

    @property
    def compute_type(self) -> str | None:
        """The compute type Whisper was loaded with; None before (or without) loading."""
        return self._compute_type

    @property
    def device_error(self) -> str | None:
        """Why nothing was loaded: CUDA asked for and missing (None when fine)."""
        return self._device_error

    @property
    def whisper_loaded(self) -> bool:
        """Whether the Whisper model is loaded."""
        return self._whisper is not None

    @property
    def diarizer_loaded(self) -> bool:
        """Whether the pyannote pipeline is loaded."""
        return self._diarizer is not None

    @property
    def diarizer_off_reason(self) -> str | None:
        """Why diarization is off, or None."""
        if self._diarizer is not None:
            return None
        if self._device_error is not None:
            return self._device_error
        if self._hf_token is None:
            return NO_TOKEN_REASON
        return self._diarizer_error or "diarization model not loaded yet"

    def load(self) -> None:
        """Load Whisper, then (with a token) the diarization pipeline."""
        if self._device == "cuda" and (missing := cuda_missing_reason()) is not None:
            # No silent CPU/int8 fallback: /health and every job answer 503 with the reason.
            self._device_error = f"{CUDA_MISSING}: {missing}"
            return  # the app logs it and answers 503
        whisperx = _module("whisperx")
        compute_type = self._compute_setting or ("float16" if self._device == "cuda" else "int8")
        self._compute_type = compute_type
        _LOGGER.info("Loading whisper %s on %s (%s)", self._model_name, self._device, compute_type)
        self._whisper = whisperx.load_model(
            self._model_source,
            self._device,
            compute_type=compute_type,
            vad_method="pyannote",
            use_auth_token=self._hf_token,
        )
        # NLTK's punkt_tab is fetched at image build time; alignment uses it.
        if self._hf_token is None:
            _LOGGER.warning("Diarization off: %s", NO_TOKEN_REASON)
            return
        try:
            diarize = _module("whisperx.diarize")
            self._diarizer = diarize.DiarizationPipeline(
                model_name=DIARIZATION_MODEL, token=self._hf_token, device=self._device
            )
        except Exception as err:
            self._diarizer_error = f"diarization model failed to load: {err}"
            _LOGGER.exception("Diarization off")

    def _audio(self, path: str) -> Any:
        """What ``whisperx.load_audio`` gives (float32 in [-1, 1)), from our bounded decoder."""
        numpy = _module("numpy")
        pcm = decode_pcm(path, self._max_audio_s)
        return numpy.frombuffer(pcm, numpy.int16).astype(numpy.float32) / 32768.0

    def transcribe(
        self,
        path: str,
        language: str | None,
        *,
        words: bool = True,
        prompt: str | None = None,
    ) -> Transcript:
        """Transcribe, then align for word timings when asked.

        No temperature: whisperX's batched decoder never reads it (the app
        refuses non-zero values instead of ignoring them).
        """
        if self._whisper is None:
            raise RuntimeError("Whisper model is not loaded")
        report("loading_audio")
        audio = self._audio(path)
        duration = float(len(audio)) / SAMPLE_RATE
        report("transcribing", 0)
        raw_segments: list[dict[str, Any]]
        if is_background():  # aligned unit by unit
            lang, raw_segments = self._in_units(audio, duration, language, prompt, words=words)
            report("transcribing", 100)
        else:
            result = self._whisper_result(audio, duration, language, prompt)
            lang = str(result.get("language") or language or "en")
            raw_segments = list(result.get("segments") or [])
            report("transcribing", 100)
            if words and raw_segments:
                report("aligning")
                raw_segments = self._aligned(raw_segments, lang, audio)
                report("aligning", 100)
        segments = tuple(_segment(s) for s in raw_segments)
        all_words = tuple(w for s in segments for w in s.words) if words else ()
        return Transcript(language=lang, duration=duration, segments=segments, words=all_words)

    def _in_units(
        self, audio: Any, duration: float, language: str | None, prompt: str | None, *, words: bool
    ) -> tuple[str, list[dict[str, Any]]]:
        """A background job: one GPU batch of VAD chunks per unit, voice commands between units.

        Each unit is transcribed (and aligned) on its own slice of the audio, the
        language the first unit detects kept for the rest; times are shifted back
        onto the recording.
        """
        spans = unit_spans(vad_chunks(self._whisper, audio, _module), self._batch_size, duration)
        segments: list[dict[str, Any]] = []
        for start, end in spans:
            between_units()  # also after decoding and the VAD pass: they were a unit's work
            piece = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
            result = self._whisper_result(piece, duration, language, prompt, offset=start)
            language = language or result.get("language") or None
            raw: list[dict[str, Any]] = list(result.get("segments") or [])
            if words and raw and language:
                raw = self._aligned(raw, language, piece)
            segments.extend(shifted(segment, start) for segment in raw)
        return language or "en", segments

    def _whisper_result(
        self,
        audio: Any,
        duration: float,
        language: str | None,
        prompt: str | None,
        *,
        offset: float = 0.0,
    ) -> dict[str, Any]:
        """Run whisperX with the prompt, reporting its percent by audio time.

        `audio` may be a unit of a recording of `duration` starting at `offset`.
        The options and the VAD's ``merge_chunks`` are swapped for this call under
        the lock, so concurrent requests never see each other's.
        """
        progress = AudioProgress(duration, offset)
        extra = progress_kwargs(self._whisper.transcribe, progress)
        with self._options_lock, chunks_seen(self._whisper, progress):
            saved = self._whisper.options
            if prompt:
                self._whisper.options = replace(saved, initial_prompt=prompt)
            try:
                result: dict[str, Any] = self._whisper.transcribe(
                    audio, batch_size=self._batch_size, language=language, **extra
                )
            finally:
                self._whisper.options = saved
        return result

    def _has_aligner(self, language: str) -> bool:
        alignment = _module("whisperx.alignment")
        return (
            language in self._align_models
            or language in alignment.DEFAULT_ALIGN_MODELS_TORCH
            or language in alignment.DEFAULT_ALIGN_MODELS_HF
        )

    def _load_aligner(self, language: str) -> tuple[Any, Any]:
        whisperx = _module("whisperx")
        model, metadata = whisperx.load_align_model(
            language_code=language,
            device=self._device,
            model_name=self._align_models.get(language),
        )
        return model, metadata

    def _aligned(
        self, segments: list[dict[str, Any]], language: str, audio: Any
    ) -> list[dict[str, Any]]:
        whisperx = _module("whisperx")
        aligner = self.aligners.get(language)
        if aligner is None:
            return segments
        model, metadata = aligner
        aligned = whisperx.align(
            segments, model, metadata, audio, self._device, return_char_alignments=False
        )
        return list(aligned.get("segments") or segments)

    def diarize(
        self,
        path: str,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> list[Turn]:
        """Pyannote turns (labels as pyannote gives them)."""
        return list(self._diarized(path, num_speakers, min_speakers, max_speakers).turns)

    def diarize_with_embeddings(
        self,
        path: str,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> Diarization:
        """Turns plus pyannote's per-speaker embeddings (the centroids it clustered with)."""
        return self._diarized(path, num_speakers, min_speakers, max_speakers, with_embeddings=True)

    def _diarized(
        self,
        path: str,
        num_speakers: int | None,
        min_speakers: int | None,
        max_speakers: int | None,
        *,
        with_embeddings: bool = False,
    ) -> Diarization:
        if self._diarizer is None:
            raise DiarizationUnavailable(self.diarizer_off_reason or "diarization is off")
        audio = self._audio(path)
        report("diarizing")
        counts = {
            "num_speakers": num_speakers,
            "min_speakers": min_speakers,
            "max_speakers": max_speakers,
        }
        vectors: Mapping[str, Any] | None = None
        if with_embeddings:
            frame, vectors = self._diarizer(audio, return_embeddings=True, **counts)
        else:
            frame = self._diarizer(audio, **counts)
        turns = tuple(
            Turn(float(row["start"]), float(row["end"]), str(row["speaker"]))
            for _, row in frame.iterrows()
        )
        return Diarization(turns, finite_vectors(vectors or {}))

    def embedding(self, path: str) -> ClipEmbedding:
        """The diarizer's own embedding model over the whole clip: no other model to download."""
        if self._diarizer is None:
            raise DiarizationUnavailable(self.diarizer_off_reason or "diarization is off")
        audio = self._audio(path)
        vector = clip_embedding(self._diarizer.model._embedding, audio, SAMPLE_RATE)
        return ClipEmbedding(vector, float(len(audio)) / SAMPLE_RATE)

    def gpu_check(self) -> bool | None:
        """torch: an 8x8 matmul on its own stream; CTranslate2: a float16 conversion on the GPU.

        Its own torch stream and CTranslate2's own, so it waits for no job's
        queued kernels; both libraries' CUDA code is exercised, as a job uses both.
        """
        torch = _module("torch")
        if self._device != "cuda" or self._device_error or not torch.cuda.is_available():
            return None
        stream = torch.cuda.Stream()
        with torch.cuda.stream(stream):
            a = torch.ones((8, 8), device="cuda")
            total = float((a @ a).sum().item())
        return total == 512.0 and ctranslate2_check("cuda")

    def release_memory(self) -> None:
        """Drop Python garbage and the CUDA caching allocator's free blocks."""
        gc.collect()
        torch = _module("torch")
        if self._device == "cuda" and torch.cuda.is_available():
            torch.cuda.empty_cache()


def cuda_missing_reason() -> str | None:
    """Why torch or CTranslate2 cannot use a GPU here (None when both can)."""
    torch = _module("torch")
    if torch.version.cuda is None:
        return "torch is a CPU-only build"
    if not torch.cuda.is_available():
        return (
            "torch.cuda.is_available() is false: no GPU is visible in the container "
            "(run it with --gpus all and the NVIDIA container runtime)"
        )
    if _module("ctranslate2").get_cuda_device_count() < 1:
        return "CTranslate2 sees no CUDA device (a build without CUDA?)"
    return None


def ctranslate2_check(device: str) -> bool:
    """Convert 8 floats to float16 with CTranslate2 on ``device`` and read them back."""
    ctranslate2 = _module("ctranslate2")
    numpy = _module("numpy")
    source = numpy.full((8,), 1.5, dtype=numpy.float32)  # kept alive: the view borrows it
    target = ctranslate2.Device.cuda if device == "cuda" else ctranslate2.Device.cpu
    view = ctranslate2.StorageView.from_array(source).to_device(target)
    half = view.to(ctranslate2.DataType.float16).to_device(ctranslate2.Device.cpu)
    return bool(numpy.asarray(half).astype(numpy.float32).sum() == 12.0)


def _segment(raw: dict[str, Any]) -> Segment:
    """A whisperx segment dict -> Segment; words without timings get neighbours'."""
    start = float(raw.get("start") or 0.0)
    end = float(raw.get("end") or start)
    text = str(raw.get("text") or "").strip()
    raw_words = raw.get("words")
    words: list[Word] = []
    if raw_words:
        cursor = start
        for w in raw_words:
            token = str(w.get("word") or "").strip()
            if not token:
                continue
            w_start = float(w["start"]) if w.get("start") is not None else cursor
            w_end = float(w["end"]) if w.get("end") is not None else w_start
            words.append(Word(w_start, w_end, token))
            cursor = w_end
    elif text:
        tokens = text.split()
        span = (end - start) / len(tokens)
        words = [Word(start + i * span, start + (i + 1) * span, t) for i, t in enumerate(tokens)]
    return Segment(start, end, text, tuple(words))
