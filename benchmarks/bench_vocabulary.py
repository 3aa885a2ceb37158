"""Does the Assist vocabulary prompt fit Whisper's 223-token prompt window, in any language?

The integration caps the prompt by UTF-8 bytes (``vocabulary.MAX_PROMPT_BYTES``)
as a proxy for tokens. This builds an over-full home in six languages (areas,
aliases, lights, sensors: far more than fits), composes the prompt exactly as
the STT entity does, and counts its tokens with Whisper's own multilingual BPE
(``whisper/assets/multilingual.tiktoken`` from the openai-whisper source
distribution; the same merges faster-whisper's tokenizer uses). It prints
bytes and characters per token, and the window used (tokens / 223): a ratio
above 1.00 would mean faster-whisper cuts the front (least useful) names.

Get the tokenizer file (no model download):
  pip download openai-whisper --no-deps --no-binary :all: -d /tmp/ow
  tar xzf /tmp/ow/*.tar.gz -C /tmp/ow
Run: .venv/bin/python -m benchmarks.bench_vocabulary \
       --tokenizer /tmp/ow/openai_whisper-*/whisper/assets/multilingual.tiktoken
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
import time
from pathlib import Path

from custom_components.spark_audio.vocabulary import (
    MAX_PROMPT_BYTES,
    WHISPER_PROMPT_TOKENS,
    Tier,
    VocabularyWord,
    compose_prompt,
)

# Whisper's pre-tokenizer; \p{L}/\p{N} written with the standard library's Unicode classes.
_PRETOKEN = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+""")

HOMES: dict[str, dict[str, list[str]]] = {
    "en": {
        "places": ["Kitchen", "Living Room", "Bartholomew's room", "Ground Floor", "Upstairs"],
        "aliases": ["Hue Go", "Reading lamp", "Telly"],
        "commanded": ["Kitchen Light", "Ceiling Fan", "Front Door Lock", "Bedroom Blinds"],
        "other": ["Outdoor Temperature", "Hallway Motion", "Washing Machine Power"],
    },
    "de": {
        "places": ["Küche", "Wohnzimmer", "Schlafzimmer", "Erdgeschoss", "Obergeschoss"],
        "aliases": ["Leselampe", "Glotze", "Kochnische"],
        "commanded": ["Küchenlicht", "Deckenventilator", "Haustürschloss", "Rollläden"],
        "other": ["Außentemperatur", "Flurbewegungsmelder", "Waschmaschine Leistung"],
    },
    "fr": {
        "places": ["Cuisine", "Salon", "Chambre de Théo", "Rez-de-chaussée", "Étage"],
        "aliases": ["Liseuse", "Télé", "Coin repas"],
        "commanded": ["Lumière cuisine", "Ventilateur plafond", "Serrure entrée", "Volets"],
        "other": ["Température extérieure", "Mouvement couloir", "Puissance lave-linge"],
    },
    "nl": {
        "places": ["Keuken", "Woonkamer", "Slaapkamer", "Begane grond", "Zolder"],
        "aliases": ["Leeslamp", "Tv", "Eethoek"],
        "commanded": ["Keukenlamp", "Plafondventilator", "Voordeurslot", "Rolluiken"],
        "other": ["Buitentemperatuur", "Beweging gang", "Vermogen wasmachine"],
    },
    "ru": {
        "places": ["Кухня", "Гостиная", "Спальня", "Первый этаж", "Второй этаж"],
        "aliases": ["Торшер", "Телик", "Столовая"],
        "commanded": ["Свет на кухне", "Вентилятор", "Замок двери", "Жалюзи"],
        "other": ["Температура на улице", "Движение в коридоре", "Мощность стиралки"],
    },
    "ja": {
        "places": ["キッチン", "リビング", "寝室", "一階", "二階"],
        "aliases": ["読書灯", "テレビ", "ダイニング"],
        "commanded": ["キッチンの照明", "シーリングファン", "玄関の鍵", "ブラインド"],
        "other": ["外気温", "廊下の人感センサー", "洗濯機の電力"],
    },
}
COPIES = 40  # numbered copies per entity name: ~500 names, far over the cap


def load_ranks(path: Path) -> dict[bytes, int]:
    """Whisper's BPE merge ranks (one ``base64 rank`` pair per line)."""
    ranks: dict[bytes, int] = {}
    for line in path.read_text().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def count_tokens(text: str, ranks: dict[bytes, int]) -> int:
    """Byte-level BPE as tiktoken does it: merge the lowest-ranked adjacent pair first."""
    total = 0
    for piece in _PRETOKEN.findall(text):
        parts = [bytes([b]) for b in piece.encode()]
        while len(parts) > 1:
            pairs = [(ranks.get(parts[i] + parts[i + 1]), i) for i in range(len(parts) - 1)]
            known = [(rank, i) for rank, i in pairs if rank is not None]
            if not known:
                break
            _, i = min(known)
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        total += len(parts)
    return total


def home_words(home: dict[str, list[str]]) -> list[VocabularyWord]:
    """An over-full home: every entity name in numbered copies."""
    words = [VocabularyWord(n, Tier.PLACE) for n in home["places"]]
    words += [VocabularyWord(n, Tier.ALIAS) for n in home["aliases"]]
    for tier, key in ((Tier.COMMANDED, "commanded"), (Tier.OTHER, "other")):
        words += [
            VocabularyWord(f"{n} {i}", tier, generated=i % 2 == 0)
            for n in home[key]
            for i in range(COPIES)
        ]
    return words


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokenizer", type=Path, help="whisper/assets/multilingual.tiktoken")
    args = parser.parse_args()
    if args.tokenizer is None or not args.tokenizer.is_file():
        print(__doc__)
        print("error: --tokenizer must name Whisper's multilingual.tiktoken", file=sys.stderr)
        return 2
    ranks = load_ranks(args.tokenizer)
    print(f"cap {MAX_PROMPT_BYTES} bytes; Whisper keeps the last {WHISPER_PROMPT_TOKENS} tokens")
    print("lang  names  left_out  bytes  chars  tokens  bytes/token  chars/token  window_used")
    worst = 0.0
    for lang, home in HOMES.items():
        words = home_words(home)
        start = time.perf_counter()
        prompt = compose_prompt(words)
        compose_ms = (time.perf_counter() - start) * 1000
        # faster-whisper encodes " " + prompt.
        tokens = count_tokens(" " + prompt.text, ranks)
        size, chars = len(prompt.text.encode()), len(prompt.text)
        used = tokens / WHISPER_PROMPT_TOKENS
        worst = max(worst, used)
        print(
            f"{lang:4}  {prompt.names:5}  {prompt.left_out:8}  {size:5}  {chars:5}  {tokens:6}"
            f"  {size / tokens:11.2f}  {chars / tokens:11.2f}  {used:11.2f}"
            f"   (composed from {len(words)} names in {compose_ms:.2f} ms)"
        )
    print(f"worst window use: {worst:.2f} (must stay <= 1.00)")
    return 0 if worst <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
