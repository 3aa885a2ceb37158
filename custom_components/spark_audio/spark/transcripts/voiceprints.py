"""Voiceprints and who-is-who matching, from speaker embeddings (pure, HA-free).

A voiceprint is the running mean of a person's L2-normalised sample embeddings
with its sample count, so it improves as samples are added; it also keeps its
newest samples (a bounded number), so leave-one-out can measure on the user's
own voices how well the matching separates them. A recording's
detected speakers are matched to enrolled persons one-to-one (two speaker
clusters can never both be Anna), maximising the total cosine similarity;
a speaker whose best available person is below the threshold stays unknown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..models import SpeakerTranscript

DEFAULT_THRESHOLD = 0.6
"""Cosine similarity a speaker must reach to be named (pyannote-style embeddings)."""

MAX_KEPT_SAMPLES = 20
"""Sample embeddings a voiceprint keeps for leave-one-out (the newest; the mean has all)."""

_EXACT_MAX = 12
"""Largest side searched exactly (bitmask over it); beyond, the greedy best-pairs-first."""


def normalise(vector: Sequence[float]) -> tuple[float, ...]:
    """The unit-length copy of ``vector``; ValueError when it is empty, zero or not finite."""
    values = tuple(float(v) for v in vector)
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError("an embedding must be a non-empty list of finite numbers")
    norm = math.sqrt(math.fsum(v * v for v in values))
    if norm == 0.0:
        raise ValueError("an embedding must not be all zeros")
    return tuple(v / norm for v in values)


def cosine(first: Sequence[float], second: Sequence[float]) -> float:
    """Cosine similarity of two embeddings of the same length (-1 … 1)."""
    if len(first) != len(second):
        raise ValueError(f"embeddings differ in length ({len(first)} vs {len(second)})")
    a, b = normalise(first), normalise(second)
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True, slots=True)
class Voiceprint:
    """One person's voice: the mean of their normalised samples, and how many there were."""

    mean: tuple[float, ...]
    samples: int
    seconds: float = 0.0
    """Speech behind it, in seconds (what enrolment has heard so far)."""
    kept: tuple[tuple[float, ...], ...] = ()
    """The newest normalised samples (at most ``MAX_KEPT_SAMPLES``), for leave-one-out."""

    @classmethod
    def first(cls, embedding: Sequence[float], seconds: float = 0.0) -> Voiceprint:
        """A voiceprint from one sample."""
        sample = normalise(embedding)
        return cls(sample, 1, seconds, (sample,))

    def add(self, embedding: Sequence[float], seconds: float = 0.0) -> Voiceprint:
        """A new voiceprint: this one with one more sample folded into the running mean."""
        sample = normalise(embedding)
        if len(sample) != len(self.mean):
            raise ValueError(
                f"embedding has {len(sample)} dimensions, the voiceprint {len(self.mean)}"
            )
        count = self.samples + 1
        mean = tuple(m + (s - m) / count for m, s in zip(self.mean, sample, strict=True))
        kept = (*self.kept, sample)[-MAX_KEPT_SAMPLES:]
        return Voiceprint(mean, count, self.seconds + seconds, kept)

    def without(self, index: int) -> Voiceprint | None:
        """The voiceprint as if kept sample ``index`` had never been added (None: none left).

        The mean is the plain average of every sample, so taking one out is exact.
        """
        sample = self.kept[index]
        count = self.samples - 1
        if count < 1:
            return None
        mean = tuple((m * self.samples - s) / count for m, s in zip(self.mean, sample, strict=True))
        return Voiceprint(mean, count, self.seconds, self.kept[:index] + self.kept[index + 1 :])

    def similarity(self, embedding: Sequence[float]) -> float:
        """Cosine similarity of ``embedding`` to this voice (a wrong length counts as -1)."""
        if len(embedding) != len(self.mean):
            return -1.0
        try:
            return cosine(self.mean, embedding)
        except ValueError:  # a mean that cancelled out to zero matches nothing
            return -1.0

    def as_dict(self) -> dict[str, Any]:
        """The stored form (JSON-safe)."""
        return {
            "mean": list(self.mean),
            "samples": self.samples,
            "seconds": self.seconds,
            "kept": [list(sample) for sample in self.kept],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Voiceprint:
        """Read the stored form; ValueError/TypeError/KeyError when it is damaged.

        Voiceprints stored before samples were kept have none (leave-one-out skips
        them); damaged kept samples are dropped, the mean is kept.
        """
        mean = tuple(float(v) for v in data["mean"])
        samples = int(data["samples"])
        if not mean or samples < 1:
            raise ValueError("empty voiceprint")
        return cls(
            mean, samples, float(data.get("seconds") or 0.0), _kept(data, len(mean), samples)
        )


def _kept(data: Mapping[str, Any], dimensions: int, samples: int) -> tuple[tuple[float, ...], ...]:
    """The stored kept samples; none when any is damaged or they cannot belong to the mean."""
    try:
        kept = tuple(tuple(float(v) for v in sample) for sample in data.get("kept") or ())
        for sample in kept:
            normalise(sample)  # finite and not zero; stored normalised already
    except (TypeError, ValueError):
        return ()
    if any(len(sample) != dimensions for sample in kept) or len(kept) > samples:
        return ()
    return kept[-MAX_KEPT_SAMPLES:]


@dataclass(frozen=True, slots=True)
class SpeakerMatch:
    """A detected speaker named as an enrolled person, with the similarity that did it."""

    person: str
    score: float


def assign_speakers(
    speakers: Mapping[str, Sequence[float]],
    voiceprints: Mapping[str, Voiceprint],
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[str, SpeakerMatch]:
    """Name the detected speakers: one-to-one, best total similarity, unknowns left out.

    ``speakers`` maps a recording's speaker labels (``Speaker_0``) to their
    embeddings; ``voiceprints`` maps person ids to voiceprints. Only pairs at
    or above ``threshold`` can be matched; among those, the assignment with the
    highest total similarity wins, each person used at most once. Labels not in
    the result are unknown voices.
    """
    labels, persons = sorted(speakers), sorted(voiceprints)
    scores = {
        (label, person): score
        for label in labels
        for person in persons
        if (score := voiceprints[person].similarity(speakers[label])) >= threshold
    }
    if not scores:
        return {}
    if min(len(labels), len(persons)) <= _EXACT_MAX:
        pairs = _exact(labels, persons, scores)
    else:
        pairs = _greedy(scores)
    return {label: SpeakerMatch(person, scores[label, person]) for label, person in pairs}


def _exact(
    labels: list[str], persons: list[str], scores: Mapping[tuple[str, str], float]
) -> list[tuple[str, str]]:
    """Best one-to-one assignment: dynamic programme over subsets of the smaller side."""
    flipped = len(persons) < len(labels)
    small, large = (persons, labels) if flipped else (labels, persons)

    def score(s: str, big: str) -> float | None:
        return scores.get((big, s) if flipped else (s, big))

    # used-subset of the small side -> (total, pairs as (small, large))
    best: dict[int, tuple[float, tuple[tuple[str, str], ...]]] = {0: (0.0, ())}
    for big in large:
        step = dict(best)
        for used, (total, pairs) in best.items():
            for index, s in enumerate(small):
                bit = 1 << index
                value = score(s, big)
                if used & bit or value is None:
                    continue
                candidate = (total + value, (*pairs, (s, big)))
                if candidate[0] > step.get(used | bit, (-math.inf, ()))[0]:
                    step[used | bit] = candidate
        best = step
    _total, chosen = max(best.values(), key=lambda item: (item[0], len(item[1])))
    return [(big, s) if flipped else (s, big) for s, big in chosen]


def _greedy(scores: Mapping[tuple[str, str], float]) -> list[tuple[str, str]]:
    """Highest pairs first (only for more than ``_EXACT_MAX`` speakers and persons)."""
    taken_labels: set[str] = set()
    taken_persons: set[str] = set()
    pairs: list[tuple[str, str]] = []
    for (label, person), _score in sorted(scores.items(), key=lambda item: -item[1]):
        if label not in taken_labels and person not in taken_persons:
            taken_labels.add(label)
            taken_persons.add(person)
            pairs.append((label, person))
    return pairs


@dataclass(slots=True)
class LeaveOneOutTally:
    """Outcomes of held-out samples: each against the voiceprints built without it.

    Enrolled-voice trials: the sample against every voiceprint, its own person's
    rebuilt without it (skipped when that was the person's only sample).
    Unknown-voice trials: the sample against the other persons only, as if a
    stranger spoke (skipped when nobody else is enrolled).
    """

    samples: int = 0
    identified: int = 0
    """Named as their own person."""
    misidentified: int = 0
    """Named as somebody else."""
    missed: int = 0
    """Left unknown although enrolled."""
    unknown_trials: int = 0
    false_accepts: int = 0
    """As a stranger, named as somebody anyway."""

    @property
    def enrolled_trials(self) -> int:
        """Trials in which the sample's own person was enrolled."""
        return self.identified + self.misidentified + self.missed

    @property
    def accuracy(self) -> float | None:
        """Share of enrolled-voice trials named right (None without such trials)."""
        return _share(self.identified, self.enrolled_trials)

    @property
    def false_accept_rate(self) -> float | None:
        """Share of unknown-voice trials named as somebody (None without such trials)."""
        return _share(self.false_accepts, self.unknown_trials)

    def add(self, other: LeaveOneOutTally) -> None:
        """Count ``other``'s outcomes in too."""
        self.samples += other.samples
        self.identified += other.identified
        self.misidentified += other.misidentified
        self.missed += other.missed
        self.unknown_trials += other.unknown_trials
        self.false_accepts += other.false_accepts


@dataclass(frozen=True, slots=True)
class LeaveOneOut:
    """Leave-one-out over every enrolled person's kept samples, at one threshold."""

    threshold: float
    persons: Mapping[str, LeaveOneOutTally]
    """Per person id; persons whose voiceprint keeps no samples have a tally of 0 samples."""

    @property
    def total(self) -> LeaveOneOutTally:
        """Everyone's outcomes summed."""
        total = LeaveOneOutTally()
        for tally in self.persons.values():
            total.add(tally)
        return total


def leave_one_out(
    voiceprints: Mapping[str, Voiceprint], threshold: float = DEFAULT_THRESHOLD
) -> LeaveOneOut:
    """Match each kept sample as a command would be, against the voiceprints without it."""
    persons: dict[str, LeaveOneOutTally] = {}
    for person in sorted(voiceprints):
        voiceprint = voiceprints[person]
        others = {p: vp for p, vp in voiceprints.items() if p != person}
        tally = persons[person] = LeaveOneOutTally()
        for index, sample in enumerate(voiceprint.kept):
            tally.samples += 1
            if (rest := voiceprint.without(index)) is not None:
                named = _named(sample, {**others, person: rest}, threshold)
                if named == person:
                    tally.identified += 1
                elif named is None:
                    tally.missed += 1
                else:
                    tally.misidentified += 1
            if others:
                tally.unknown_trials += 1
                tally.false_accepts += _named(sample, others, threshold) is not None
    return LeaveOneOut(threshold, persons)


def _named(
    sample: Sequence[float], voiceprints: Mapping[str, Voiceprint], threshold: float
) -> str | None:
    match = assign_speakers({"sample": sample}, voiceprints, threshold).get("sample")
    return None if match is None else match.person


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def name_speakers(
    transcript: SpeakerTranscript, names: Mapping[str, tuple[str, str]]
) -> SpeakerTranscript:
    """``transcript`` with each label in ``names`` replaced by (display name, person id).

    Labels not in ``names`` stay as they are; the speaker embeddings are left out
    of the result (biometric data goes no further than the matching).
    """
    segments = tuple(
        replace(segment, speaker=names[segment.speaker][0], person=names[segment.speaker][1])
        if segment.speaker in names
        else segment
        for segment in transcript.segments
    )
    detected = tuple(
        names[label][0] if label in names else label for label in transcript.speakers_detected
    )
    return replace(transcript, segments=segments, speakers_detected=detected, speaker_embeddings={})
