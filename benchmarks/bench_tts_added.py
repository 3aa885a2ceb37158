"""TTS time to first audio byte: what the integration adds to Magpie's own first byte.

Runs inside Home Assistant's test harness (a real HA core with the integration
set up against the simulated Spark, and HA's HTTP app served on loopback with
``handler_cancellation=True``, as HA serves it). Each run, interleaved so that
drift hits every path alike, times from the request to the first byte of audio
(WAV headers do not count: they are sent before any audio exists):

- Magpie direct: ``POST /v1/audio/synthesize_online`` straight to the simulated
  Magpie, with exactly the fields the integration sends for that path, as a
  body encoded before the clock starts;
- the TTS entity: ``async_stream_tts_audio`` (what a streaming caller reads);
- HA's TTS stream (``tts.async_create_stream``, WAV): what Assist plays;
- the gateway's ``/audio/speech`` over HTTP, as ``pcm``, ``wav`` and ``mp3``
  (mp3 is encoded by ffmpeg on the way: its start and first frame are included).

Every run speaks a sentence of its own (HA's TTS stream would answer a repeated
one from its memory cache); the simulator has rendered it before the timed
requests, so no path pays for the rendering. The added ms is the path's median
minus the median of Magpie direct at the same voice and sample rate (target:
<= 5 ms). HA's test harness runs its loop in debug mode; the benchmark turns
that off, as a real HA runs.

Run: .venv/bin/python -m pytest benchmarks/bench_tts_added.py -s -q -p no:cacheprovider
(BENCH_TTS_RUNS: runs, default 31; BENCH_TTS_RTF: Magpie's seconds per audio second, 0.1)
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable

import aiohttp
from homeassistant.components import tts
from homeassistant.components.tts.entity import TTSAudioRequest
from homeassistant.components.tts.helper import get_engine_instance
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.spark.clients.probes import PROBE_PHRASE
from custom_components.spark_audio.tts import MagpieTextToSpeechEntity
from tests.conftest import spark_sim  # noqa: F401  (fixture)
from tests.integration.conftest import (  # noqa: F401  (fixtures)
    auto_enable_custom_integrations,
    gateway,
    init_integration,
    mock_config_entry,
    spool,
    tts_cache_in_tmp,
)
from tests.integration.gateway_harness import Client
from tests.spark_sim.server import SparkSim

RUNS = int(os.environ.get("BENCH_TTS_RUNS", "31"))
RTF = float(os.environ.get("BENCH_TTS_RTF", "0.1"))
TARGET_ADDED_MS = 5.0
ENTITY_ID = "tts.127_0_0_1_magpie_text_to_speech"
LANGUAGE = "en-US"
SPEECH = "/api/spark_audio/v1/audio/speech"
ONLINE = "/v1/audio/synthesize_online"
WAV_HEADER = 44

BOUNDARY = "BenchTtsBoundary"
FORM_HEADERS = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}

type Timed = Callable[[str], Awaitable[float]]


def multipart(fields: dict[str, str]) -> bytes:
    """A form body as bytes: the direct baseline spends nothing on encoding while timed."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()


def sentence(run: int) -> str:
    """A sentence of this run's own, so no cache answers it."""
    return f"The kitchen light is now on, number {run}."


async def first_audio(chunks: AsyncIterable[bytes], start: float, skip: int = 0) -> float:
    """Seconds from ``start`` until a chunk brings bytes past the first ``skip``; then drains."""
    seen = 0
    first = 0.0
    async for chunk in chunks:
        seen += len(chunk)
        if not first and seen > skip:
            first = time.perf_counter() - start
    assert first, "no audio came"
    return first


async def body_chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """An HTTP response body as it arrives."""
    while chunk := await response.content.readany():
        yield chunk


def magpie_fields(sim: SparkSim, count: int) -> list[dict[str, str]]:
    """The last ``count`` synthesize_online forms Magpie got (the probes' left out), text too."""
    return [
        r.fields
        for r in sim.states["magpie"].requests
        if r.path == ONLINE and r.fields.get("text") != PROBE_PHRASE
    ][-count:]


async def test_tts_first_audio_added(
    hass: HomeAssistant,
    spark_sim: SparkSim,  # noqa: F811
    init_integration: MockConfigEntry,  # noqa: F811
    gateway: Client,  # noqa: F811
) -> None:
    asyncio.get_running_loop().set_debug(False)
    for noisy in ("aiohttp.access", "spark_sim"):  # a line per request would bury the table
        logging.getLogger(noisy).setLevel(logging.WARNING)
    spark_sim.states["magpie"].rtf = RTF
    entity = get_engine_instance(hass, ENTITY_ID)
    assert isinstance(entity, MagpieTextToSpeechEntity)
    magpie = f"http://127.0.0.1:{spark_sim.ports['magpie']}{ONLINE}"
    direct_session = aiohttp.ClientSession()

    async def direct(fields: dict[str, str], text: str) -> float:
        body = multipart({**fields, "text": text})  # made before the clock starts
        start = time.perf_counter()
        async with direct_session.post(magpie, data=body, headers=FORM_HEADERS) as response:
            assert response.status == 200, await response.text()
            return await first_audio(body_chunks(response), start)

    async def via_entity(text: str) -> float:
        async def message() -> AsyncGenerator[str]:
            yield text

        start = time.perf_counter()
        result = await entity.async_stream_tts_audio(TTSAudioRequest(LANGUAGE, {}, message()))
        return await first_audio(result.data_gen, start, WAV_HEADER)

    async def via_ha_stream(text: str) -> float:
        start = time.perf_counter()
        stream = tts.async_create_stream(hass, ENTITY_ID, LANGUAGE, {"preferred_format": "wav"})
        stream.async_set_message(text)
        return await first_audio(stream.async_stream_result(), start, WAV_HEADER)

    def via_speech(response_format: str) -> Timed:
        async def timed(text: str) -> float:
            start = time.perf_counter()
            body = {"model": "tts-1", "input": text, "response_format": response_format}
            async with gateway.post(SPEECH, json=body) as response:
                assert response.status == 200, await response.text()
                skip = WAV_HEADER if response_format == "wav" else 0
                return await first_audio(body_chunks(response), start, skip)

        return timed

    paths: dict[str, Timed] = {
        "TTS entity, async_stream_tts_audio": via_entity,
        "HA TTS stream (Assist), wav": via_ha_stream,
        "/audio/speech pcm": via_speech("pcm"),
        "/audio/speech wav": via_speech("wav"),
        "/audio/speech mp3 (ffmpeg)": via_speech("mp3"),
    }
    try:
        # What each path asks Magpie for (voice, language, rate), from a first call of each.
        asks: dict[str, dict[str, str]] = {}
        for name, path in paths.items():
            await path(sentence(-1))
            (fields,) = magpie_fields(spark_sim, 1)
            asks[name] = {k: v for k, v in fields.items() if k != "text"}
        baselines = {tuple(sorted(ask.items())): ask for ask in asks.values()}
        direct_samples: dict[tuple[tuple[str, str], ...], list[float]] = {
            key: [] for key in baselines
        }
        samples: dict[str, list[float]] = {name: [] for name in paths}
        load_before = os.getloadavg()
        for run in range(RUNS):
            text = sentence(run)
            for ask in baselines.values():  # render it in the simulator, untimed
                await direct(ask, text)
            for key, ask in baselines.items():
                direct_samples[key].append(await direct(ask, text))
            for name, path in paths.items():
                samples[name].append(await path(text))
                (fields,) = magpie_fields(spark_sim, 1)
                assert fields["text"] == text, (name, fields)
        load_after = os.getloadavg()
    finally:
        await direct_session.close()

    def ms(values: list[float]) -> float:
        return statistics.median(values) * 1000

    print()
    print(
        f"TTS first audio byte, median of {RUNS} runs, Magpie RTF {RTF} (simulated), "
        f"load average {load_before[0]:.1f} -> {load_after[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'path':<38} {'rate':>6} {'first byte':>11} {'Magpie':>9} {'added':>9}")
    for key, ask in baselines.items():
        rate = ask.get("sample_rate_hz", "?")
        print(f"{'Magpie direct':<38} {rate:>6} {ms(direct_samples[key]):>8.1f} ms")
    for name in paths:
        key = tuple(sorted(asks[name].items()))
        own, base = ms(samples[name]), ms(direct_samples[key])
        rate = asks[name].get("sample_rate_hz", "?")
        verdict = (
            ""
            if name.endswith("(ffmpeg)")
            else ("  met" if own - base <= TARGET_ADDED_MS else "  MISSED")
        )
        print(
            f"{name:<38} {rate:>6} {own:>8.1f} ms {base:>6.1f} ms {own - base:>+6.1f} ms{verdict}"
        )
    print(f"target: <= {TARGET_ADDED_MS:.0f} ms added (mp3 shown for information: ffmpeg encodes)")
