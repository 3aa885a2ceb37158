"""Speaker-labelled transcripts: WhisperX when it is ready, else Parakeet + Sortformer merged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from homeassistant.core import HomeAssistant

from ..data import PARAKEET_SLOT, WHISPERX_SLOT
from ..spark import (
    Diarization,
    ParakeetClient,
    SpeakerTranscript,
    WhisperXClient,
)
from ..spark.clients.transcription import WORD_TIMING, TranscriptionOptions
from ..spark.transcripts.diarization_windows import plan_windows, reconcile_windows
from ..spark.transcripts.speaker_merge import merge_words_with_speakers
from ..spark.wav import WavLayout, wav_header, wav_layout
from ..voiceprint_store import named_transcript, wants_speaker_embeddings
from .audio import AudioInput
from .decode import decoded_wav
from .progress import report_progress, with_whisperx_progress
from .request import SpeakerCounts, TranscriptionRequest
from .routing import Attempt, call_with_failover, offering, upload_timeout
from .spool import SpooledFile

_LOGGER = logging.getLogger(__name__)
SORTFORMER_MAX_S = 720.0
"""Sortformer needs memory in proportion to length: longer audio is diarized in windows."""
WINDOW_S = 600.0
OVERLAP_S = 60.0


def whisperx_ready(hass: HomeAssistant) -> bool:
    """A healthy WhisperX with its diarizer loaded is configured somewhere."""
    return any(
        c.last_update_success and c.data and c.data.health.details.get("diarizer_loaded")
        for c in offering(hass, WHISPERX_SLOT)
    )


async def transcribe_with_speakers(
    hass: HomeAssistant,
    audio: AudioInput,
    filename: str,
    content_type: str,
    request: TranscriptionRequest,
) -> SpeakerTranscript:
    """WhisperX when it is ready (one pipeline, handles long audio); else the fallback.

    Failures are ``TranscriptionError``s.
    """
    counts = request.speakers or SpeakerCounts()
    if whisperx_ready(hass):
        # With somebody enrolled, WhisperX also answers one voice embedding per speaker.
        name_them = wants_speaker_embeddings(hass)

        async def on_whisperx(attempt: Attempt[WhisperXClient]) -> SpeakerTranscript:
            client = attempt.coordinator.client
            return await with_whisperx_progress(
                client,
                lambda job_id: client.transcribe_with_speakers(
                    audio.chunks(),
                    language=request.language,
                    num_speakers=counts.num_speakers,
                    min_speakers=counts.min_speakers,
                    max_speakers=counts.max_speakers,
                    filename=filename,
                    content_type=content_type,
                    timeout=upload_timeout(client),
                    job_id=job_id,
                    return_embeddings=name_them,
                ),
            )

        transcript = await call_with_failover(
            hass, WHISPERX_SLOT, on_whisperx, can_retry=audio.replayable
        )
        return named_transcript(hass, transcript)

    spooled = await audio.ensure_spooled()
    decoded: SpooledFile | None = None
    name = filename
    if await read_layout(spooled) is None:
        # Not PCM WAV: decode once so Sortformer's windows can be cut from it.
        decoded = spooled = await decoded_wav(hass, audio, spooled)
        name, content_type = "audio.wav", "audio/wav"

    async def on_parakeet(attempt: Attempt[ParakeetClient]) -> SpeakerTranscript:
        client = attempt.coordinator.client
        return await parakeet_with_sortformer(client, spooled, name, content_type, request)

    try:
        return await call_with_failover(hass, PARAKEET_SLOT, on_parakeet)
    finally:
        if decoded is not None:
            await decoded.remove()


async def parakeet_with_sortformer(
    client: ParakeetClient,
    spooled: SpooledFile,
    filename: str,
    content_type: str,
    request: TranscriptionRequest,
) -> SpeakerTranscript:
    """Transcribe and diarize the same spooled file in parallel, then merge.

    When one call fails the other is cancelled at once (not left running on the
    GPU for a request that has already failed).
    """
    layout = await read_layout(spooled)
    transcription, diarization = await both(
        client.transcribe(
            spooled.chunks(),
            # the merge places each word in a speaker turn
            TranscriptionOptions(WORD_TIMING, request.language),
            filename=filename,
            content_type=content_type,
            timeout=upload_timeout(client),
        ),
        _diarize(client, spooled, filename, content_type, layout),
    )
    segments = merge_words_with_speakers(transcription.words, diarization.segments)
    return SpeakerTranscript(
        duration=transcription.duration or diarization.duration or 0.0,
        language=transcription.language or request.language or "en",
        speakers_detected=diarization.speakers_detected,
        segments=tuple(segments),
        models={
            "transcription": transcription.model or "parakeet",
            "diarization": diarization.model or "sortformer",
        },
    )


async def both[A, B](first: Coroutine[Any, Any, A], second: Coroutine[Any, Any, B]) -> tuple[A, B]:
    """Run two calls together; the first failure cancels the other and is raised as is."""
    try:
        async with asyncio.TaskGroup() as group:
            one = group.create_task(first)
            two = group.create_task(second)
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return one.result(), two.result()


async def read_layout(spooled: SpooledFile) -> WavLayout | None:
    """The layout of a PCM WAV upload; None for other formats (they get decoded)."""
    try:
        return wav_layout(await spooled.read(0, 4096), spooled.size)
    except ValueError:
        return None


async def _diarize(
    client: ParakeetClient,
    spooled: SpooledFile,
    filename: str,
    content_type: str,
    layout: WavLayout | None,
) -> Diarization:
    """One Sortformer call, or overlapping windows reconciled for audio past its limit."""
    if layout is None or layout.duration_s <= SORTFORMER_MAX_S:
        return await client.diarize(
            spooled.chunks(),
            filename=filename,
            content_type=content_type,
            timeout=upload_timeout(client),
        )
    windows = plan_windows(layout.duration_s, WINDOW_S, OVERLAP_S)
    per_window = []
    report_progress(0.0, "diarizing")
    for window in windows:  # one at a time: Sortformer's memory is the limit
        result = await client.diarize(
            window_wav(spooled, layout, window.start_s, window.end_s),
            filename=f"window{window.index}.wav",
            content_type="audio/wav",
            timeout=upload_timeout(client),
        )
        per_window.append(result.segments)
        report_progress(len(per_window) / len(windows), "diarizing")
    reconciled = reconcile_windows(windows, per_window)
    if reconciled.uncertain:
        _LOGGER.info(
            "Speaker labels of %d window speakers were guessed (silent in the overlaps)",
            len(reconciled.uncertain),
        )
    return Diarization(
        segments=reconciled.segments,
        speakers_detected=reconciled.speakers,
        duration=layout.duration_s,
        model="nvidia/diar_sortformer_4spk-v1 (windowed)",
    )


async def window_wav(
    spooled: SpooledFile, layout: WavLayout, start_s: float, end_s: float
) -> AsyncIterator[bytes]:
    """A WAV file of ``[start_s, end_s)`` read straight from the spooled upload."""
    frame = layout.block_align
    first = int(start_s * layout.sample_rate) * frame
    last = min(layout.data_size, int(end_s * layout.sample_rate) * frame)
    yield wav_header(
        layout.sample_rate,
        channels=layout.channels,
        sample_width=layout.sample_width,
        data_size=last - first,
    )
    async for chunk in spooled.chunks(layout.data_offset + first, last - first):
        yield chunk
