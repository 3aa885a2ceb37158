"""Assist STT latency: last audio chunk -> transcript, streamed vs buffer-then-upload.

Assist delivers microphone audio in 10 ms chunks in real time. The integration
uploads each chunk as it arrives (chunked HTTP), so when the user stops
talking only the backend's own processing is left. The baseline buffers the
whole utterance and uploads it afterwards. Both run in the same process against
the same simulated Parakeet, whose processing time (audio seconds x RTF) is
subtracted to give the overhead the integration adds.

Run: .venv/bin/python -m benchmarks.bench_stt_streaming [--runs 5] [--rtf 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator

from custom_components.spark_audio.spark import ParakeetClient
from custom_components.spark_audio.spark.clients.transcription import TranscriptionOptions
from custom_components.spark_audio.spark.wav import wav_header, wav_stream
from tests.spark_sim.audio import speak_pcm

from .common import median_ms, spark_and_session

EN = TranscriptionOptions(language="en")

RATE = 16000
CHUNK = 320  # 10 ms


async def microphone(pcm: bytes, marks: dict[str, float]) -> AsyncIterator[bytes]:
    """Yield 10 ms chunks at real-time pace; note when the last one is produced."""
    start = time.perf_counter()
    count = (len(pcm) + CHUNK - 1) // CHUNK
    for index in range(count):
        target = start + index * 0.01
        if (delay := target - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        if index == count - 1:
            marks["last_chunk"] = time.perf_counter()
        yield pcm[index * CHUNK : (index + 1) * CHUNK]


async def streamed(client: ParakeetClient, pcm: bytes) -> float:
    """What the STT entity does: wrap the live stream as WAV and upload it as it comes."""
    marks: dict[str, float] = {}
    await client.transcribe(wav_stream(microphone(pcm, marks), RATE), EN)
    return time.perf_counter() - marks["last_chunk"]


async def buffered(client: ParakeetClient, pcm: bytes) -> float:
    """The baseline: collect the whole utterance, then upload one WAV file."""
    marks: dict[str, float] = {}
    body = b"".join([chunk async for chunk in microphone(pcm, marks)])
    await client.transcribe(wav_header(RATE, data_size=len(body)) + body, EN)
    return time.perf_counter() - marks["last_chunk"]


async def main(runs: int, rtf: float) -> None:
    pcm = await speak_pcm(
        "turn on the kitchen light and set the living room to twenty percent", "en-US", RATE
    )
    seconds = len(pcm) / (2 * RATE)
    async with spark_and_session() as (sim, session):
        sim.states["parakeet"].rtf = rtf
        client = ParakeetClient(session, "127.0.0.1", sim.ports["parakeet"])
        backend_s = seconds * rtf
        await client.transcribe(wav_header(RATE, data_size=len(pcm)) + pcm, EN)
        stream_samples: list[float] = []
        buffer_samples: list[float] = []
        for _ in range(runs):  # interleave so drift affects both alike
            stream_samples.append(await streamed(client, pcm))
            buffer_samples.append(await buffered(client, pcm))
    stream_ms, buffer_ms = median_ms(stream_samples), median_ms(buffer_samples)
    backend_ms = backend_s * 1000
    print(f"utterance: {seconds:.2f} s of espeak-ng speech, {runs} runs each, Parakeet RTF {rtf}")
    print(f"backend processing time (simulated):          {backend_ms:7.1f} ms")
    print(f"last chunk -> text, streamed upload (median):  {stream_ms:7.1f} ms")
    print(f"last chunk -> text, buffer then upload:        {buffer_ms:7.1f} ms")
    print(
        f"overhead beyond backend, streamed:             {stream_ms - backend_ms:7.1f} ms"
        " (target <= 50 ms)"
    )
    print(f"overhead beyond backend, buffered:             {buffer_ms - backend_ms:7.1f} ms")
    print(f"ratio streamed / buffered:                     {stream_ms / buffer_ms:7.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--rtf", type=float, default=0.02, help="simulated seconds per audio second"
    )
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.rtf))
