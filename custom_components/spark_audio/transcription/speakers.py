"""Speaker-labelled transcripts: WhisperX when it is ready, else Parakeet + Sortformer merged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
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
from ..spark.wav import WavLayout
from ..voiceprint_store import named_transcript, wants_speaker_embeddings
from .audio import AudioInput
from .decode import decoded_wav
from .progress import report_progress, with_whisperx_progress
from .request import SpeakerCounts, TranscriptionRequest
from .routing import Attempt, call_with_failover, offering, upload_timeout
from .spool import SpooledFile
from .units import UNIT_S, quiet_windows, read_layout, transcribe_windows, window_wav

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
        return await parakeet_with_sortformer(hass, client, spooled, name, content_type, request)

    try:
        return await call_with_failover(hass, PARAKEET_SLOT, on_parakeet)
    finally:
        if decoded is not None:
            await decoded.remove()


async def parakeet_with_sortformer(
    hass: HomeAssistant,
    client: ParakeetClient,
    spooled: SpooledFile,
    filename: str,
    content_type: str,
    request: TranscriptionRequest,
) -> SpeakerTranscript:
    """Transcribe and diarize the same spooled file, then merge.

    A file of one unit or less: both calls at once, each with the whole file.
    Longer: the transcription in ``units`` beside Sortformer's windows, the two
    taking turns (one request of this job on the GPU, the other waiting in HA),
    so a voice command waits for one unit or one window, never both, never the
    whole file. When one call fails the other is cancelled at once (not left
    running on the GPU for a request that has already failed).
    """
    layout = await read_layout(spooled)
    # the merge places each word in a speaker turn
    options = TranscriptionOptions(WORD_TIMING, request.language)
    if layout is None or layout.duration_s <= UNIT_S:
        transcription, diarization = await both(
            client.transcribe(
                spooled.chunks(),
                options,
                filename=filename,
                content_type=content_type,
                timeout=upload_timeout(client),
            ),
            _diarize(client, spooled, filename, content_type, layout),
        )
    else:
        turn = asyncio.Lock()  # fair: the two loops alternate on it
        units = await quiet_windows(hass, spooled, layout)
        transcription, diarization = await both(
            transcribe_windows(client, spooled, layout, units, options, turn=turn),
            _diarize(client, spooled, filename, content_type, layout, turn),
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


async def _diarize(
    client: ParakeetClient,
    spooled: SpooledFile,
    filename: str,
    content_type: str,
    layout: WavLayout | None,
    turn: asyncio.Lock | None = None,
) -> Diarization:
    """One Sortformer call, or overlapping windows reconciled for audio past its limit.

    ``turn``, when given, is held for each window (see ``parakeet_with_sortformer``).
    """
    if layout is None or layout.duration_s <= SORTFORMER_MAX_S:
        async with turn or contextlib.nullcontext():
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
        async with turn or contextlib.nullcontext():
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
