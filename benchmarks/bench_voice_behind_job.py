"""Assist speech end -> text while a 1-hour background transcription runs on the same GPU.

The simulated Parakeet serves one request at a time, first come first served,
and takes ``audio seconds x RTF`` of GPU time per request. A background job
sends its recording the way the integration does (`transcription.units`): windows of
``UNIT_S`` of audio (`plan_windows`, no overlap), one after another; here it
loops over a 1-hour recording so it is always running. Voice commands stream
in at real-time pace (10 ms chunks, as Assist does) through the STT entity's
path (chunked WAV upload); each is timed from its last chunk to its text.
The same command on the idle service, same run, is the baseline. The added
latency is compared with one unit's GPU time (target: at most that + 100 ms).
One command behind the whole hour sent as one request (what the job did
before units) shows what units save.

``--speakers``: the job is a speaker-labelled one on the Parakeet + Sortformer
fallback, run by the integration's own code (`parakeet_with_sortformer` on a
spooled 1-hour WAV): transcription units and Sortformer's overlapping windows
(``WINDOW_S`` long, the overlap included) taking turns, so a command waits for one
unit or one window (the longer of ``UNIT_S`` and ``WINDOW_S`` of audio), never both.

Run: .venv/bin/python -m benchmarks.bench_voice_behind_job [--runs 8] [--rtf 0.005] [--speakers]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from custom_components.spark_audio.spark import ParakeetClient
from custom_components.spark_audio.spark.clients.transcription import (
    OpenAITranscriptionClient,
    TranscriptionOptions,
)
from custom_components.spark_audio.spark.transcripts.diarization_windows import plan_windows
from custom_components.spark_audio.spark.wav import wav_header, wav_stream
from custom_components.spark_audio.transcription.request import (
    SpeakerCounts,
    TranscriptionRequest,
)
from custom_components.spark_audio.transcription.speakers import (
    OVERLAP_S,
    WINDOW_S,
    parakeet_with_sortformer,
)
from custom_components.spark_audio.transcription.spool import SpooledFile
from custom_components.spark_audio.transcription.units import UNIT_S
from tests.spark_sim.audio import speak_pcm

from .common import median_ms, spark_and_session

EN = TranscriptionOptions(language="en")

RATE = 16000
JOB_RATE = 8000  # the recording: half the bytes of 16 kHz, same audio seconds
HOUR_S = 3600
CHUNK = 320  # 10 ms


async def microphone(pcm: bytes, marks: dict[str, float]) -> AsyncIterator[bytes]:
    """10 ms chunks at real-time pace; note when the last one is produced (speech end)."""
    start = time.perf_counter()
    count = (len(pcm) + CHUNK - 1) // CHUNK
    for index in range(count):
        if (delay := start + index * 0.01 - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        if index == count - 1:
            marks["last_chunk"] = time.perf_counter()
        yield pcm[index * CHUNK : (index + 1) * CHUNK]


async def command(client: OpenAITranscriptionClient, pcm: bytes) -> float:
    """What the STT entity does; seconds from speech end to text."""
    marks: dict[str, float] = {}
    await client.transcribe(wav_stream(microphone(pcm, marks), RATE), EN)
    return time.perf_counter() - marks["last_chunk"]


async def job_in_units(client: ParakeetClient, pcm: bytes) -> None:
    """The background job, looping: the hour in units, one request after another."""
    while True:
        for window in plan_windows(HOUR_S, UNIT_S, 0.0):
            piece = pcm[int(window.start_s * JOB_RATE) * 2 : int(window.end_s * JOB_RATE) * 2]
            body = wav_header(JOB_RATE, data_size=len(piece)) + piece
            await client.transcribe(body, EN, filename=f"unit{window.index}.wav")


class Executor:
    """What `SpooledFile` asks of HA: its executor (the benchmark runs without HA)."""

    async def async_add_executor_job(self, target: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, target, *args)


async def speakers_job(client: ParakeetClient, pcm: bytes) -> None:
    """The speaker-labelled job, looping, as the integration runs it on a spooled file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "hour.wav")
        body = wav_header(JOB_RATE, data_size=len(pcm)) + pcm
        await asyncio.to_thread(path.write_bytes, body)
        spooled = SpooledFile(cast(Any, Executor()), path, len(body))
        request = TranscriptionRequest(language="en", speakers=SpeakerCounts())
        while True:
            await parakeet_with_sortformer(
                cast(Any, Executor()), client, spooled, "hour.wav", "audio/wav", request
            )


@dataclass(frozen=True, slots=True)
class Behind:
    """Speech end -> text in seconds: idle, behind the looping job, behind the hour sent whole."""

    idle: list[float]
    busy: list[float]
    behind_whole: float

    def print_report(self, runs: int, targets: list[tuple[str, float]], whole_label: str) -> None:
        """The medians, the worst added latency against each (label, ms) target, the old way."""
        base = statistics_median(self.idle)
        idle_ms, busy_ms = median_ms(self.idle), median_ms(self.busy)
        worst_added = (max(self.busy) - base) * 1000
        print(f"speech end -> text, idle service (median of {runs}):       {idle_ms:8.1f} ms")
        print(f"speech end -> text, 1-hour job running (median of {runs}): {busy_ms:8.1f} ms")
        print(f"added latency, median:                                {busy_ms - idle_ms:8.1f} ms")
        print(f"added latency, worst:                                 {worst_added:8.1f} ms")
        for label, target in targets:
            print(
                f"{f'target ({label}):':<54}{target:8.1f} ms"
                f" -> {'met' if worst_added <= target else 'MISSED'}"
            )
        print(f"ratio busy / idle, median:                            {busy_ms / idle_ms:8.1f}x")
        print(f"{whole_label}, one command: {(self.behind_whole - base) * 1000:8.1f} ms added")


async def voice_behind(
    client: OpenAITranscriptionClient,
    pcm: bytes,
    runs: int,
    unit_gpu_s: float,
    job: Coroutine[Any, Any, None],
    gpu: Any,
    whole: Callable[[], Coroutine[Any, Any, object]],
) -> Behind:
    """Commands on the idle service, behind the looping ``job``, then behind ``whole``.

    ``gpu`` is the simulated service's GPU queue: the job's last request is
    finished there so the hour sent whole starts on an empty GPU.
    """
    await command(client, pcm)  # warm up
    idle = [await command(client, pcm) for _ in range(runs)]
    running = asyncio.create_task(job)
    busy = []
    for index in range(runs):
        # Spread the commands over the units' phases (speech lasts a few seconds too).
        await asyncio.sleep(unit_gpu_s * (index % 4) / 4)
        busy.append(await command(client, pcm))
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    gpu.finish_running()
    await asyncio.sleep(0.2)
    sent_whole = asyncio.create_task(whole())
    await asyncio.sleep(unit_gpu_s / 2)  # the whole hour is on the GPU
    behind_whole = await command(client, pcm)
    await sent_whole
    return Behind(idle, busy, behind_whole)


async def main(runs: int, rtf: float, speakers: bool) -> None:
    pcm = await speak_pcm("turn on the kitchen light", "en-US", RATE)
    hour = bytes(HOUR_S * JOB_RATE * 2)
    unit_gpu_s = UNIT_S * rtf
    longest_gpu_s = max(UNIT_S, WINDOW_S) * rtf if speakers else unit_gpu_s
    async with spark_and_session() as (sim, session):
        sim.states["parakeet"].rtf = rtf
        client = ParakeetClient(session, "127.0.0.1", sim.ports["parakeet"], timeout=3600)
        work = speakers_job(client, hour) if speakers else job_in_units(client, hour)
        behind = await voice_behind(
            client,
            pcm,
            runs,
            unit_gpu_s,
            work,
            sim.gpu("parakeet"),
            lambda: client.transcribe(wav_header(JOB_RATE, data_size=len(hour)) + hour, EN),
        )
    kind = "speakers job (units + Sortformer windows)" if speakers else "plain job"
    print(
        f"{kind}; Parakeet RTF {rtf}; one unit = {UNIT_S:.0f} s of audio"
        f" = {unit_gpu_s * 1000:.0f} ms GPU"
    )
    targets = [("one unit's GPU time + 100 ms", unit_gpu_s * 1000 + 100)]
    if speakers:
        print(
            f"longest request of the job: a unit or a Sortformer window of "
            f"{max(UNIT_S, WINDOW_S):.0f} s (windows overlap by {OVERLAP_S:.0f} s)"
            f" = {longest_gpu_s * 1000:.0f} ms GPU"
        )
        targets.append(("longest request's GPU time + 100 ms", longest_gpu_s * 1000 + 100))
    behind.print_report(runs, targets, "behind the hour sent whole (before units)")


def statistics_median(samples: list[float]) -> float:
    """Median in seconds."""
    return median_ms(samples) / 1000


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument(
        "--rtf", type=float, default=0.005, help="simulated GPU seconds per audio second"
    )
    parser.add_argument(
        "--speakers", action="store_true", help="a speaker-labelled job (units + Sortformer)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.rtf, args.speakers))
