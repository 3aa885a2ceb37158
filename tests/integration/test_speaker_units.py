"""A speaker-labelled background job goes to Parakeet in units, taking turns with Sortformer.

A 25-minute recording (8 kHz WAV: a sentence, then silence) is a speakers job on
the Parakeet + Sortformer fallback (no WhisperX). The simulated Parakeet answers
every request with ``state.transcript`` spread evenly over the audio it got, and
Sortformer with speakers alternating every 3 s (tests/spark_sim/transcript.py):
so where each word lands in the merged transcript says which unit it came from
and whether its time was moved back onto the recording. The voice-command test
holds the job's first request on the GPU until the test ends it (a huge
real-time factor, then ``finish_running``), and reads the order of events from
the simulator's records, never from timing.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from pathlib import Path
from typing import Any, cast

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN
from custom_components.spark_audio.spark import ParakeetClient
from custom_components.spark_audio.spark.models import (
    Diarization,
    DiarizationSegment,
    Transcription,
    Word,
)
from custom_components.spark_audio.spark.wav import wav_header
from custom_components.spark_audio.transcription.request import SpeakerCounts, TranscriptionRequest
from custom_components.spark_audio.transcription.speakers import parakeet_with_sortformer
from custom_components.spark_audio.transcription.spool import SpooledFile
from custom_components.spark_audio.transcription.units import UNIT_S
from tests.integration.long_audio import MINUTES_25, RATE, collect_events, wait_until
from tests.integration.test_transcription_units import (
    ENDLESS_RTF,
    LATER,
    UNIT_BYTES,
    poll_until,
    transcriptions,
    voice_command,
)
from tests.spark_sim.audio import speak, speak_pcm
from tests.spark_sim.server import SparkSim
from tests.spark_sim.transcript import TURN_SECONDS

DIARIZE = "/v1/audio/diarize"
THREE_WORDS = "we meet again"
UNITS = [(0.0, UNIT_S), (UNIT_S, UNIT_S), (2 * UNIT_S, MINUTES_25 - 2 * UNIT_S)]


async def speakers_job(hass: HomeAssistant, media: str, write: list[str]) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        "transcribe",
        {
            "media": f"media-source://media_source/local/{media}",
            "speakers": True,
            "write": write,
            "wait": False,
        },
        blocking=True,
        return_response=True,
    )


def job_requests(sim: SparkSim) -> list[Any]:
    """The job's unit and window requests (probes are named otherwise)."""
    return [
        r
        for r in sim.states["parakeet"].requests
        if re.fullmatch(r"(unit|window)\d+\.wav", r.file_name or "")
    ]


def on_gpu(sim: SparkSim) -> list[Any]:
    """The job's requests that have reached the GPU."""
    return [r for r in job_requests(sim) if r.gpu_started_at is not None]


def expected_words() -> list[tuple[int, str, str]]:
    """(start ms, speaker, word) of every word, as the recording's times.

    Each unit's three words are spread over that unit (``spread_words``); the
    speaker is that of the first simulated turn whose closed span holds the
    word's midpoint (the merge's rule; a midpoint on a boundary is the earlier turn's).
    """
    found = []
    for offset, length in UNITS:
        span = length / 3
        for index, word in enumerate(THREE_WORDS.split()):
            start = offset + round(index * span, 3)
            middle = start + span * 0.45
            turn = max(0, math.ceil(middle / TURN_SECONDS) - 1)
            found.append((int(start * 1000), f"Speaker_{turn % 2}", word))
    return found


def srt_starts(text: str) -> list[int]:
    """Every cue's start in milliseconds."""
    return [
        ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(ms)
        for h, m, s, ms in re.findall(r"(\d\d):(\d\d):(\d\d),(\d\d\d) -->", text)
    ]


async def test_speakers_job_transcribes_in_units_beside_the_windows(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    without_whisperx: MockConfigEntry,
    recording: Path,
) -> None:
    """Three units (file sizes) and three windows; words at their times in the recording.

    Sent whole, the recording's three words would spread over 25 minutes: three
    segments, not nine, at other times.
    """
    state = spark_sim.states["parakeet"]
    state.rtf, state.transcript = 0.0, THREE_WORDS
    done = collect_events(hass, "spark_audio_transcription_done")
    await speakers_job(hass, recording.name, ["json", "srt"])
    await wait_until(hass, lambda: bool(done))

    units = [r for r in job_requests(spark_sim) if r.path != DIARIZE]
    assert [r.file_bytes for r in units] == [UNIT_BYTES, UNIT_BYTES, 44 + 300 * RATE * 2]
    assert all(r.fields.get("response_format") == "verbose_json" for r in units)
    assert len([r for r in job_requests(spark_sim) if r.path == DIARIZE]) == 3
    assert not [r for r in transcriptions(spark_sim) if (r.file_bytes or 0) > UNIT_BYTES]

    json_file, srt_file = (Path(name) for name in done[0]["files"])
    body = json.loads(await hass.async_add_executor_job(json_file.read_text))
    assert [(s["start_ms"], s["speaker"], s["text"]) for s in body["segments"]] == (
        expected_words()
    )
    assert body["speakers_detected"] == ["Speaker_0", "Speaker_1"]
    assert body["duration"] == MINUTES_25

    starts = srt_starts(await hass.async_add_executor_job(srt_file.read_text))
    # Continuous across the units: every cue at its place in the recording, none restarting at 0.
    assert starts == [start for start, _, _ in expected_words()]


async def test_short_speakers_file_goes_whole(
    hass: HomeAssistant, spark_sim: SparkSim, without_whisperx: MockConfigEntry, media_dir: Path
) -> None:
    """One unit or less: one transcription request with the whole file, as before."""
    clip = await speak("good morning everyone", "en-US", 16000)
    await hass.async_add_executor_job((media_dir / "short.wav").write_bytes, clip)
    done = collect_events(hass, "spark_audio_transcription_done")
    await speakers_job(hass, "short.wav", [])
    await wait_until(hass, lambda: bool(done))
    assert job_requests(spark_sim) == []
    (sent,) = [r for r in transcriptions(spark_sim) if r.file_name == "short.wav"]
    assert sent.file_bytes == len(clip)


async def test_voice_command_waits_for_one_request_of_a_speakers_job(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    without_whisperx: MockConfigEntry,
    recording: Path,
) -> None:
    """Arriving while the job's first request holds the GPU: served before the job's next one.

    Transcription units and Sortformer windows take turns, so the job never has
    a second request queued on the GPU ahead of the command (when both ran at
    once, the command waited for a unit and a window).
    """
    state, gpu = spark_sim.states["parakeet"], spark_sim.gpu("parakeet")
    state.transcript = LATER
    done = collect_events(hass, "spark_audio_transcription_done")
    state.rtf = ENDLESS_RTF
    await speakers_job(hass, recording.name, [])

    def job_on_gpu() -> bool:
        if gpu.busy and not on_gpu(spark_sim):
            gpu.finish_running()  # a deep check's probe got there first: let it through
        return bool(on_gpu(spark_sim))

    await poll_until(job_on_gpu)
    (first,) = on_gpu(spark_sim)
    state.rtf = 0.0  # only the first request (and probes queued before it) holds the GPU

    pcm = await speak_pcm("turn on the kitchen light", "en-US", 16000)
    command = asyncio.create_task(voice_command(hass, pcm))
    size = 44 + len(pcm)
    await poll_until(
        lambda: (
            any(
                r.file_bytes == size and r.upload_done_at is not None
                for r in transcriptions(spark_sim)
            )
            and gpu.waiting > 0
        ),
    )

    def ended() -> bool:
        gpu.finish_running()
        return bool(done)

    await poll_until(ended)
    assert await command == LATER
    voice = next(r for r in transcriptions(spark_sim) if r.file_bytes == size)
    later = [r for r in job_requests(spark_sim) if r is not first]
    assert len(later) == 5  # two more units, three windows
    assert voice.gpu_started_at is not None
    assert all(
        r.gpu_started_at is not None and voice.gpu_started_at < r.gpu_started_at for r in later
    )


class CutMidSentence:
    """A Parakeet whose speech runs across the cut at 600 s: the simulator cannot do that.

    The simulator spreads each unit's words evenly over it, so its units never
    share a sentence; this fake answers fixed words near the cut, and one
    speaker turn over the whole file, to check how units meet in the merge.
    """

    timeout = 60.0

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def transcribe(self, audio: Any, options: Any, *, filename: str, **_: Any) -> Any:
        self.sent.append(filename)
        await asyncio.sleep(0)  # a request waits for its answer
        words = {
            "unit0.wav": (Word(598.0, 599.0, "so"), Word(599.2, 599.9, "the")),
            "unit1.wav": (Word(0.1, 0.6, "meeting"), Word(30.0, 31.0, "ends")),
        }[filename]
        return Transcription(" ".join(w.text for w in words), "en", None, "parakeet", words)

    async def diarize(self, audio: Any, *, filename: str, **_: Any) -> Diarization:
        self.sent.append(filename)
        await asyncio.sleep(0)
        return Diarization((DiarizationSegment(0.0, 660.0, "Speaker_0"),), ("Speaker_0",), 660.0)


async def test_units_meet_in_one_segment_across_the_cut(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """A sentence spoken across the cut stays one caption segment, at the recording's times."""
    path = tmp_path / "eleven.wav"
    await hass.async_add_executor_job(
        path.write_bytes, wav_header(RATE, data_size=660 * RATE * 2) + bytes(660 * RATE * 2)
    )
    client = CutMidSentence()
    spooled = SpooledFile(hass, path, 44 + 660 * RATE * 2)
    transcript = await parakeet_with_sortformer(
        hass,
        cast(ParakeetClient, client),
        spooled,
        path.name,
        "audio/wav",
        TranscriptionRequest(language="en", speakers=SpeakerCounts()),
    )
    assert client.sent == ["unit0.wav", "eleven.wav", "unit1.wav"]  # taking turns
    assert [(s.start_ms, s.end_ms, s.text) for s in transcript.segments] == [
        (598000, 600600, "so the meeting"),
        (630000, 631000, "ends"),
    ]
