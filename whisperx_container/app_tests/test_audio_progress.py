"""The real engine's transcribing percent: whisperX's chunk count mapped to audio time.

No ML stack: the pure mapping, and the engine around pipelines shaped like
whisperX 3.8's (``self.vad_model.merge_chunks``, then ``progress_callback`` with
``(i + 1) / n * 100`` per merged chunk) and like releases without those hooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from app.audio_progress import AudioProgress, audio_percent, chunk_ends
from app.progress import JobCancelled, JobRegistry, JobState, current_job
from app.whisperx_engine import WhisperXEngine

# Three merged chunks of a 100 s recording: unequal spans, unequal silence between.
CHUNKS = [
    {"start": 0.0, "end": 10.0, "segments": []},
    {"start": 15.0, "end": 20.0, "segments": []},
    {"start": 60.0, "end": 90.0, "segments": []},
]
DURATION = 100.0


def whisperx_count(idx: int, total: int) -> float:
    """What whisperX 3.8 hands ``progress_callback`` after chunk `idx`."""
    return ((idx + 1) / total) * 100


def test_percent_is_the_chunk_end_over_the_duration() -> None:
    ends = chunk_ends(CHUNKS)
    assert ends == (10.0, 20.0, 90.0)
    percents = [audio_percent(ends, whisperx_count(i, 3), DURATION) for i in range(3)]
    assert percents == pytest.approx([10.0, 20.0, 90.0])  # by count: 33.3, 66.7, 100


@pytest.mark.parametrize(
    ("ends", "count", "duration"),
    [((), 100.0, DURATION), ((10.0,), 100.0, 0.0), ((10.0, 20.0), 0.0, DURATION)],
)
def test_no_percent_when_no_chunk_matches(
    ends: tuple[float, ...], count: float, duration: float
) -> None:
    assert audio_percent(ends, count, duration) is None


def test_percent_stays_within_0_and_100() -> None:
    assert audio_percent((101.0,), 100.0, DURATION) == 100.0


@pytest.mark.parametrize(
    "chunks", [None, {"end": 1.0}, [{"start": 0.0}], [{"end": "soon"}], [3.0], ("a",)]
)
def test_only_whisperx_chunks_give_ends(chunks: object) -> None:
    assert chunk_ends(chunks) is None


@contextmanager
def job() -> Iterator[tuple[JobState, list[tuple[str, float | None]]]]:
    """A tracked job in this context, with every (phase, percent) reported to it."""
    registry = JobRegistry()
    state = registry.start("j")
    seen: list[tuple[str, float | None]] = []
    original = registry.update

    def spy(job: JobState, phase: str, phase_percent: float | None) -> None:
        seen.append((phase, phase_percent))
        original(job, phase, phase_percent)

    registry.update = spy  # type: ignore[method-assign]
    token = current_job.set((registry, state))
    try:
        yield state, seen
    finally:
        current_job.reset(token)


def test_captured_chunks_turn_counts_into_audio_time() -> None:
    progress = AudioProgress(DURATION)
    merge = progress.capture(lambda *args, **kwargs: CHUNKS)
    with job() as (_, seen):
        assert merge("vad segments", 30, onset=0.5, offset=0.363) is CHUNKS
        for i in range(3):
            progress(whisperx_count(i, 3))
    assert seen == [("transcribing", pytest.approx(p)) for p in (10.0, 20.0, 90.0)]


def test_without_chunks_nothing_is_reported_but_a_cancel_stops_it() -> None:
    progress = AudioProgress(DURATION)
    with job() as (state, seen):
        progress(whisperx_count(0, 3))
        assert seen == []
        state.cancelled = True
        with pytest.raises(JobCancelled):
            progress(whisperx_count(1, 3))


@dataclass(frozen=True)
class Options:
    initial_prompt: str | None = None


class Vad:
    """whisperX's VAD classes keep merge_chunks static."""

    @staticmethod
    def merge_chunks(segments: Any, chunk_size: int, onset: float, offset: float) -> Any:
        return CHUNKS


class SlottedVad:
    """One the engine cannot shadow an attribute on."""

    __slots__ = ()
    merge_chunks = staticmethod(Vad.merge_chunks)


class Pipeline:
    """whisperX 3.8's FasterWhisperPipeline.transcribe, as far as progress goes."""

    def __init__(self, vad: Any) -> None:
        self.vad_model = vad
        self.options = Options()
        self.prompts: list[str | None] = []

    def transcribe(
        self,
        audio: Any,
        batch_size: int | None = None,
        language: str | None = None,
        progress_callback: Any = None,
    ) -> dict[str, Any]:
        merge = getattr(self.vad_model, "merge_chunks", Vad.merge_chunks)
        chunks = merge("vad segments", 30, onset=0.5, offset=0.363)
        self.prompts.append(self.options.initial_prompt)
        for idx in range(len(chunks)):
            if progress_callback is not None:
                progress_callback(whisperx_count(idx, len(chunks)))
        return {"segments": [], "language": language}


class OldPipeline(Pipeline):
    """A release whose transcribe takes no progress_callback."""

    def transcribe(  # type: ignore[override]
        self, audio: Any, batch_size: int | None = None, language: str | None = None
    ) -> dict[str, Any]:
        return super().transcribe(audio, batch_size, language)


def run(pipeline: Pipeline) -> list[tuple[str, float | None]]:
    engine = WhisperXEngine("tiny", None, env={})
    engine._whisper = pipeline
    with job() as (_, seen):
        engine._whisper_result(b"audio", DURATION, "en", "Küchenlicht")
    assert pipeline.options.initial_prompt is None
    assert pipeline.prompts == ["Küchenlicht"]
    assert "merge_chunks" not in getattr(pipeline.vad_model, "__dict__", {})
    return seen


def test_the_engine_reports_whisperx_chunks_by_audio_time() -> None:
    assert run(Pipeline(Vad())) == [("transcribing", pytest.approx(p)) for p in (10.0, 20.0, 90.0)]


@pytest.mark.parametrize(
    "pipeline",
    [Pipeline(object()), Pipeline(SlottedVad()), OldPipeline(Vad())],
    ids=["vad-merges-elsewhere", "vad-not-shadowable", "no-progress-callback"],
)
def test_without_the_hooks_the_engine_just_transcribes(pipeline: Pipeline) -> None:
    assert run(pipeline) == []


def test_a_vad_with_its_own_merge_chunks_gets_it_back() -> None:
    vad = Vad()
    own = Vad.merge_chunks
    vad.merge_chunks = own  # type: ignore[method-assign]
    engine = WhisperXEngine("tiny", None, env={})
    engine._whisper = Pipeline(vad)
    with job() as (_, seen):
        engine._whisper_result(b"audio", DURATION, None, None)
    assert vars(vad)["merge_chunks"] is own
    assert len(seen) == 3
