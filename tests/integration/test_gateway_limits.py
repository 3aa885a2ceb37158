"""Uploads that stop half-way or come in crowds: caps and slots hold, nothing is left behind.

Runs HA's HTTP app with handler cancellation on (as HA itself does), and a
per-test temporary directory so "nothing left behind" is an exact check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.spark_audio.const import (
    CONF_MAX_CONCURRENT_UPLOADS,
    CONF_MAX_UPLOAD_MB,
    DOMAIN,
    EVENT_TRANSCRIPTION_DONE,
)
from custom_components.spark_audio.gateway import views
from custom_components.spark_audio.transcription import action, routing
from custom_components.spark_audio.transcription.limits import active_uploads
from tests.integration.gateway_harness import (
    BASE,
    BOUNDARY,
    MIB,
    WAV,
    Client,
    T,
    assert_no_leak,
    assert_openai_error,
    audio,
    body,
    field,
    form_type,
    open_raw,
    ours,
    post_form,
    uploads_running,
    wait_for,
)
from tests.spark_sim.audio import wav_bytes
from tests.spark_sim.faults import Fault
from tests.spark_sim.server import SparkSim

M = ("model", "parakeet")


BIG = audio(wav_bytes(bytes(3 * MIB), 16000), "big.wav")


def _spooled(spool: Path, size: int) -> Any:
    return lambda: any(path.stat().st_size == size for path in spool.glob("spark_audio_*.upload"))


def _spooling(spool: Path) -> Any:
    return lambda: any(name.startswith("spark_audio_") for name in ours(spool))


DISCONNECTS = {
    "headers only": b"",
    "inside a field": field(*M)[:30],
    "inside the spooled file": BIG[: 2 * MIB],
    "after the spooled file": BIG + f"--{BOUNDARY}\r\nContent-Disposition: form-da".encode(),
    "inside the streamed file": field(*M) + BIG[: 2 * MIB],
}


@pytest.mark.parametrize("point", list(DISCONNECTS))
async def test_client_disconnect_leaves_nothing(
    hass: HomeAssistant,
    gateway: Client,
    hass_access_token: str,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    spool: Path,
    point: str,
) -> None:
    """A client that hangs up at any point: handler cancelled, files gone, backend call ended."""
    before = ours(spool)
    _, writer = await open_raw(gateway, hass_access_token, DISCONNECTS[point], 50 * MIB)
    await wait_for(uploads_running(hass, 1), "the upload to start")
    parakeet = spark_sim.states["parakeet"]
    if "spooled" in point:
        await wait_for(_spooling(spool), "the spool file")
    if point == "after the spooled file":
        await wait_for(_spooled(spool, 3 * MIB + 44), "the whole file spooled")
    if "streamed" in point:
        await wait_for(parakeet.audio_started.is_set, "the backend to get audio")
    # Uploads under way at the backend now (ours, and maybe a background deep check's).
    receiving = [r for r in parakeet.requests if r.finished_at is None]
    writer.transport.abort()
    await wait_for(uploads_running(hass, 0), "the handler to end")
    await wait_for(lambda: ours(spool) == before, "the temp directory to be clean")
    await wait_for(
        lambda: all(r.finished_at is not None for r in receiving), "the backend upload to end"
    )


async def _set_options(hass: HomeAssistant, entry: MockConfigEntry, **options: int) -> None:
    hass.config_entries.async_update_entry(entry, options={**entry.options, **options})
    await hass.async_block_till_done()


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 256 * 1024):
        yield data[start : start + 256 * 1024]


@pytest.mark.parametrize("file_first", [False, True], ids=["streamed", "spooled"])
@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
async def test_upload_size_cap(
    hass: HomeAssistant,
    gateway: Client,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    spool: Path,
    file_first: bool,
    declared: bool,
) -> None:
    """Past the configured maximum: 413, whether the length is declared or not."""
    await _set_options(hass, init_integration, **{CONF_MAX_UPLOAD_MB: 1})
    data = body(BIG, field(*M)) if file_first else body(field(*M), BIG)
    payload: Any = data if declared else _chunks(data)
    response = await gateway.post(
        f"{BASE}/{T}", data=payload, headers={"Content-Type": form_type()}
    )
    assert_no_leak(await response.text(), spark_sim, spool)
    result = await response.json()
    assert response.status == 413, result
    assert_openai_error(result, 413)
    assert result["error"]["code"] == "file_too_large"
    await wait_for(uploads_running(hass, 0), "the upload to finish")
    assert ours(spool) == set()
    # Under the cap the same gateway still answers.
    small = await post_form(gateway, field(*M), audio())
    assert small.status == 200, await small.text()


async def _upload_holding_the_only_slot(
    hass: HomeAssistant, gateway: Client, token: str, entry: MockConfigEntry
) -> asyncio.StreamWriter:
    """One upload slot configured, taken by an upload still sending (abort its writer to end)."""
    await _set_options(hass, entry, **{CONF_MAX_CONCURRENT_UPLOADS: 1})
    _, writer = await open_raw(gateway, token, field(*M), 10 * MIB)
    await wait_for(uploads_running(hass, 1), "the first upload to start")
    return writer


async def test_concurrent_upload_cap(
    hass: HomeAssistant,
    gateway: Client,
    hass_access_token: str,
    init_integration: MockConfigEntry,
    spark_sim: SparkSim,
    spool: Path,
) -> None:
    """One upload past the configured number in flight: 429 with Retry-After."""
    writer = await _upload_holding_the_only_slot(hass, gateway, hass_access_token, init_integration)
    response = await post_form(gateway, field(*M), audio())
    assert_no_leak(await response.text(), spark_sim, spool)
    result = await response.json()
    assert response.status == 429, result
    assert_openai_error(result, 429)
    assert result["error"]["code"] == "too_many_uploads"
    assert int(response.headers["Retry-After"]) > 0
    writer.transport.abort()
    await wait_for(uploads_running(hass, 0), "the first upload to end")
    again = await post_form(gateway, field(*M), audio())
    assert again.status == 200, await again.text()


async def test_sdk_style_client_unaffected(
    gateway: Client, init_integration: MockConfigEntry, spool: Path
) -> None:
    """The limits leave a normal aiohttp form (fields first) working and clean."""
    form = aiohttp.FormData()
    form.add_field("model", "parakeet")
    form.add_field("file", WAV, filename="a.wav", content_type="audio/wav")
    response = await gateway.post(f"{BASE}/{T}", data=form)
    assert response.status == 200, await response.text()
    assert ours(spool) == set()


async def test_speech_body_in_pieces(gateway: Client, init_integration: MockConfigEntry) -> None:
    """A JSON body that arrives in several pieces is read whole (the 1 MiB cap reads in a loop)."""
    payload = b'{"input": "Hello there.", "response_format": "pcm", "pad": "' + b" " * 300_000
    payload += b'"}'
    response = await gateway.post(
        f"{BASE}/audio/speech",
        data=_chunks(payload),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 200, await response.text()
    assert len(await response.read()) > 0


@pytest.mark.parametrize(
    ("path", "fault"),
    [(T, Fault.DOWN), (T, Fault.RESET), ("audio/speech", Fault.DOWN)],
)
async def test_unreachable_backend_not_named(
    gateway: Client,
    init_integration: MockConfigEntry,
    spark_sim: SparkSim,
    spool: Path,
    fault: Fault,
    path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Spark that cannot be reached: a 502 that names the service, its address only in the log."""
    caplog.set_level(logging.DEBUG, logger=routing.__name__)
    spark_sim.states["parakeet"].fault = fault
    spark_sim.states["magpie"].fault = fault
    if path == "audio/speech":
        response = await gateway.post(
            f"{BASE}/{path}", json={"input": "Hi.", "response_format": "wav"}
        )
    else:
        response = await gateway.post(
            f"{BASE}/{path}", data=body(field(*M), audio()), headers={"Content-Type": form_type()}
        )
    text = await response.text()
    assert response.status == 502, text
    assert_no_leak(text, spark_sim, spool)
    assert "is unreachable" in text
    assert any("is unreachable" in r.message and r.levelno == logging.DEBUG for r in caplog.records)


async def test_speech_and_waiting_actions_take_a_slot_too(
    hass: HomeAssistant,
    gateway: Client,
    hass_access_token: str,
    init_integration: MockConfigEntry,
    spark_sim: SparkSim,
    spool: Path,
    media: Path,
) -> None:
    """With the one slot held by an upload, speech is a 429 and a waiting transcribe a clear
    error; a background transcription is not refused (the job queue bounds it)."""
    writer = await _upload_holding_the_only_slot(hass, gateway, hass_access_token, init_integration)
    speech = await gateway.post(f"{BASE}/audio/speech", json={"input": "Hello."})
    assert_no_leak(await speech.text(), spark_sim, spool)
    result = await speech.json()
    assert speech.status == 429, result
    assert_openai_error(result, 429)
    assert result["error"]["code"] == "too_many_uploads"
    assert int(speech.headers["Retry-After"]) > 0
    with pytest.raises(HomeAssistantError) as busy:
        await _transcribe(hass, media, wait=True)
    assert busy.value.translation_key == "too_busy"
    done = async_capture_events(hass, EVENT_TRANSCRIPTION_DONE)
    job = await _transcribe(hass, media, wait=False)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [event.data["job_id"] for event in done] == [job["job_id"]]
    writer.transport.abort()
    await wait_for(uploads_running(hass, 0), "the first upload to end")
    again = await gateway.post(f"{BASE}/audio/speech", json={"input": "Hello."})
    assert again.status == 200, await again.text()
    await wait_for(uploads_running(hass, 0), "the speech to give its slot back")


@pytest.mark.parametrize("holder", ["speech", "waiting transcribe"])
async def test_speech_and_waiting_actions_hold_their_slot(
    hass: HomeAssistant,
    gateway: Client,
    init_integration: MockConfigEntry,
    spool: Path,
    media: Path,
    monkeypatch: pytest.MonkeyPatch,
    holder: str,
) -> None:
    """While a synthesis or a waiting transcribe runs, it holds the only slot: an upload is a
    429; the slot is free again once the holder is cancelled.

    The holder's work (opening the synthesis, the transcription) is replaced by a wait that
    never ends, so it is certainly still running when the upload arrives; a slow simulated
    backend would also slow its health checks and leave it marked down afterwards.
    """
    await _set_options(hass, init_integration, **{CONF_MAX_CONCURRENT_UPLOADS: 1})
    started = asyncio.Event()

    async def forever(*_: Any) -> Any:
        started.set()
        await asyncio.Event().wait()

    if holder == "speech":
        monkeypatch.setattr(views, "open_speech_stream", forever)
        work: Any = gateway.post(f"{BASE}/audio/speech", json={"input": "Hello."})
    else:
        monkeypatch.setattr(action, "run_transcription", forever)
        work = _transcribe(hass, media, wait=True)
    running = asyncio.ensure_future(work)
    await started.wait()
    assert active_uploads(hass) == 1
    response = await post_form(gateway, field(*M), audio())
    result = await response.json()
    assert response.status == 429, result
    assert result["error"]["code"] == "too_many_uploads"
    assert int(response.headers["Retry-After"]) > 0
    running.cancel()
    await asyncio.wait([running])
    await wait_for(uploads_running(hass, 0), f"the {holder} to give its slot back")
    again = await post_form(gateway, field(*M), audio())
    assert again.status == 200, await again.text()
    assert ours(spool) == set()


@pytest.fixture
async def media(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A one-second WAV in a media folder the transcribe action may read."""
    path = tmp_path / "note.wav"
    await hass.async_add_executor_job(path.write_bytes, WAV)
    hass.config.media_dirs = {"local": str(tmp_path)}
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    return path


async def _transcribe(hass: HomeAssistant, media: Path, *, wait: bool) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        "transcribe",
        {"media": str(media), "wait": wait},
        blocking=True,
        return_response=True,
    )
