"""One merge and one caption writer for the integration, the WhisperX image and the simulator.

The image cannot import the integration, so the rules they share (the
word-to-speaker merge; the caption clock, SubRip and WebVTT) live in the image's
build context, which the integration ships and imports from. These tests hold
that arrangement: the files are in the build-context tar and need only the
standard library; swapping a shared rule changes every user of it at once (so
nobody runs a copy); and each side's adapter gives the same answer as the
other's on generated transcripts.
"""

from __future__ import annotations

import ast
import io
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import custom_components.spark_audio as integration
from custom_components.spark_audio.spark.installer.build_context import build_context_tar
from custom_components.spark_audio.spark.models import (
    DiarizationSegment,
    SpeakerSegment,
    Word,
)
from custom_components.spark_audio.spark.transcripts.formats import (
    render_transcription,
    speaker_srt,
    speaker_vtt,
)
from custom_components.spark_audio.spark.transcripts.speaker_merge import merge_words_with_speakers
from custom_components.spark_audio.whisperx_container.app import captions, speaker_merge
from custom_components.spark_audio.whisperx_container.app import engine as image_engine
from custom_components.spark_audio.whisperx_container.app import formats as image_formats
from custom_components.spark_audio.whisperx_container.app import merge as image_merge
from tests.spark_sim import transcript as sim_transcript

CONTEXT = Path(integration.__file__).parent / "whisperx_container"
CONTEXT_MODULE = "custom_components.spark_audio.whisperx_container.app"
SHARED = (speaker_merge, captions)
PROPERTY = settings(max_examples=300, deadline=None, database=None)


def _module_file(module: ModuleType) -> Path:
    assert module.__file__ is not None
    return Path(module.__file__)


def test_shared_modules_ship_in_the_build_context() -> None:
    """The image is built from the tar the installer streams: the shared files are in it."""
    with tarfile.open(fileobj=io.BytesIO(b"".join(build_context_tar(CONTEXT)))) as tar:
        names = {name.removeprefix("./") for name in tar.getnames()}
    for module in SHARED:
        assert _module_file(module).relative_to(CONTEXT).as_posix() in names


@pytest.mark.parametrize("module", SHARED, ids=lambda module: module.__name__.rsplit(".")[-1])
def test_shared_modules_need_only_the_standard_library(module: ModuleType) -> None:
    """The image has no integration and the integration has no FastAPI or torch."""
    tree = ast.parse(_module_file(module).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"relative import in {module.__name__}"
            roots = [str(node.module).split(".")[0]]
        elif isinstance(node, ast.Import):
            roots = [alias.name.split(".")[0] for alias in node.names]
        else:
            continue
        assert all(root in sys.stdlib_module_names for root in roots), roots


def _imports_outside_spark(path: Path, spark: Path) -> set[str]:
    """The modules of the integration outside ``spark/`` that one file of it imports."""
    package = ["custom_components", "spark_audio", "spark", *path.parent.relative_to(spark).parts]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = package[: len(package) - node.level + 1] if node.level else []
        module = ".".join([*base, *([node.module] if node.module else [])])
        if module.startswith("custom_components.") and not module.startswith(
            "custom_components.spark_audio.spark"
        ):
            found.add(module)
    return found


def test_spark_reaches_outside_only_for_the_shared_modules() -> None:
    """spark/ stays HA-free and self-contained but for the two stdlib-only shared files."""
    spark = Path(integration.__file__).parent / "spark"
    outside = set().union(*(_imports_outside_spark(p, spark) for p in spark.rglob("*.py")))
    assert outside == {f"{CONTEXT_MODULE}.speaker_merge", f"{CONTEXT_MODULE}.captions"}


# ---- One merge ----


def test_integration_image_and_simulator_run_one_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    """Swapping the shared merge's token join changes all three: none of them has a copy."""
    monkeypatch.setattr(speaker_merge, "join_tokens", "|".join)
    words = [Word(0.0, 0.4, "hello"), Word(0.5, 0.9, ",")]
    assert [b.text for b in merge_words_with_speakers(words, [])] == ["hello|,"]
    image_words = [image_engine.Word(w.start, w.end, w.text) for w in words]
    assert [b["text"] for b in image_merge.speaker_blocks(image_words, [])] == ["hello|,"]
    sim_turns = sim_transcript.speaker_turns(1.0, 1)
    assert [b["text"] for b in sim_transcript.speaker_blocks(words, sim_turns)] == ["hello|,"]


def test_simulator_follows_the_merge_rules() -> None:
    """The simulator used to join with plain spaces and never broke a block on a pause."""
    words = sim_transcript.spread_words("so , we agreed . fine", 6.0)
    [block] = sim_transcript.speaker_blocks(words, sim_transcript.speaker_turns(6.0, 1))
    assert block["text"] == "so, we agreed. fine"
    far_apart = sim_transcript.spread_words("one two", 40.0)  # a 2 s pause between the two
    blocks = sim_transcript.speaker_blocks(far_apart, sim_transcript.speaker_turns(40.0, 1))
    assert [(b["speaker"], b["text"]) for b in blocks] == [
        ("Speaker_0", "one"),
        ("Speaker_0", "two"),
    ]


times = st.integers(min_value=-4, max_value=200).map(lambda q: q / 8)
lengths = st.integers(min_value=0, max_value=24).map(lambda q: q / 8)
tokens = st.sampled_from(["hi", " there", ",", ".", "'s", " ", "(x", ")", "ok"])


@PROPERTY
@given(
    words=st.lists(st.tuples(times, lengths, tokens), max_size=40),
    turns=st.lists(st.tuples(times, lengths, st.sampled_from("ABC")), max_size=12),
)
def test_image_speakers_endpoint_matches_the_integration(
    words: list[tuple[float, float, str]], turns: list[tuple[float, float, str]]
) -> None:
    """Parity: the image's relabelled, dict-shaped blocks are the integration's merge."""
    words.sort()
    image_turns = image_merge.normalise_speakers(
        image_engine.Turn(start, start + length, label) for start, length, label in turns
    )
    image_words = [image_engine.Word(s, s + length, text) for s, length, text in words]
    image = image_merge.speaker_blocks(image_words, image_turns)
    ours = merge_words_with_speakers(
        [Word(s, s + length, text) for s, length, text in words],
        [DiarizationSegment(t.start, t.end, t.speaker) for t in image_turns],
    )
    assert [SpeakerSegment(**block) for block in image] == ours


# ---- One caption writer and clock ----


def _reference_clock(ms: int, separator: str) -> str:
    """The clock written out the long way: clamped at 0, zero-padded fields."""
    ms = max(ms, 0)
    return (
        f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}"
        f"{separator}{ms % 1000:03d}"
    )


@PROPERTY
@given(ms=st.integers(min_value=-5_000, max_value=400 * 3_600_000))
def test_clock(ms: int) -> None:
    assert captions.clock(ms / 1000, ",") == _reference_clock(ms, ",")
    assert captions.clock(ms / 1000, ".") == _reference_clock(ms, ".")


@PROPERTY
@given(
    spans=st.lists(
        st.tuples(st.integers(0, 40 * 3_600_000), st.integers(0, 60_000)), min_size=1, max_size=5
    )
)
def test_speaker_captions_keep_exact_milliseconds(spans: list[tuple[int, int]]) -> None:
    """Speaker captions are plain cues in seconds; the clock gives the blocks' milliseconds back."""
    segments = [SpeakerSegment(start, start + length, "Speaker_1", "hi") for start, length in spans]
    srt_stamps = [
        f"{_reference_clock(s.start_ms, ',')} --> {_reference_clock(s.end_ms, ',')}"
        for s in segments
    ]
    assert speaker_srt(segments).split("\n")[1::4] == srt_stamps
    vtt_lines = speaker_vtt(segments).split("\n")[2:]
    assert vtt_lines[::3][: len(segments)] == [stamp.replace(",", ".") for stamp in srt_stamps]


def test_speaker_captions_are_plain_captions_with_the_speaker() -> None:
    segments = [
        SpeakerSegment(0, 1500, "Speaker_0", "Hello."),
        SpeakerSegment(1600, 3_725_250, "Speaker_1", "Hi."),
    ]
    assert speaker_srt(segments) == (
        "1\n00:00:00,000 --> 00:00:01,500\n[Speaker_0] Hello.\n\n"
        "2\n00:00:01,600 --> 01:02:05,250\n[Speaker_1] Hi.\n"
    )
    assert speaker_vtt(segments) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n<v Speaker_0>Hello.\n\n"
        "00:00:01.600 --> 01:02:05.250\n<v Speaker_1>Hi.\n"
    )


def test_integration_image_and_simulator_use_one_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Swapping the shared clock changes every caption writer: none of them has a copy."""
    monkeypatch.setattr(captions, "clock", lambda seconds, separator: f"<{seconds:g}>")
    cue_times = "<0> --> <1.5>"
    verbose = {"text": "hi", "segments": [{"start": 0.0, "end": 1.5, "text": "hi"}]}
    for response_format in ("srt", "vtt"):
        assert cue_times in render_transcription(verbose, response_format)[1].decode()
    assert cue_times in speaker_srt([SpeakerSegment(0, 1500, "Speaker_0", "hi")])
    assert cue_times in speaker_vtt([SpeakerSegment(0, 1500, "Speaker_0", "hi")])
    segments = (image_engine.Segment(0.0, 1.5, " hi"),)
    assert cue_times in image_formats.render_srt(segments)
    assert cue_times in image_formats.render_vtt(segments)
    for response_format in ("srt", "vtt"):
        answer = sim_transcript.transcription_response(response_format, "hi", 1.5, "en", "m")
        assert answer.text is not None
        assert "<0> --> <" in answer.text


@PROPERTY
@given(
    segments=st.lists(
        st.tuples(
            st.integers(-100, 20_000_000),
            st.integers(0, 30_000),
            st.text(alphabet="abc ,.", min_size=1, max_size=20).filter(str.strip),
        ),
        max_size=8,
    ),
    response_format=st.sampled_from(["srt", "vtt"]),
)
def test_image_captions_match_the_gateways_rendering(
    segments: list[tuple[int, int, str]], response_format: str
) -> None:
    """Parity: the image's own srt/vtt answer is what the gateway renders from its verbose_json."""
    transcript = image_engine.Transcript(
        "en",
        20_000.0,
        tuple(image_engine.Segment(s / 1000, (s + n) / 1000, f" {t}") for s, n, t in segments),
    )
    image = image_formats.render(response_format, transcript, "m")
    verbose = image_formats.render("verbose_json", transcript, "m")
    assert isinstance(verbose, dict)
    assert render_transcription(verbose, response_format)[1].decode() == image
