"""Word↔speaker merge, window plans and speaker reconciliation across windows."""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custom_components.spark_audio.spark.models import DiarizationSegment, SpeakerSegment, Word
from custom_components.spark_audio.spark.transcripts.diarization_windows import (
    ReconciledDiarization,
    Window,
    plan_windows,
    reconcile_windows,
)
from custom_components.spark_audio.spark.transcripts.speaker_merge import (
    UNKNOWN_SPEAKER,
    merge_words_with_speakers,
)

PROPERTY = settings(
    max_examples=1500,
    deadline=None,
    database=None,  # leave no .hypothesis/ folder in the checkout
    suppress_health_check=[HealthCheck.too_slow],
)


# ---- The reference: the predecessor's O(W x T) rules, transcribed plainly ----


def reference_speaker(start: float, end: float, turns: Sequence[DiarizationSegment]) -> str:
    mid = (start + end) / 2.0
    for turn in turns:
        if turn.start_s <= mid <= turn.end_s:
            return turn.speaker
    best_speaker = "Speaker_unknown"
    best_overlap = 0.0
    for turn in turns:
        overlap = max(0.0, min(end, turn.end_s) - max(start, turn.start_s))
        if overlap > best_overlap:
            best_overlap = overlap
            best_speaker = turn.speaker
    return best_speaker


def reference_join(parts: Sequence[str]) -> str:
    cleaned = [p.strip() for p in parts if p and p.strip()]
    if not cleaned:
        return ""
    out = cleaned[0]
    for token in cleaned[1:]:
        if token[0] in ".,;:!?)]}'\"":
            out += token
        else:
            out += " " + token
    return out


def reference_merge(
    words: Sequence[Word], turns: Sequence[DiarizationSegment]
) -> list[SpeakerSegment]:
    blocks: list[SpeakerSegment] = []
    cur_words: list[str] = []
    cur_speaker: str | None = None
    cur_start = cur_end = 0.0
    for w in words:
        spk = reference_speaker(w.start, w.end, turns)
        if cur_speaker is None or spk != cur_speaker or w.start - cur_end > 1.5:
            if cur_speaker is not None:
                blocks.append(
                    SpeakerSegment(
                        int(cur_start * 1000),
                        int(cur_end * 1000),
                        cur_speaker,
                        reference_join(cur_words),
                    )
                )
            cur_words, cur_speaker, cur_start, cur_end = [w.text], spk, w.start, w.end
        else:
            cur_words.append(w.text)
            cur_end = w.end
    if cur_speaker is not None:
        blocks.append(
            SpeakerSegment(
                int(cur_start * 1000), int(cur_end * 1000), cur_speaker, reference_join(cur_words)
            )
        )
    return blocks


# ---- Property tests against the reference ----

# Times on a coarse grid make equal starts, shared boundaries and overlap ties common;
# arbitrary floats exercise rounding in midpoints and overlaps.
grid_times = st.integers(min_value=-2, max_value=48).map(lambda q: q / 4)
float_times = st.floats(min_value=-1.0, max_value=13.0, allow_nan=False, allow_infinity=False)
times = st.one_of(grid_times, grid_times, float_times)
# Mostly ordinary spans; sometimes zero-length or inverted ones.
lengths = st.one_of(
    st.integers(min_value=0, max_value=12).map(lambda q: q / 4),
    st.floats(min_value=0.0, max_value=4.0),
    st.just(0.0),
    st.floats(min_value=-1.0, max_value=0.0),
)
tokens = st.sampled_from(["hi", " there", ",", ".", "'s", "  ", "", "(x", ")", '"q', " ok "])


@st.composite
def turn_lists(draw: st.DrawFn) -> list[DiarizationSegment]:
    spans = draw(st.lists(st.tuples(times, lengths), max_size=12))
    # Unique labels expose which turn won; shared labels exercise block grouping.
    unique = draw(st.booleans())
    return [
        DiarizationSegment(start, start + length, f"T{i}" if unique else f"S{i % 3}")
        for i, (start, length) in enumerate(spans)
    ]


@st.composite
def word_lists(draw: st.DrawFn) -> list[Word]:
    spans = draw(st.lists(st.tuples(times, lengths, tokens), max_size=25))
    words = [Word(start, start + length, text) for start, length, text in spans]
    if draw(st.booleans()):
        words.sort(key=lambda word: word.start)
    return words


@PROPERTY
@given(words=word_lists(), turns=turn_lists())
def test_merge_matches_reference(words: list[Word], turns: list[DiarizationSegment]) -> None:
    assert merge_words_with_speakers(words, turns) == reference_merge(words, turns)


@PROPERTY
@given(start=times, length=lengths, turns=turn_lists())
def test_each_word_gets_the_reference_speaker(
    start: float, length: float, turns: list[DiarizationSegment]
) -> None:
    word = Word(start, start + length, "w")
    [block] = merge_words_with_speakers([word], turns)
    assert block.speaker == reference_speaker(word.start, word.end, turns)


@settings(max_examples=300, deadline=None, database=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_merge_matches_reference_on_realistic_transcripts(seed: int) -> None:
    """Sequential words against Sortformer-like turns with cross-talk and pauses."""
    rng = random.Random(seed)
    turns: list[DiarizationSegment] = []
    clock = 0.0
    for _ in range(rng.randint(0, 40)):
        start = clock + rng.choice([-0.4, 0.0, 0.08, 0.5, 2.0])
        end = start + rng.choice([0.0, 0.08, 0.32]) + rng.random() * 4
        speaker = f"Speaker_{rng.randint(0, 3)}"
        turns.append(DiarizationSegment(round(start, 2), round(end, 2), speaker))
        clock = max(clock, end)
    if rng.random() < 0.2:
        rng.shuffle(turns)
    words: list[Word] = []
    clock = 0.0
    for i in range(rng.randint(0, 200)):
        start = clock + rng.choice([0.0, 0.02, 0.1, 1.5, 1.6, 3.0])
        end = start + rng.choice([0.0, 0.08, 0.16, 0.24, 0.4])
        words.append(Word(round(start, 2), round(end, 2), f"w{i}"))
        clock = end
    assert merge_words_with_speakers(words, turns) == reference_merge(words, turns)


# ---- Hand-written cases, one per rule ----


def seg(start: float, end: float, speaker: str) -> DiarizationSegment:
    return DiarizationSegment(start, end, speaker)


def speaker_of(word: Word, turns: Sequence[DiarizationSegment]) -> str:
    [block] = merge_words_with_speakers([word], turns)
    return block.speaker


def test_midpoint_turn_wins_over_larger_overlap() -> None:
    # Mid 1.0 lies in A (overlap 0.2); B overlaps 0.95 but misses the midpoint.
    assert speaker_of(Word(0.0, 2.0, "w"), [seg(0.0, 0.95, "B"), seg(0.9, 1.1, "A")]) == "A"


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        ([seg(0.0, 1.0, "A"), seg(1.0, 2.0, "B")], "A"),  # midpoint on both closed bounds
        ([seg(1.0, 2.0, "B"), seg(0.0, 1.0, "A")], "B"),  # input order, not time order
        ([seg(0.5, 3.0, "B"), seg(0.0, 3.0, "A")], "B"),  # nested: still the first given
        ([seg(0.0, 0.9, "A"), seg(1.0, 1.0, "Z")], "Z"),  # zero-length turn at the midpoint
    ],
)
def test_first_containing_turn_in_input_order(
    turns: list[DiarizationSegment], expected: str
) -> None:
    assert speaker_of(Word(0.5, 1.5, "w"), turns) == expected


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        ([seg(0.0, 1.5, "A"), seg(2.5, 5.0, "B")], "A"),  # tie 0.5 / 0.5: earlier turn
        ([seg(2.5, 5.0, "B"), seg(0.0, 1.5, "A")], "B"),
        ([seg(0.0, 1.5, "A"), seg(2.2, 5.0, "B")], "B"),  # 0.5 < 0.8
        ([seg(1.2, 1.4, "A"), seg(0.0, 1.3, "B"), seg(2.5, 2.8, "C")], "B"),  # 0.3 beats 0.2
        ([seg(0.0, 1.0, "A"), seg(3.0, 4.0, "B")], UNKNOWN_SPEAKER),  # touching only
        ([seg(5.0, 6.0, "A")], UNKNOWN_SPEAKER),
        ([seg(2.5, 1.5, "A")], UNKNOWN_SPEAKER),  # an inverted turn holds nothing
        ([], UNKNOWN_SPEAKER),
    ],
)
def test_overlap_fallback(turns: list[DiarizationSegment], expected: str) -> None:
    assert speaker_of(Word(1.0, 3.0, "w"), turns) == expected


def test_zero_length_and_inverted_words() -> None:
    turns = [seg(0.0, 1.0, "A"), seg(2.0, 3.0, "B")]
    assert speaker_of(Word(0.5, 0.5, "w"), turns) == "A"
    assert speaker_of(Word(1.5, 1.5, "w"), turns) == UNKNOWN_SPEAKER
    # Inverted words still have a midpoint, but no overlap with anything.
    assert speaker_of(Word(4.0, 0.0, "w"), turns) == "B"
    assert speaker_of(Word(1.0, 0.0, "w"), turns) == "A"
    assert speaker_of(Word(3.0, 0.0, "w"), turns) == UNKNOWN_SPEAKER


def test_silence_break_at_and_just_above_limit() -> None:
    turns = [seg(0.0, 10.0, "A")]
    at_limit = [Word(0.0, 1.0, "one"), Word(2.5, 3.0, "two")]
    above = [Word(0.0, 1.0, "one"), Word(math.nextafter(2.5, math.inf), 3.0, "two")]
    assert merge_words_with_speakers(at_limit, turns) == [SpeakerSegment(0, 3000, "A", "one two")]
    assert merge_words_with_speakers(above, turns) == [
        SpeakerSegment(0, 1000, "A", "one"),
        SpeakerSegment(2500, 3000, "A", "two"),
    ]


def test_gap_counts_from_previous_word_end() -> None:
    # The first word runs to 5 s, but the gap is measured from the word just before.
    words = [Word(0.0, 5.0, "a"), Word(1.0, 2.0, "b"), Word(3.6, 4.0, "c")]
    assert merge_words_with_speakers(words, [seg(0.0, 10.0, "A")]) == [
        SpeakerSegment(0, 2000, "A", "a b"),
        SpeakerSegment(3600, 4000, "A", "c"),
    ]


def test_speaker_change_starts_block_and_unknown_groups() -> None:
    turns = [seg(0.0, 1.0, "A"), seg(1.0, 2.0, "B")]
    words = [
        Word(0.1, 0.4, "hello"),
        Word(0.5, 0.9, "you"),
        Word(1.1, 1.5, "hi"),
        Word(2.5, 2.8, "um"),
        Word(2.9, 3.2, "er"),
        Word(0.2, 0.3, "back"),
    ]
    assert merge_words_with_speakers(words, turns) == [
        SpeakerSegment(100, 900, "A", "hello you"),
        SpeakerSegment(1100, 1500, "B", "hi"),
        SpeakerSegment(2500, 3200, UNKNOWN_SPEAKER, "um er"),
        SpeakerSegment(200, 300, "A", "back"),  # input order is kept, not re-sorted
    ]


def test_punctuation_attaches_and_spaces_normalise() -> None:
    texts = ["Hello", ",", "world", "!", "(", "yes", ")", "'s", '"', "ok", ";", ":", "?"]
    texts += ["]", "}", "."]
    words = [Word(i * 0.1, i * 0.1 + 0.05, text) for i, text in enumerate(texts)]
    [block] = merge_words_with_speakers(words, [seg(0.0, 5.0, "A")])
    assert block.text == "Hello, world! ( yes)'s\" ok;:?]}."


def test_leading_space_and_blank_tokens() -> None:
    texts = [" Good", " morning", "  ", "", " .", "\tall "]
    words = [Word(i * 0.2, i * 0.2 + 0.1, text) for i, text in enumerate(texts)]
    [block] = merge_words_with_speakers(words, [seg(0.0, 5.0, "A")])
    assert block.text == "Good morning. all"
    [blank] = merge_words_with_speakers([Word(0.0, 0.1, "  ")], [])
    assert blank == SpeakerSegment(0, 100, UNKNOWN_SPEAKER, "")


def test_milliseconds_truncate() -> None:
    [block] = merge_words_with_speakers([Word(1.0009, 2.9999, "w")], [])
    assert (block.start_ms, block.end_ms) == (1000, 2999)
    [negative] = merge_words_with_speakers([Word(-0.0019, 0.5, "w")], [])
    assert negative.start_ms == -1  # int() truncates towards zero, like the predecessor


def test_no_words() -> None:
    assert merge_words_with_speakers([], [seg(0.0, 1.0, "A")]) == []


# ---- Window plans ----


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (0.0, [(0.0, 0.0)]),
        (300.0, [(0.0, 300.0)]),
        (600.0, [(0.0, 600.0)]),
        (601.0, [(0.0, 600.0), (540.0, 601.0)]),
        (1140.0, [(0.0, 600.0), (540.0, 1140.0)]),
        (1141.0, [(0.0, 600.0), (540.0, 1140.0), (1080.0, 1141.0)]),
    ],
)
def test_plan_windows_cases(duration: float, expected: list[tuple[float, float]]) -> None:
    windows = plan_windows(duration)
    assert windows == [Window(i, start, end) for i, (start, end) in enumerate(expected)]


def test_plan_windows_ninety_minutes() -> None:
    windows = plan_windows(5400.0)
    assert len(windows) == 10
    assert windows[-1] == Window(9, 4860.0, 5400.0)
    assert all(w.duration_s <= 600.0 for w in windows)


@pytest.mark.parametrize(
    ("duration", "window", "overlap"),
    [
        (-1.0, 600.0, 60.0),
        (math.nan, 600.0, 60.0),
        (math.inf, 600.0, 60.0),
        (100.0, 0.0, 0.0),
        (100.0, -5.0, 0.0),
        (100.0, 600.0, -1.0),
        (100.0, 600.0, 600.0),
        (100.0, 600.0, math.nan),
    ],
)
def test_plan_windows_rejects(duration: float, window: float, overlap: float) -> None:
    with pytest.raises(ValueError):
        plan_windows(duration, window, overlap)


@settings(max_examples=300, deadline=None, database=None)
@given(
    duration=st.floats(min_value=0.0, max_value=20_000.0),
    window=st.floats(min_value=5.0, max_value=900.0),
    overlap_share=st.floats(min_value=0.0, max_value=0.9),
)
def test_plan_windows_cover_with_overlap(
    duration: float, window: float, overlap_share: float
) -> None:
    overlap = window * overlap_share
    windows = plan_windows(duration, window, overlap)
    assert windows[0].start_s == 0.0
    assert windows[-1].end_s == duration
    assert [w.index for w in windows] == list(range(len(windows)))
    for w in windows:
        assert 0.0 <= w.duration_s <= window + 1e-9
    for before, after in pairwise(windows):
        assert before.end_s - after.start_s == pytest.approx(overlap, abs=1e-6)
        assert after.duration_s > overlap - 1e-6


# ---- Reconciliation across windows ----

TRUE = ("Ann", "Bob", "Cy")


def conversation(rng: random.Random, duration: float) -> list[DiarizationSegment]:
    """Rounds in which every speaker talks once (random order), with pauses and cross-talk."""
    truth: list[DiarizationSegment] = []
    clock = 0.0
    while clock < duration:
        for turn, name in enumerate(rng.sample(TRUE, len(TRUE))):
            start = clock + rng.choice([0.3, 0.5, 0.8, 1.2])
            end = min(start + rng.uniform(2.0, 8.0), duration)
            if start < end:
                truth.append(DiarizationSegment(start, end, name))
            clock = end
            if turn < len(TRUE) - 1 and rng.random() < 0.15:
                clock -= 0.6  # the next speaker starts before this one stops
    return truth


def diarize_windows(
    rng: random.Random,
    truth: Sequence[DiarizationSegment],
    windows: Sequence[Window],
    jitter: float,
) -> list[list[DiarizationSegment]]:
    """What Sortformer would answer per window: relative times, shuffled local labels."""
    result = []
    for window in windows:
        labels = dict(
            zip(TRUE, rng.sample([f"Speaker_{i}" for i in range(4)], len(TRUE)), strict=True)
        )
        local = []
        for turn in truth:
            start = max(turn.start_s, window.start_s) + rng.uniform(-jitter, jitter)
            end = min(turn.end_s, window.end_s) + rng.uniform(-jitter, jitter)
            start, end = max(start, window.start_s), min(end, window.end_s)
            if end > start:
                local.append(
                    DiarizationSegment(
                        start - window.start_s, end - window.start_s, labels[turn.speaker]
                    )
                )
        rng.shuffle(local)
        result.append(local)
    return result


def true_speaker_of_labels(
    result: ReconciledDiarization, truth: Sequence[DiarizationSegment]
) -> dict[str, str]:
    """Each global label's true speaker; fails unless nearly all its time is one person's."""
    starts = [t.start_s for t in truth]  # truth is in time order, turns are under 10 s
    shared: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for segment in result.segments:
        for turn in truth[bisect_left(starts, segment.start_s - 10.0) :]:
            if turn.start_s >= segment.end_s:
                break
            overlap = min(turn.end_s, segment.end_s) - max(turn.start_s, segment.start_s)
            if overlap > 0:
                shared[segment.speaker][turn.speaker] += overlap
    found = {}
    for label, per_name in shared.items():
        name = max(per_name, key=per_name.__getitem__)
        assert per_name[name] >= 0.97 * sum(per_name.values()), (label, dict(per_name))
        found[label] = name
    return found


def test_ninety_minutes_reconcile_exactly() -> None:
    rng = random.Random(20240611)
    truth = conversation(rng, 5400.0)
    windows = plan_windows(5400.0)
    result = reconcile_windows(windows, diarize_windows(rng, truth, windows, jitter=0.0))
    assert result.uncertain == ()
    assert len(result.speakers) == 3
    name = true_speaker_of_labels(result, truth)
    assert sorted(name.values()) == sorted(TRUE)  # one global label per true speaker
    # No duplicates from the overlaps, and turns split by a cut are whole again.
    got = sorted((s.start_s, s.end_s, name[s.speaker]) for s in result.segments)
    want = sorted((t.start_s, t.end_s, t.speaker) for t in truth)
    assert len(got) == len(want)
    for (g_start, g_end, g_name), (w_start, w_end, w_name) in zip(got, want, strict=True):
        assert g_name == w_name
        assert g_start == pytest.approx(w_start, abs=1e-6)
        assert g_end == pytest.approx(w_end, abs=1e-6)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_ninety_minutes_reconcile_with_boundary_noise(seed: int) -> None:
    rng = random.Random(seed)
    truth = conversation(rng, 5400.0)
    windows = plan_windows(5400.0)
    result = reconcile_windows(windows, diarize_windows(rng, truth, windows, jitter=0.1))
    assert result.uncertain == ()
    assert result.speakers == ("Speaker_0", "Speaker_1", "Speaker_2")
    assert sorted(true_speaker_of_labels(result, truth).values()) == sorted(TRUE)
    # Every kept second comes from exactly one window: per speaker, nothing overlaps.
    by_speaker: dict[str, list[DiarizationSegment]] = defaultdict(list)
    for segment in result.segments:
        by_speaker[segment.speaker].append(segment)
    speech = 0.0
    for segments in by_speaker.values():
        for before, after in pairwise(segments):
            assert after.start_s >= before.end_s
        speech += sum(s.end_s - s.start_s for s in segments)
    true_speech = sum(t.end_s - t.start_s for t in truth)
    assert speech == pytest.approx(true_speech, rel=0.02)


TWO = [Window(0, 0.0, 600.0), Window(1, 540.0, 1140.0)]


def test_speaker_silent_in_overlap_is_uncertain_and_guessed() -> None:
    # Cy talks in both windows but never inside the overlap [540, 600].
    first = [seg(100.0, 200.0, "Speaker_2"), seg(500.0, 560.0, "Speaker_0")]
    first += [seg(560.0, 600.0, "Speaker_1")]
    second = [seg(0.0, 20.0, "Speaker_1"), seg(20.0, 60.0, "Speaker_0")]
    second += [seg(300.0, 400.0, "Speaker_3")]
    result = reconcile_windows(TWO, [first, second])
    assert result.uncertain == ((1, "Speaker_3"),)
    assert result.speakers == ("Speaker_0", "Speaker_1", "Speaker_2")
    assert result.segments == (
        seg(100.0, 200.0, "Speaker_0"),  # Cy
        seg(500.0, 560.0, "Speaker_1"),  # Ann, from the first window
        seg(560.0, 600.0, "Speaker_2"),  # Bob: one turn although both windows hold it
        seg(840.0, 940.0, "Speaker_0"),  # Cy again: guessed, the only unmatched known speaker
    )


def test_newcomer_gets_new_label_when_no_known_speaker_is_free() -> None:
    first = [seg(500.0, 570.0, "Speaker_0"), seg(570.0, 600.0, "Speaker_1")]
    second = [seg(0.0, 30.0, "Speaker_1"), seg(30.0, 60.0, "Speaker_0")]
    second += [seg(200.0, 300.0, "Speaker_2")]
    result = reconcile_windows(TWO, [first, second])
    assert result.uncertain == ((1, "Speaker_2"),)
    assert result.speakers == ("Speaker_0", "Speaker_1", "Speaker_2")
    assert result.segments[-1] == seg(740.0, 840.0, "Speaker_2")


def test_little_shared_speech_is_matched_but_uncertain() -> None:
    first = [seg(500.0, 580.0, "Speaker_0"), seg(580.0, 581.5, "Speaker_1")]
    second = [seg(0.0, 40.0, "Speaker_3"), seg(40.0, 41.5, "Speaker_0")]
    second += [seg(100.0, 120.0, "Speaker_0")]
    result = reconcile_windows(TWO, [first, second])
    assert result.uncertain == ((1, "Speaker_0"),)
    assert result.speakers == ("Speaker_0", "Speaker_1")
    assert result.segments[-1] == seg(640.0, 660.0, "Speaker_1")
    lenient = reconcile_windows(TWO, [first, second], min_overlap_speech_s=1.0)
    assert lenient.uncertain == ()


def test_assignment_maximises_total_shared_speech() -> None:
    # Greedy would pair local X with A (10 s) and leave Y unmatched; the optimum pairs
    # X with B (9 s) and Y with A (8 s): 17 s in all. The overlap is [500, 600].
    windows = [Window(0, 0.0, 600.0), Window(1, 500.0, 1100.0)]
    first = [seg(540.0, 550.0, "A"), seg(550.0, 559.0, "B"), seg(559.0, 567.0, "A")]
    second = [seg(40.0, 50.0, "X"), seg(50.0, 59.0, "X"), seg(59.0, 67.0, "Y")]
    second += [seg(500.0, 510.0, "X"), seg(520.0, 530.0, "Y")]
    result = reconcile_windows(windows, [first, second])
    assert result.uncertain == ()
    assert result.segments == (
        seg(540.0, 550.0, "Speaker_0"),  # the first window's A, up to the cut at 550 s
        seg(550.0, 559.0, "Speaker_1"),  # then the second window's: X is B
        seg(559.0, 567.0, "Speaker_0"),  # Y is A
        seg(1000.0, 1010.0, "Speaker_1"),
        seg(1020.0, 1030.0, "Speaker_0"),
    )


def test_single_window_renames_by_first_speech() -> None:
    result = reconcile_windows(
        [Window(0, 0.0, 300.0)], [[seg(5.0, 9.0, "Speaker_3"), seg(1.0, 4.0, "Speaker_1")]]
    )
    assert result == ReconciledDiarization(
        segments=(seg(1.0, 4.0, "Speaker_0"), seg(5.0, 9.0, "Speaker_1")),
        speakers=("Speaker_0", "Speaker_1"),
    )


def test_reconcile_empty_inputs() -> None:
    assert reconcile_windows([], []) == ReconciledDiarization((), ())
    assert reconcile_windows(TWO, [[], []]) == ReconciledDiarization((), ())


@pytest.mark.parametrize(
    "windows",
    [
        [Window(0, 0.0, 600.0), Window(1, 601.0, 900.0)],  # a gap
        [Window(0, 0.0, 600.0), Window(1, 0.0, 900.0)],  # same start
        [Window(0, 0.0, 600.0), Window(1, 100.0, 500.0)],  # inside the previous one
        [Window(0, 10.0, 0.0), Window(1, 5.0, 20.0)],  # inverted
    ],
)
def test_reconcile_rejects_bad_windows(windows: list[Window]) -> None:
    with pytest.raises(ValueError):
        reconcile_windows(windows, [[], []])


def test_reconcile_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError):
        reconcile_windows(TWO, [[]])
    with pytest.raises(ValueError):
        reconcile_windows(TWO, [[], []], min_overlap_speech_s=-1.0)
