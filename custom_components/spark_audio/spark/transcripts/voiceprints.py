"""Voiceprints and who-is-who matching, from speaker embeddings (pure, HA-free).

A voiceprint is the running mean of a person's L2-normalised sample embeddings
with its sample count, so it improves as samples are added. A recording's
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

    @classmethod
    def first(cls, embedding: Sequence[float], seconds: float = 0.0) -> Voiceprint:
        """A voiceprint from one sample."""
        return cls(normalise(embedding), 1, seconds)

    def add(self, embedding: Sequence[float], seconds: float = 0.0) -> Voiceprint:
        """A new voiceprint: this one with one more sample folded into the running mean."""
        sample = normalise(embedding)
        if len(sample) != len(self.mean):
            raise ValueError(
                f"embedding has {len(sample)} dimensions, the voiceprint {len(self.mean)}"
            )
        count = self.samples + 1
        mean = tuple(m + (s - m) / count for m, s in zip(self.mean, sample, strict=True))
        return Voiceprint(mean, count, self.seconds + seconds)

    def similarity(self, embedding: Sequence[float]) -> float:
        """Cosine similarity of ``embedding`` to this voice (a wrong length counts as -1)."""
        if len(embedding) != len(self.mean):
            return -1.0
        return cosine(self.mean, embedding)

    def as_dict(self) -> dict[str, Any]:
        """The stored form (JSON-safe)."""
        return {"mean": list(self.mean), "samples": self.samples, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Voiceprint:
        """Read the stored form; ValueError/TypeError/KeyError when it is damaged."""
        mean = tuple(float(v) for v in data["mean"])
        samples = int(data["samples"])
        if not mean or samples < 1:
            raise ValueError("empty voiceprint")
        return cls(mean, samples, float(data.get("seconds") or 0.0))


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

    ``speakers`` maps a recording's speaker labels (``SPEAKER_00``) to their
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
