"""Diarized transcription: WhisperX when ready, Parakeet + Sortformer otherwise; failover."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_socket
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.spark_audio.const import CONF_MAX_UPLOAD_MB, DOMAIN
from custom_components.spark_audio.transcription import decode
from custom_components.spark_audio.transcription import spool as spool_module
from tests.integration.conftest import entry_data
from tests.integration.gateway_harness import (
    Client,
    assert_no_leak,
    body,
    form_type,
    ours,
    part,
    uploads_running,
    wait_for,
)
from tests.spark_sim.audio import speak, wav_bytes
from tests.spark_sim.server import SparkSim

BASE = "/api/spark_audio/v1"
MIB = 1024 * 1024


@pytest.fixture
async def clip() -> bytes:
    return await speak("good morning everyone and welcome", "en-US", 16000)


async def post_speakers(
    hass_client: ClientSessionGenerator, clip: bytes, **fields: str
) -> aiohttp.ClientResponse:
    client = await hass_client()
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", clip, filename="meeting.wav", content_type="audio/wav")
    response: aiohttp.ClientResponse = await client.post(
        f"{BASE}/audio/transcribe-with-speakers", data=form
    )
    return response


async def test_whisperx_preferred(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    clip: bytes,
) -> None:
    """A healthy WhisperX with its diarizer answers, in the predecessor's exact shape."""
    response = await post_speakers(hass_client, clip, num_speakers="2", language="en")
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"duration", "language", "speakers_detected", "segments", "models"}
    assert body["models"]["transcription"] == "whisperx-medium"
    assert set(body["segments"][0]) == {"start_ms", "end_ms", "speaker", "text"}
    fields = next(
        r.fields
        for r in spark_sim.states["whisperx"].requests
        if r.path == "/v1/audio/transcribe-with-speakers"
    )
    assert fields["num_speakers"] == "2"
    assert not [r for r in spark_sim.states["parakeet"].requests if r.path == "/v1/audio/diarize"]


@pytest.mark.parametrize("fmt", ["json", "srt", "vtt"])
async def test_fallback_parakeet_and_sortformer(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    without_whisperx: MockConfigEntry,
    clip: bytes,
    fmt: str,
) -> None:
    """Without WhisperX both Parakeet calls get the same spooled upload, merged by time."""
    spark_sim.states["parakeet"].transcript = "good morning everyone and welcome"
    response = await post_speakers(hass_client, clip, response_format=fmt)
    assert response.status == 200, await response.text()
    paths = [r.path for r in spark_sim.states["parakeet"].requests]
    assert "/v1/audio/diarize" in paths
    assert "/v1/audio/transcriptions" in paths
    sizes = {
        r.file_bytes for r in spark_sim.states["parakeet"].requests if r.file_name == "meeting.wav"
    }
    assert sizes == {len(clip)}
    if fmt == "json":
        body = await response.json()
        assert body["models"]["diarization"] == "nvidia/diar_sortformer_4spk-v1"
        assert " ".join(s["text"] for s in body["segments"]) == "good morning everyone and welcome"
        assert body["speakers_detected"]
    elif fmt == "srt":
        text = await response.text()
        assert text.startswith("1\n00:00:00,")
        assert "[Speaker_0]" in text
    else:
        text = await response.text()
        assert text.startswith("WEBVTT")
        assert "<v Speaker_0>" in text


async def test_long_audio_is_diarized_in_windows(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    without_whisperx: MockConfigEntry,
) -> None:
    """Past Sortformer's ~12 minutes the fallback cuts overlapping windows and reconciles."""
    for state in spark_sim.states.values():
        state.rtf = 0
    long_audio = wav_bytes(bytes(8000 * 2 * 25 * 60), 8000)  # 25 minutes of 8 kHz silence
    response = await post_speakers(hass_client, long_audio)
    assert response.status == 200, await response.text()
    body = await response.json()
    diarize_calls = [
        r for r in spark_sim.states["parakeet"].requests if r.path == "/v1/audio/diarize"
    ]
    assert len(diarize_calls) == 3  # 0-10, 9-19, 18-25 minutes
    assert all(r.file_bytes < 8000 * 2 * 11 * 60 for r in diarize_calls)
    assert body["models"]["diarization"].endswith("(windowed)")
    assert body["duration"] == pytest.approx(25 * 60, abs=1)


async def test_long_mp3_is_decoded_then_windowed(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    without_whisperx: MockConfigEntry,
    tmp_path: Path,
) -> None:
    """A non-WAV upload is decoded with HA's ffmpeg so long audio can still be windowed."""
    for state in spark_sim.states.values():
        state.rtf = 0
    mp3 = tmp_path / "long.mp3"
    process = await asyncio.create_subprocess_exec(
        "ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono",
        "-t", "1500", "-b:a", "8k", str(mp3),
    )  # fmt: skip
    assert await process.wait() == 0
    data = await hass.async_add_executor_job(mp3.read_bytes)
    client = await hass_client()
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("file", data, filename="long.mp3", content_type="audio/mpeg")
    response = await client.post(f"{BASE}/audio/transcribe-with-speakers", data=form)
    assert response.status == 200, await response.text()
    diarize_calls = [
        r for r in spark_sim.states["parakeet"].requests if r.path == "/v1/audio/diarize"
    ]
    assert len(diarize_calls) == 3
    assert all(r.file_content_type == "audio/wav" for r in diarize_calls)


async def test_not_audio_for_speakers(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    without_whisperx: MockConfigEntry,
    spool: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ffmpeg's complaint (it names our spool path and HA's PID) goes to the debug log only."""
    caplog.set_level(logging.DEBUG, "custom_components.spark_audio.transcription.decode")
    response = await post_speakers(hass_client, b"definitely not audio")
    assert response.status == 400
    body = await response.json()
    assert body["error"]["code"] == "not_audio"
    assert body["error"]["message"] == "The file is not audio this gateway can read"
    assert str(os.getpid()) not in json.dumps(body)
    assert_no_leak(json.dumps(body), spark_sim, spool)
    logged = [r for r in caplog.records if r.getMessage().startswith("ffmpeg exited")]
    assert [r.levelno for r in logged] == [logging.DEBUG]
    assert ours(spool) == set()


async def silent_flac(folder: Path, seconds: int) -> bytes:
    """``seconds`` of silence as FLAC: a few KB per minute that decode to 1.9 MB per minute."""
    path = folder / "silence.flac"
    process = await asyncio.create_subprocess_exec(
        "ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono",
        "-t", str(seconds), "-c:a", "flac", str(path),
    )  # fmt: skip
    assert await process.wait() == 0
    data = path.read_bytes()
    path.unlink()
    return data


async def post_file(
    hass_client: ClientSessionGenerator, data: bytes, name: str
) -> aiohttp.ClientResponse:
    client = await hass_client()
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("file", data, filename=name, content_type="audio/flac")
    response: aiohttp.ClientResponse = await client.post(
        f"{BASE}/audio/transcribe-with-speakers", data=form
    )
    return response


@pytest.fixture
def decoded_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every decoded WAV as it is removed: how far ffmpeg got before it stopped.

    A decode that ran to the end and was refused afterwards would also leave
    nothing behind; only the size shows that ffmpeg itself stopped at the bound.
    """
    sizes: list[int] = []
    real_remove = spool_module.SpooledFile.remove

    async def remove(self: spool_module.SpooledFile) -> None:
        if self.path.suffix == ".wav":
            with contextlib.suppress(FileNotFoundError):
                sizes.append(os.stat(self.path).st_size)
        await real_remove(self)

    monkeypatch.setattr(spool_module.SpooledFile, "remove", remove)
    return sizes


def assert_stopped_at(sizes: list[int], bound_bytes: int) -> None:
    """One decoded WAV, cut off at most a second (and a packet) past ``bound_bytes``."""
    assert len(sizes) == 1, sizes
    assert sizes[0] <= bound_bytes + decode.WAV_HEADER_ROOM + 2 * decode.DECODED_BYTES_PER_S, sizes


async def assert_clean_refusal(
    response: aiohttp.ClientResponse, status: int, code: str, sim: SparkSim, spool: Path
) -> dict[str, Any]:
    """The status and code asked for, no address, path or PID in it, nothing left behind."""
    text = await response.text()
    assert response.status == status, text
    assert_no_leak(text, sim, spool)
    error: dict[str, Any] = (await response.json())["error"]
    assert error["code"] == code, error
    assert ours(spool) == set()
    return error


async def test_flac_bomb_is_bounded_by_the_maximum_duration(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    without_whisperx: MockConfigEntry,
    spool: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    decoded_sizes: list[int],
) -> None:
    """Compressed silence past the longest audio we take: 413, nothing left in the spool,
    and ffmpeg stopped writing a second past the bound (not 19 MB decoded, then refused).

    The bound is lowered from 12 h to 60 s so the bomb (10 min of silence, about
    100 KB of FLAC, 19 MB decoded) is quick; the mechanism is the same.
    """
    monkeypatch.setattr(decode, "MAX_AUDIO_S", 60)
    bomb = await silent_flac(tmp_path, 600)
    assert len(bomb) < 200_000
    response = await post_file(hass_client, bomb, "bomb.flac")
    error = await assert_clean_refusal(response, 413, "audio_too_long", spark_sim, spool)
    assert "1 min" in error["message"]
    assert_stopped_at(decoded_sizes, 60 * decode.DECODED_BYTES_PER_S)
    assert not [r for r in spark_sim.states["parakeet"].requests if r.path == "/v1/audio/diarize"]

    short = await silent_flac(tmp_path, 30)
    response = await post_file(hass_client, short, "short.flac")
    assert response.status == 200, await response.text()
    assert ours(spool) == set()


async def test_decoded_audio_is_bounded_by_the_upload_cap(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    without_whisperx: MockConfigEntry,
    spool: Path,
    tmp_path: Path,
    decoded_sizes: list[int],
) -> None:
    """With a 1 MiB upload cap, a 60 s FLAC (2 MB as WAV) may not become a bigger file than that."""
    hass.config_entries.async_update_entry(
        without_whisperx, options={**without_whisperx.options, CONF_MAX_UPLOAD_MB: 1}
    )
    await hass.async_block_till_done()
    response = await post_file(hass_client, await silent_flac(tmp_path, 60), "a.flac")
    await assert_clean_refusal(response, 413, "audio_too_long", spark_sim, spool)
    assert_stopped_at(decoded_sizes, MIB)


async def test_action_decode_of_a_local_file_is_bounded_too(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    without_whisperx: MockConfigEntry,
    spool: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    decoded_sizes: list[int],
) -> None:
    """A media file for ``transcribe`` with speakers gets the same bound: a translated error.

    The bound is lowered to 60 s so the ten-minute bomb is quick (see above).
    """
    monkeypatch.setattr(decode, "MAX_AUDIO_S", 60)
    media = tmp_path / "media"
    media.mkdir()
    hass.config.media_dirs = {"local": str(media)}
    hass.config.allowlist_external_dirs = {str(media)}
    bomb = await silent_flac(tmp_path, 600)
    await hass.async_add_executor_job((media / "bomb.flac").write_bytes, bomb)
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "transcribe",
            {"media": str(media / "bomb.flac"), "speakers": True, "write": ["srt"]},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "transcription_failed"
    assert "1 min" in str(err.value.translation_placeholders)
    assert ours(spool) == set()
    assert_stopped_at(decoded_sizes, 60 * decode.DECODED_BYTES_PER_S)
    assert sorted(p.name for p in media.iterdir()) == ["bomb.flac"]


@pytest.fixture
def small_disk(spool: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk with 3 MiB free above the reserve, less what the spool folder holds.

    A nearly full disk cannot be made here (and the real free space moves with
    whatever else runs), so the free-space probe is replaced by this simulation.
    """

    def free(target: Path | int) -> int:
        used = 0
        for path in spool.iterdir():
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile
                used += path.stat().st_size
        return spool_module.MIN_FREE_BYTES + 3 * MIB - used

    monkeypatch.setattr(spool_module, "free_bytes", free)


async def test_spool_keeps_the_disk_reserve(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    without_whisperx: MockConfigEntry,
    spool: Path,
    small_disk: None,
    tmp_path: Path,
) -> None:
    """An upload that would eat into the reserve: 507, nothing left, in every upload path."""
    response = await post_file(hass_client, wav_bytes(b"\x00\x01" * 4 * MIB, 16000), "a.wav")
    await assert_clean_refusal(response, 507, "insufficient_storage", spark_sim, spool)


async def test_spool_reserve_while_streaming_to_the_backend(
    hass: HomeAssistant,
    gateway: Client,
    spark_sim: SparkSim,
    spool: Path,
    small_disk: None,
) -> None:
    """File first with WhisperX configured: streamed to Parakeet and copied on the way.

    The copy hits the reserve: the client hears 507 (not a 502 from the cut-off backend call).
    """
    audio = part(
        "file",
        wav_bytes(b"\x00\x01" * 4 * MIB, 16000),
        filename="x.wav",
        headers={"Content-Type": "audio/wav"},
    )
    response = await gateway.post(
        f"{BASE}/audio/transcriptions",
        data=body(audio, part("model", "parakeet")),
        headers={"Content-Type": form_type()},
    )
    await wait_for(uploads_running(hass, 0), "the upload to finish")
    await assert_clean_refusal(response, 507, "insufficient_storage", spark_sim, spool)


async def test_decode_stops_at_the_free_disk_space(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    without_whisperx: MockConfigEntry,
    spool: Path,
    small_disk: None,
    tmp_path: Path,
    decoded_sizes: list[int],
) -> None:
    """The decode may use only the space above the reserve: past it, 507 and nothing left.

    Ten minutes of FLAC silence (about 100 KB) is a 19 MB WAV, past the 3 MiB left:
    ffmpeg stops there rather than filling the disk.
    """
    response = await post_file(hass_client, await silent_flac(tmp_path, 600), "a.flac")
    await assert_clean_refusal(response, 507, "insufficient_storage", spark_sim, spool)
    assert_stopped_at(decoded_sizes, 3 * MIB)


@pytest.fixture
async def second_spark(socket_enabled: None) -> AsyncIterator[SparkSim]:
    pytest_socket.socket_allow_hosts(["127.0.0.1", "127.0.0.2"])
    sim = SparkSim(host="127.0.0.2", with_whisperx=False)
    await sim.start()
    yield sim
    await sim.stop()


async def test_failover_to_the_next_healthy_spark(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    second_spark: SparkSim,
    init_integration: MockConfigEntry,
    clip: bytes,
) -> None:
    """The first Spark dies between health polls: the request goes to the second one."""
    second = MockConfigEntry(
        domain=DOMAIN,
        title="127.0.0.2",
        unique_id="127.0.0.2",
        data={**entry_data(second_spark), "host": "127.0.0.2"},
    )
    second.add_to_hass(hass)
    assert await hass.config_entries.async_setup(second.entry_id)
    await spark_sim.stop_service("parakeet")  # HA still believes it is healthy
    second_spark.states["parakeet"].transcript = "answered by the second spark"
    client = await hass_client()
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("model", "parakeet")
    form.add_field("file", clip, filename="a.wav", content_type="audio/wav")
    response = await client.post(f"{BASE}/audio/transcriptions", data=form)
    assert response.status == 200, await response.text()
    assert (await response.json())["text"] == "answered by the second spark"
    await hass.config_entries.async_unload(second.entry_id)


async def test_transcribe_action_writes_captions(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    clip: bytes,
    tmp_path: Path,
) -> None:
    """spark_audio.transcribe: a media file in, response data and caption files out."""
    hass.config.media_dirs = {"local": str(tmp_path)}
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    media = tmp_path / "meeting.wav"
    await hass.async_add_executor_job(media.write_bytes, clip)
    done = async_capture_events(hass, "spark_audio_transcription_done")
    result: Any = await hass.services.async_call(
        DOMAIN,
        "transcribe",
        {"media": "media-source://media_source/local/meeting.wav", "write": ["json", "srt"]},
        blocking=True,
        return_response=True,
    )
    assert result["segments"]
    assert result["files"] == [str(tmp_path / "meeting.json"), str(tmp_path / "meeting.srt")]
    written = json.loads(await hass.async_add_executor_job((tmp_path / "meeting.json").read_text))
    assert written["segments"] == result["segments"]
    assert len(done) == 1
    assert done[0].data["path"] == str(media)

    plain: Any = await hass.services.async_call(
        DOMAIN, "transcribe", {"media": str(media)}, blocking=True, return_response=True
    )
    assert plain["text"]
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "transcribe", {"media": "/etc/passwd"}, blocking=True, return_response=True
        )
    assert err.value.translation_key == "media_not_allowed"
