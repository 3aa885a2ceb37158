"""Assist latency with speaker identification: last audio chunk -> text, with and without.

With somebody enrolled, the STT entity copies each command's audio to
WhisperX's embeddings endpoint while it uploads it for transcription
(``CommandIdentification``); the text must not wait for the identification.
Both variants run interleaved in the same process against the same simulated
Spark (Parakeet for the text, WhisperX for the embedding), so the difference
is what identifying adds to speech-end -> text.

Run: .venv/bin/python -m benchmarks.bench_speaker_identification [--runs 9] [--rtf 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp

from custom_components.spark_audio.spark import ParakeetClient, WhisperXClient
from custom_components.spark_audio.spark.clients.transcription import TranscriptionOptions
from custom_components.spark_audio.spark.wav import wav_stream
from custom_components.spark_audio.speaker_identification import CommandIdentification
from tests.spark_sim.audio import speak_pcm
from tests.spark_sim.server import SparkSim

from .bench_stt_streaming import RATE, microphone
from .common import median_ms

EN = TranscriptionOptions(language="en")


async def plain(parakeet: ParakeetClient, pcm: bytes) -> float:
    """What the STT entity does with nobody enrolled."""
    marks: dict[str, float] = {}
    await parakeet.transcribe(wav_stream(microphone(pcm, marks), RATE), EN)
    return time.perf_counter() - marks["last_chunk"]


async def identified(parakeet: ParakeetClient, whisperx: WhisperXClient, pcm: bytes) -> float:
    """The same with the audio copied to the embeddings endpoint, as the entity does."""
    marks: dict[str, float] = {}
    speaker = CommandIdentification(wav_stream(microphone(pcm, marks), RATE))
    identification = asyncio.create_task(whisperx.embedding(speaker.copy()))
    await parakeet.transcribe(speaker.audio, EN)
    elapsed = time.perf_counter() - marks["last_chunk"]
    speaker.finish()
    await identification  # finished after the text, outside the measured span
    return elapsed


async def main(runs: int, rtf: float) -> None:
    pcm = await speak_pcm("turn on the kitchen light in the living room", "en-US", RATE)
    async with SparkSim() as sim, aiohttp.ClientSession() as session:
        sim.states["parakeet"].rtf = rtf
        parakeet = ParakeetClient(session, "127.0.0.1", sim.ports["parakeet"])
        whisperx = WhisperXClient(session, "127.0.0.1", sim.ports["whisperx"])
        await plain(parakeet, pcm)  # warm up both paths
        await identified(parakeet, whisperx, pcm)
        without: list[float] = []
        with_id: list[float] = []
        for _ in range(runs):  # interleaved so drift affects both alike
            without.append(await plain(parakeet, pcm))
            with_id.append(await identified(parakeet, whisperx, pcm))
    base, ident = median_ms(without), median_ms(with_id)
    print(f"command: {len(pcm) / (2 * RATE):.2f} s of espeak-ng speech, {runs} runs each")
    print(f"last chunk -> text, nobody enrolled (median):   {base:7.1f} ms")
    print(f"last chunk -> text, identifying alongside:      {ident:7.1f} ms")
    print(f"added by identification:                        {ident - base:7.1f} ms (target <= 10)")
    print(f"ratio identifying / plain:                      {ident / base:7.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--rtf", type=float, default=0.02)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.rtf))
