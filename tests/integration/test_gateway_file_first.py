"""Forms whose fields come after the file (curl's usual order): streamed all the same.

The file is forwarded to the likeliest backend while it arrives; the fields after it are
read when it ends, passed on, and obeyed (another model: replayed there from the spool).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.integration.gateway_harness import (
    MIB,
    Client,
    assert_no_leak,
    audio,
    body,
    open_raw,
    ours,
    part,
    post_form,
    uploads_running,
    wait_for,
)
from tests.spark_sim.audio import wav_bytes
from tests.spark_sim.faults import RecordedRequest
from tests.spark_sim.server import SparkSim


def uploads_named(sim: SparkSim, service: str, filename: str) -> list[RecordedRequest]:
    """This test's own requests (background probes also transcribe, under other names)."""
    return [r for r in sim.states[service].requests if r.file_name == filename]


def receiving_audio(sim: SparkSim, filename: str) -> Callable[[], bool]:
    """A condition: Parakeet is part-way through receiving the file ``filename``."""
    return lambda: any(
        r.first_audio_byte_at is not None and r.upload_done_at is None
        for r in uploads_named(sim, "parakeet", filename)
    )


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response with a Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    return int(lines[0].split()[1]), await reader.readexactly(length)


async def ended_clean(hass: HomeAssistant, spool: Path) -> None:
    """The upload is over and left no file behind."""
    await wait_for(uploads_running(hass, 0), "the upload to finish")
    assert ours(spool) == set()


async def send_in_two(
    gateway: Client,
    token: str,
    first: bytes,
    rest: bytes,
    meanwhile: Callable[[], Awaitable[None]],
) -> tuple[int, bytes]:
    """Send ``first``, run ``meanwhile`` (the rest still unsent), then ``rest``; the answer."""
    reader, writer = await open_raw(gateway, token, first, len(first) + len(rest))
    try:
        await meanwhile()
        writer.write(rest)
        await writer.drain()
        return await read_response(reader)
    finally:
        writer.close()


async def test_file_first_reaches_the_backend_before_the_model_is_sent(
    hass: HomeAssistant,
    gateway: Client,
    hass_access_token: str,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    spool: Path,
) -> None:
    """Parakeet gets audio while the client has not even sent the model field yet.

    A gateway that waited for the whole form (spooling the file first) would give the
    backend nothing until the body ends, and the wait below would fail.
    """
    spark_sim.states["parakeet"].transcript = "streamed before the model came"
    data = wav_bytes(b"\x00\x01" * (8 * MIB), 16000)
    head = audio(data, "early.wav")
    rest = body(part("model", "whisper-1"), part("response_format", "text"))
    split = 2 * MIB

    async def backend_receiving() -> None:
        await wait_for(
            receiving_audio(spark_sim, "early.wav"), "Parakeet to get audio before the model field"
        )

    status, payload = await send_in_two(
        gateway, hass_access_token, head[:split], head[split:] + rest, backend_receiving
    )
    assert status == 200, payload[:400]
    assert payload.strip() == b"streamed before the model came"
    mine = uploads_named(spark_sim, "parakeet", "early.wav")
    assert [r.file_bytes for r in mine] == [len(data)]
    await ended_clean(hass, spool)


async def test_model_after_the_file_is_obeyed(
    hass: HomeAssistant,
    gateway: Client,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    spool: Path,
) -> None:
    """File first, then ``model=whisperx`` and a language: WhisperX answers, with them."""
    spark_sim.states["parakeet"].transcript = "parakeet heard this"
    spark_sim.states["whisperx"].transcript = "whisperx heard this"
    data = wav_bytes(b"\x00\x01" * (2 * MIB), 16000)
    response = await post_form(
        gateway,
        audio(data, "rerouted.wav"),
        part("model", "whisperx"),
        part("language", "de"),
        part("response_format", "verbose_json"),
    )
    result = await response.json()
    assert response.status == 200, result
    assert result["text"] == "whisperx heard this"
    (whisperx,) = uploads_named(spark_sim, "whisperx", "rerouted.wav")
    assert whisperx.fields.get("language") == "de"
    assert whisperx.file_bytes == len(data)
    # Parakeet (the likelier guess) may have begun receiving it; it never finished it.
    assert all(r.status != 200 for r in uploads_named(spark_sim, "parakeet", "rerouted.wav"))
    await ended_clean(hass, spool)


async def test_fields_after_the_file_reach_the_backend(
    hass: HomeAssistant,
    gateway: Client,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    spool: Path,
) -> None:
    """Model first, file, then language and format: none of the late fields is dropped."""
    spark_sim.states["parakeet"].transcript = "late fields are kept"
    data = wav_bytes(b"\x00\x01" * 32000, 16000)
    response = await post_form(
        gateway,
        part("model", "parakeet"),
        audio(data, "late.wav"),
        part("language", "fr"),
        part("response_format", "srt"),
    )
    text = await response.text()
    assert response.status == 200, text
    assert " --> " in text
    assert "late fields are kept" in text
    (parakeet,) = uploads_named(spark_sim, "parakeet", "late.wav")
    assert parakeet.fields.get("language") == "fr"
    assert parakeet.fields.get("response_format") == "verbose_json"
    await ended_clean(hass, spool)


async def _without_whisperx(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    hass.config_entries.async_update_entry(entry, data={**entry.data, "whisperx_enabled": False})
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.mark.parametrize("whisperx", [True, False], ids=["both services", "parakeet only"])
async def test_a_copy_is_kept_only_where_a_replay_may_be_needed(
    hass: HomeAssistant,
    gateway: Client,
    hass_access_token: str,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    spool: Path,
    whisperx: bool,
) -> None:
    """With WhisperX too, the model may send the file there: it is spooled while it streams.

    With Parakeet alone on one Spark no replay can ever happen, and nothing touches the disk.
    """
    if not whisperx:
        await _without_whisperx(hass, init_integration)
    spark_sim.states["parakeet"].transcript = "copied or not"
    head = audio(wav_bytes(b"\x00\x01" * (4 * MIB), 16000), "copy.wav")
    rest = body(part("model", "parakeet"))

    async def copy_or_none() -> None:
        await wait_for(receiving_audio(spark_sim, "copy.wav"), "Parakeet to get audio")
        if whisperx:  # the copy's file is created off the loop: on a busy machine, a bit later
            await wait_for(lambda: bool(ours(spool)), "the copy to be spooled")
        assert bool(ours(spool)) is whisperx

    status, payload = await send_in_two(
        gateway, hass_access_token, head[: 2 * MIB], head[2 * MIB :] + rest, copy_or_none
    )
    assert (status, payload) == (200, b'{"text": "copied or not"}')
    await ended_clean(hass, spool)


async def test_model_after_the_file_for_a_service_not_offered(
    hass: HomeAssistant,
    gateway: Client,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    spool: Path,
) -> None:
    """``model=whisperx`` after the file, WhisperX off: the 404 a model-first request gets.

    Its message names the service, never where the Spark's services listen.
    """
    await _without_whisperx(hass, init_integration)
    response = await post_form(
        gateway,
        audio(wav_bytes(b"\x00\x01" * 32000, 16000), "nowhere.wav"),
        part("model", "whisperx"),
    )
    result = await response.json()
    assert response.status == 404, result
    assert result["error"]["code"] == "model_not_found"
    assert "WhisperX" in result["error"]["message"]
    assert_no_leak(json.dumps(result), spark_sim, spool)
    await ended_clean(hass, spool)
