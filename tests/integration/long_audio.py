"""Shared by the background-transcription tests: a generated two-hour recording and waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN
from custom_components.spark_audio.spark.wav import wav_header, wav_layout
from tests.spark_sim.audio import speak
from tests.spark_sim.server import SparkSim

RATE = 8000
MINUTES_25 = 25 * 60
"""A recording of three 10-minute units (10, 10 and 5 minutes)."""
HOURS_2 = 2 * 3600
CAP_S = 300  # generous cap on waiting for a condition; never a timing assertion


def write_long_wav(target: Path, clip: bytes, seconds: int) -> None:
    """Stream a WAV of ``seconds``: ``clip``'s samples first, then silence (never all in memory)."""
    layout = wav_layout(clip, len(clip))
    speech = clip[layout.data_offset : layout.data_offset + layout.data_size]
    total = seconds * RATE * 2
    block = bytes(1 << 20)
    with target.open("wb") as out:
        out.write(wav_header(RATE, channels=1, sample_width=2, data_size=total))
        out.write(speech)
        left = total - len(speech)
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= len(block)


def transcription_sensor(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.entry_id}_transcription"
    )
    assert entity_id is not None
    return entity_id


def collect_events(hass: HomeAssistant, event_type: str) -> list[dict[str, Any]]:
    """Every ``event_type`` event's data, in order (a callback: run on the loop, not a thread)."""
    seen: list[dict[str, Any]] = []

    @callback
    def record(event: Event[Any]) -> None:
        seen.append(dict(event.data))

    hass.bus.async_listen(event_type, record)
    return seen


async def wait_until(hass: HomeAssistant, condition: Callable[[], bool]) -> None:
    """Wait for a condition (events, sensor states, simulator records) under a generous cap."""
    async with asyncio.timeout(CAP_S):
        while not condition():
            await asyncio.sleep(0.05)
    await hass.async_block_till_done()


def diarize_calls(sim: SparkSim) -> int:
    return sum(1 for r in sim.states["parakeet"].requests if r.path == "/v1/audio/diarize")


async def make_recording(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A two-hour recording in a media folder HA may read."""
    media = tmp_path / "media"
    await hass.async_add_executor_job(media.mkdir)
    hass.config.media_dirs = {"local": str(media)}
    hass.config.allowlist_external_dirs = {str(media)}
    clip = await speak("good morning everyone", "en-US", RATE)
    target = media / "meeting.wav"
    await hass.async_add_executor_job(write_long_wav, target, clip, HOURS_2)
    return target
