"""TTS time to first audio for a 10-sentence answer: sentence streaming vs whole text.

The TTS entity cuts streamed text into sentences and speaks each with Magpie's
streaming endpoint, so playback can start after the first sentence. The
baseline synthesizes the whole text in one request and can only play once the
whole WAV is back. The target compares streaming's first audio with the time
Magpie needs for one sentence on its own.

Run: .venv/bin/python -m benchmarks.bench_tts_first_audio [--runs 5] [--rtf 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator

from custom_components.spark_audio.spark import MagpieClient
from custom_components.spark_audio.spark.clients.magpie import MAX_TEXT_CHARS
from custom_components.spark_audio.spark.clients.magpie_sentences import stream_sentences

from .common import median_ms, spark_and_session

VOICE = "Magpie-Multilingual.EN-US.Mia"
SENTENCES = [
    "The kitchen light is now on.",
    "It is twenty one degrees inside.",
    "Outside it is cloudy with a light breeze.",
    "The washing machine finished ten minutes ago.",
    "Your next meeting starts at three in the afternoon.",
    "The front door is locked.",
    "The garage door is closed.",
    "Solar panels produced twelve kilowatt hours today.",
    "The dishwasher needs salt.",
    "Have a pleasant evening.",
]
TEXT = " ".join(SENTENCES)


async def llm_text() -> AsyncIterator[str]:
    """Text as an LLM streams it: a few characters at a time."""
    for index in range(0, len(TEXT), 8):
        yield TEXT[index : index + 8]
        await asyncio.sleep(0)


async def streamed_first_audio(client: MagpieClient) -> float:
    """What the TTS entity's stream does: sentences -> synthesize_online, first PCM chunk."""
    start = time.perf_counter()
    first = 0.0
    async for sentence in stream_sentences(llm_text(), MAX_TEXT_CHARS):
        async for _chunk in client.synthesize_online(sentence, voice=VOICE):
            if not first:
                first = time.perf_counter() - start
    return first


async def whole_text_first_audio(client: MagpieClient) -> float:
    """Baseline: one request for the whole text; audio is playable when it returns."""
    start = time.perf_counter()
    await client.synthesize(TEXT, voice=VOICE)
    return time.perf_counter() - start


async def one_sentence(client: MagpieClient) -> float:
    """Reference: Magpie's time for the first sentence on its own."""
    start = time.perf_counter()
    await client.synthesize(SENTENCES[0], voice=VOICE)
    return time.perf_counter() - start


async def main(runs: int, rtf: float) -> None:
    async with spark_and_session() as (sim, session):
        sim.states["magpie"].rtf = rtf
        client = MagpieClient(session, "127.0.0.1", sim.ports["magpie"])
        await one_sentence(client)  # warm caches and connections
        streamed: list[float] = []
        whole: list[float] = []
        single: list[float] = []
        for _ in range(runs):
            streamed.append(await streamed_first_audio(client))
            whole.append(await whole_text_first_audio(client))
            single.append(await one_sentence(client))
    s_ms, w_ms, one_ms = median_ms(streamed), median_ms(whole), median_ms(single)
    print(f"{len(SENTENCES)} sentences, {len(TEXT)} characters, {runs} runs, Magpie RTF {rtf}")
    print(f"one sentence alone (reference):              {one_ms:8.1f} ms")
    print(f"first audio, sentence-streamed (median):     {s_ms:8.1f} ms")
    print(f"first audio, whole text in one request:      {w_ms:8.1f} ms")
    print(f"streamed / one sentence:                     {s_ms / one_ms:8.3f} (target <= 1.3)")
    print(f"streamed / whole text:                       {s_ms / w_ms:8.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rtf", type=float, default=0.1, help="simulated seconds per audio second")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.rtf))
