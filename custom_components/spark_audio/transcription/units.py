"""Long recordings go to the backend in units, so a voice command waits for one at most.

A Spark's GPU serves one request at a time, first come first served. A
one-hour file sent whole holds it for all of that hour's GPU time, and a voice
command arriving meanwhile waits behind it. Cut into ~10-minute windows sent one
after another, the command is served as soon as the window running now ends.
Windows do not overlap (each second is transcribed once); their texts are
joined in order, word times moved back onto the recording. A file of one window
or less is sent as it is, exactly as before. A speaker-labelled job sends the
same units beside Sortformer's windows, taking turns with them (``turn``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from homeassistant.core import HomeAssistant

from ..spark import Transcription
from ..spark.clients.transcription import (
    OpenAITranscriptionClient,
    TranscriptionOptions,
    join_transcriptions,
)
from ..spark.transcripts.diarization_windows import Window, plan_windows
from ..spark.wav import WavLayout, quietest_point, wav_header, wav_layout
from .audio import FileAudio
from .decode import decoded_wav
from .errors import TranscriptionError
from .progress import report_progress
from .routing import upload_timeout
from .spool import SpooledFile

_LOGGER = logging.getLogger(__name__)
UNIT_S = 600.0
"""One unit of background work: what a voice command may have to wait for (GPU time of 10 min)."""
SEARCH_S = 2.0
"""A cut moves to the quietest point this close to where it was planned, so it splits no word."""
FRAME_S = 0.02


async def transcribe_in_units(
    hass: HomeAssistant,
    client: OpenAITranscriptionClient,
    audio: SpooledFile,
    options: TranscriptionOptions,
    *,
    filename: str,
) -> Transcription:
    """Transcribe ``audio`` in windows of ``UNIT_S``, one request after another.

    A PCM WAV is cut where it lies; anything else is decoded to a 16 kHz WAV
    first (removed again whatever happens). Where it cannot be decoded within
    the gateway's bounds, it goes whole, as before.
    """
    decoded: SpooledFile | None = None
    try:
        source, layout = audio, await read_layout(audio)
        if layout is None:
            decoded = await _decoded(hass, audio)
            if decoded is not None:
                source, layout = decoded, await read_layout(decoded)
        if layout is None or layout.duration_s <= UNIT_S:
            return await client.transcribe(
                audio.chunks(),
                options,
                filename=filename,
                timeout=upload_timeout(client),
            )
        windows = await quiet_windows(hass, source, layout)
        return await transcribe_windows(client, source, layout, windows, options)
    finally:
        if decoded is not None:
            await decoded.remove()


async def _decoded(hass: HomeAssistant, audio: SpooledFile) -> SpooledFile | None:
    """A 16 kHz WAV of ``audio``; None where ffmpeg or the gateway's bounds refuse it."""
    try:
        return await decoded_wav(hass, FileAudio(audio), audio)
    except TranscriptionError as err:
        _LOGGER.debug("Sending %s whole: it could not be decoded (%s)", audio.path.name, err)
        return None


async def transcribe_windows(
    client: OpenAITranscriptionClient,
    source: SpooledFile,
    layout: WavLayout,
    windows: list[Window],
    options: TranscriptionOptions,
    *,
    turn: asyncio.Lock | None = None,
) -> Transcription:
    """One request per window, in order; the joined transcription.

    ``turn``, when given, is held for each request: the job's other requests
    (Sortformer's windows) wait for it, so one request of the job is on the GPU.
    """
    parts: list[Transcription] = []
    report_progress(0.0, "transcribing")
    for window in windows:
        async with turn or contextlib.nullcontext():
            parts.append(
                await client.transcribe(
                    window_wav(source, layout, window.start_s, window.end_s),
                    options,
                    filename=f"unit{window.index}.wav",
                    content_type="audio/wav",
                    timeout=upload_timeout(client),
                )
            )
        report_progress(len(parts) / len(windows), "transcribing")
    return join_transcriptions(parts, [window.start_s for window in windows], layout.duration_s)


async def quiet_windows(
    hass: HomeAssistant, source: SpooledFile, layout: WavLayout
) -> list[Window]:
    """``UNIT_S`` windows, each cut moved to the quietest point nearby (16-bit PCM only)."""
    planned = plan_windows(layout.duration_s, UNIT_S, 0.0)
    if layout.sample_width != 2:
        return planned
    rate, frame = layout.sample_rate, layout.block_align
    reach, step = int(SEARCH_S * rate), int(FRAME_S * rate)
    bounds = [0.0]
    for window in planned[1:]:
        first = int(window.start_s * rate) - reach
        length = min((2 * reach + step) * frame, layout.data_size - first * frame)
        pcm = await source.read(layout.data_offset + first * frame, length)
        quiet = await hass.async_add_executor_job(
            quietest_point, pcm, rate, layout.channels, FRAME_S
        )
        bounds.append(first / rate + quiet)
    bounds.append(layout.duration_s)
    return [Window(k, bounds[k], bounds[k + 1]) for k in range(len(planned))]


async def read_layout(spooled: SpooledFile) -> WavLayout | None:
    """The layout of a PCM WAV upload; None for other formats (they get decoded)."""
    try:
        return wav_layout(await spooled.read(0, 4096), spooled.size)
    except ValueError:
        return None


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
