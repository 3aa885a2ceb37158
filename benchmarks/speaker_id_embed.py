"""Synthetic voices through Resemblyzer: the embedding half of bench_speaker_id_accuracy.

Runs inside ``.venv-voices`` (Python 3.11, CPU torch, ``resemblyzer`` whose wheel
carries its GE2E weights: nothing is downloaded), never in the project's venv.
Each espeak-ng voice variant says each sentence; the clip's embedding is
Resemblyzer's utterance embedding. Writes ``{"voice": [[...] per sentence]}``
as JSON to the path given.

Run by the benchmark:
    .venv-voices/bin/python benchmarks/speaker_id_embed.py OUT VOICE... -- SENTENCE...
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def main(argv: list[str]) -> int:
    """Synthesise, embed, write the JSON."""
    resemblyzer = importlib.import_module("resemblyzer")  # only in .venv-voices

    out, rest = Path(argv[0]), argv[1:]
    split = rest.index("--")
    voices, sentences = rest[:split], rest[split + 1 :]
    encoder = resemblyzer.VoiceEncoder("cpu", verbose=False)
    embeddings: dict[str, list[list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="voices-") as folder:
        for voice in voices:
            embeddings[voice] = []
            for index, sentence in enumerate(sentences):
                wav = Path(folder) / f"{voice.replace('+', '_')}-{index}.wav"
                subprocess.run(
                    ["espeak-ng", "-v", voice, "-w", str(wav), sentence],
                    check=True,
                    capture_output=True,
                )
                vector = encoder.embed_utterance(resemblyzer.preprocess_wav(wav))
                embeddings[voice].append([float(v) for v in vector])
            print(f"  {voice}: {len(sentences)} clips", file=sys.stderr, flush=True)
    out.write_text(json.dumps(embeddings), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
