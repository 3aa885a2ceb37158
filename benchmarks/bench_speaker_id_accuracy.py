"""Who-is-speaking quality: identification accuracy and false accepts on real voices.

Distinct synthetic voices (espeak-ng's variants) say the same household
sentences; a real speaker-embedding model running on CPU here (Resemblyzer's
GE2E, its weights in its wheel) embeds every clip, in its own venv
(``.venv-voices``, built on first run: Python 3.11, the machine's CPU torch).
The matching is the integration's own (``spark/voiceprints.py``): each enrolled
voice's voiceprint is folded from its first ``--enrol`` clips, held-out clips
are matched per clip (an Assist command) and per two-speaker recording
(one-to-one), and a group of voices is never enrolled (unknown voices, the
false accepts); the groups rotate so every voice is unknown once. The
threshold is swept; the figures at the integration's default and at the
best threshold (highest mean of accuracy and unknown-rejection) are printed.

Resemblyzer is not the container's model (pyannote community-1's WeSpeaker
ResNet34): its cosine scale differs, so the best threshold here says how well
the matching separates voices, not what the container's threshold must be.

Run: .venv/bin/python -m benchmarks.bench_speaker_id_accuracy [--enrol 3] [--setup]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from custom_components.spark_audio.spark.transcripts.voiceprints import (
    DEFAULT_THRESHOLD,
    Voiceprint,
    assign_speakers,
)

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-voices"
EMBED = Path(__file__).with_name("speaker_id_embed.py")
PYTHON = Path.home() / ".pyenv/versions/3.11.7/bin/python3.11"
REQUIREMENTS = ("torch==2.13.0+cpu", "resemblyzer==0.1.4", "setuptools<81")
"""setuptools: resemblyzer's webrtcvad still imports pkg_resources."""
VOICES = tuple(f"en+m{i}" for i in range(1, 8)) + tuple(f"en+f{i}" for i in range(1, 6))
SENTENCES = (
    "Turn on the lights in the living room, please.",
    "What is the weather going to be like tomorrow morning?",
    "Set a timer for twelve minutes for the pasta.",
    "Add milk, eggs and fresh bread to the shopping list.",
    "Play some quiet music in the kitchen.",
    "Remind me to call my sister at six in the evening.",
    "Is the front door locked and the garage closed?",
    "Turn the heating down to nineteen degrees tonight.",
    "How long will it take to drive to the train station?",
    "Switch off everything downstairs when we go to bed.",
)
UNKNOWN_GROUP = 3
THRESHOLDS = tuple(round(0.30 + 0.01 * i, 2) for i in range(70))


@dataclass
class Tally:
    """Outcomes of one threshold: per enrolled-voice sample and per unknown-voice sample."""

    correct: int = 0
    wrong: int = 0
    missed: int = 0
    accepted_unknown: int = 0
    rejected_unknown: int = 0

    @property
    def known(self) -> int:
        return self.correct + self.wrong + self.missed

    @property
    def unknown(self) -> int:
        return self.accepted_unknown + self.rejected_unknown

    @property
    def accuracy(self) -> float:
        return self.correct / self.known

    @property
    def false_accept(self) -> float:
        """Unknown voices named as somebody."""
        return self.accepted_unknown / self.unknown

    @property
    def false_reject(self) -> float:
        """Enrolled voices left unknown."""
        return self.missed / self.known

    @property
    def misidentified(self) -> float:
        """Enrolled voices named as somebody else."""
        return self.wrong / self.known

    @property
    def balanced(self) -> float:
        return (self.accuracy + 1 - self.false_accept) / 2


Trial = dict[str, tuple[str, Sequence[float]]]
"""One recording: speaker label -> (the voice that really spoke, its embedding)."""


def score(trial: Trial, prints: Mapping[str, Voiceprint], threshold: float, tally: Tally) -> None:
    """Match one recording as the integration does and count each speaker's outcome."""
    matches = assign_speakers({label: e for label, (_, e) in trial.items()}, prints, threshold)
    for label, (voice, _) in trial.items():
        named = matches[label].person if label in matches else None
        if voice in prints:
            if named == voice:
                tally.correct += 1
            elif named is None:
                tally.missed += 1
            else:
                tally.wrong += 1
        elif named is None:
            tally.rejected_unknown += 1
        else:
            tally.accepted_unknown += 1


@dataclass
class Rotation:
    """One choice of never-enrolled voices: the others' voiceprints and the trials."""

    prints: dict[str, Voiceprint]
    singles: list[Trial]
    pairs: list[Trial]


def folds(embeddings: Mapping[str, list[list[float]]], enrol: int) -> list[Rotation]:
    """Per rotation: voiceprints of the enrolled voices, single-clip and two-speaker trials."""
    voices = sorted(embeddings)
    out: list[Rotation] = []
    for first in range(0, len(voices), UNKNOWN_GROUP):
        unknown = set(voices[first : first + UNKNOWN_GROUP])
        prints: dict[str, Voiceprint] = {}
        for voice in voices:
            if voice in unknown:
                continue
            clips = embeddings[voice][:enrol]
            vp = Voiceprint.first(clips[0])
            for clip in clips[1:]:
                vp = vp.add(clip)
            prints[voice] = vp
        held = {v: (e if v in unknown else e[enrol:]) for v, e in embeddings.items()}
        singles: list[Trial] = [{"A": (v, e)} for v, clips in held.items() for e in clips]
        pairs: list[Trial] = []
        for a, b in itertools.combinations(voices, 2):
            for index, (ea, eb) in enumerate(zip(held[a], held[b], strict=False)):
                if index % 2 == 0:  # every other sentence: enough pairs, no double counting
                    pairs.append({"A": (a, ea), "B": (b, eb)})
        out.append(Rotation(prints, singles, pairs))
    return out


def sweep(rotations: list[Rotation], pairs: bool) -> dict[float, Tally]:
    """One tally per threshold over every rotation's single-clip or two-speaker trials."""
    tallies = {t: Tally() for t in (*THRESHOLDS, DEFAULT_THRESHOLD)}
    for threshold, tally in tallies.items():
        for rotation in rotations:
            for trial in rotation.pairs if pairs else rotation.singles:
                score(trial, rotation.prints, threshold, tally)
    return tallies


def report(title: str, tallies: dict[float, Tally]) -> None:
    """The default threshold's and the best threshold's figures, then every 0.05."""
    best = max(tallies, key=lambda t: (tallies[t].balanced, -abs(t - DEFAULT_THRESHOLD)))
    some = tallies[best]
    print(f"{title} ({some.known} enrolled-voice, {some.unknown} unknown-voice samples)")
    rows = [("default", DEFAULT_THRESHOLD), ("best", best)]
    rows += [("", t) for t in THRESHOLDS if round(t * 100) % 5 == 0]
    for label, threshold in rows:
        t = tallies[threshold]
        print(
            f"  {label:7} threshold {threshold:.2f}: accuracy {t.accuracy:6.1%}  "
            f"false accept {t.false_accept:6.1%}  false reject {t.false_reject:6.1%}  "
            f"misidentified {t.misidentified:6.1%}"
        )


def ensure_venv() -> Path:
    """``.venv-voices`` with resemblyzer, built once (CPU torch from PIP_FIND_LINKS)."""
    python = VENV / "bin/python"
    if python.exists():
        return python
    print(f"building {VENV} (once)", file=sys.stderr)
    subprocess.run([str(PYTHON), "-m", "venv", str(VENV)], check=True)
    env = {**os.environ, "PIP_FIND_LINKS": os.environ.get("PIP_FIND_LINKS", "/opt/wheels")}
    subprocess.run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True, env=env)
    return python


def embed(python: Path) -> dict[str, list[list[float]]]:
    """Every voice saying every sentence, embedded in the voices venv (offline).

    Kept in the venv keyed by the requirements, voices and sentences, so a
    second run only sweeps (``--fresh`` embeds again).
    """
    key = hashlib.sha256(json.dumps([REQUIREMENTS, VOICES, SENTENCES]).encode()).hexdigest()[:16]
    cached = VENV / f"embeddings-{key}.json"
    if not cached.exists():
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
        with tempfile.TemporaryDirectory(prefix="speaker-id-") as folder:
            out = Path(folder) / "embeddings.json"
            command = [str(python), str(EMBED), str(out), *VOICES, "--", *SENTENCES]
            subprocess.run(command, check=True, env=env)
            out.replace(cached)
    data: dict[str, list[list[float]]] = json.loads(cached.read_text(encoding="utf-8"))
    return data


def main() -> None:
    """Build the venv, embed, sweep, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enrol", type=int, default=3, help="clips per voiceprint")
    parser.add_argument("--setup", action="store_true", help="only build .venv-voices")
    parser.add_argument("--fresh", action="store_true", help="embed again (no cached vectors)")
    args = parser.parse_args()
    python = ensure_venv()
    if args.setup:
        return
    if args.fresh:
        for old in VENV.glob("embeddings-*.json"):
            old.unlink()
    embeddings = embed(python)
    rotations = folds(embeddings, args.enrol)
    dims = Counter(len(e) for clips in embeddings.values() for e in clips)
    print(
        f"{len(VOICES)} espeak-ng voices x {len(SENTENCES)} sentences, Resemblyzer "
        f"{'/'.join(map(str, dims))}-dim; voiceprints from {args.enrol} clips, "
        f"{UNKNOWN_GROUP} voices never enrolled per rotation, {len(rotations)} rotations"
    )
    report("Per clip (an Assist command)", sweep(rotations, pairs=False))
    report("Per two-speaker recording (one-to-one)", sweep(rotations, pairs=True))


if __name__ == "__main__":
    main()
