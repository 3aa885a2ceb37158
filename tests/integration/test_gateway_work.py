"""What a gateway request may touch and leave running: only its upload, nothing after it ends."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import openai
import pytest
from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.spark_audio.gateway.upload import Upload
from custom_components.spark_audio.transcription.decode import decoded_wav
from custom_components.spark_audio.transcription.errors import TranscriptionError
from custom_components.spark_audio.transcription.spool import SpooledFile, remove_stale_spool_files
from tests.integration.gateway_harness import BASE, child_processes, ours, wait_for
from tests.spark_sim.audio import speak, wav_bytes
from tests.spark_sim.server import SparkSim


@pytest.fixture
async def secret_media(tmp_path: Path) -> Path:
    """A private recording on the HA host that no gateway caller may hear."""
    media = tmp_path / "private" / "secret.wav"
    media.parent.mkdir()
    media.write_bytes(await speak("the safe code is four four two", "en-US", 16000))
    return media


def _references(kind: str, target: Path) -> bytes:
    if kind == "hls":
        return (
            f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n"
            f"file:{target}\n#EXT-X-ENDLIST\n"
        ).encode()
    return f"ffconcat version 1.0\nfile '{target}'\n".encode()


@pytest.mark.parametrize("kind", ["hls", "concat"])
async def test_playlist_cannot_read_local_files(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    without_whisperx: MockConfigEntry,
    secret_media: Path,
    spool: Path,
    kind: str,
) -> None:
    """A playlist named like an MP3, pointing at a local file: 400, and nothing of the file."""
    spark_sim.states["parakeet"].transcript = "nothing was heard"
    client = await hass_client()
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field(
        "file", _references(kind, secret_media), filename="innocent.mp3", content_type="audio/mpeg"
    )
    response = await client.post(f"{BASE}/audio/transcribe-with-speakers", data=form)
    result = await response.json()
    assert response.status == 400, result
    assert result["error"]["code"] == "playlist_not_allowed"
    assert "safe code" not in str(result)
    # Nothing reached Parakeet: no diarization, no upload under the playlist's name (background
    # deep checks may transcribe their own clip meanwhile).
    requests = spark_sim.states["parakeet"].requests
    assert not [r for r in requests if r.path == "/v1/audio/diarize"]
    assert not [r for r in requests if r.file_name == "innocent.mp3"]
    assert ours(spool) == set()


@pytest.mark.parametrize("kind", ["hls", "concat"])
async def test_ffmpeg_itself_refuses_references(
    hass: HomeAssistant,
    without_whisperx: MockConfigEntry,
    secret_media: Path,
    spool: Path,
    kind: str,
) -> None:
    """Defence in depth: even past the content check, ffmpeg opens nothing but its pipe."""
    data = _references(kind, secret_media)
    path = spool / "spark_audio_given.upload"
    path.write_bytes(data)
    upload = Upload(hass)
    with pytest.raises(TranscriptionError) as err:
        await decoded_wav(hass, upload, SpooledFile(hass, path, len(data)))
    assert err.value.code == "not_audio"
    assert ours(spool) == {path.name}  # the decoded WAV is gone again
    await upload.close()


class StalledSpool(SpooledFile):
    """A spool whose reading stops after its first megabyte, as a slow disk would.

    Stands in for a stalled read so ffmpeg is certain to be running (waiting on
    its pipe) when the request is cancelled; ffmpeg itself is the real one.
    """

    async def chunks(self, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        async for chunk in super().chunks(start, length):
            yield chunk
            if length is None:
                await asyncio.Event().wait()


async def test_cancel_kills_and_reaps_ffmpeg(
    hass: HomeAssistant, without_whisperx: MockConfigEntry, spool: Path
) -> None:
    """Cancelled while decoding: ffmpeg killed and reaped, the decoded WAV removed."""
    path = spool / "spark_audio_given.upload"
    make = await asyncio.create_subprocess_exec(
        get_ffmpeg_manager(hass).binary, "-loglevel", "error", "-f", "lavfi",
        "-i", "sine=f=440:r=16000", "-t", "600", "-b:a", "32k", "-f", "mp3", str(path),
    )  # fmt: skip
    assert await make.wait() == 0
    before = child_processes()
    upload = Upload(hass)
    task = asyncio.create_task(
        decoded_wav(hass, upload, StalledSpool(hass, path, path.stat().st_size))
    )
    await wait_for(lambda: child_processes() - before, "ffmpeg to start")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await upload.close()
    assert child_processes() - before == set()  # neither running nor a zombie
    assert ours(spool) == {path.name}


async def test_failed_transcription_cancels_diarization(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    without_whisperx: MockConfigEntry,
    spool: Path,
) -> None:
    """Parakeet refuses the transcription at once: the parallel Sortformer call is cancelled."""
    spark_sim.states["parakeet"].rtf = 10_000  # diarization would take days
    client = await hass_client()
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("language", "xx")  # Parakeet answers 400 at once
    form.add_field("file", wav_bytes(bytes(32000), 16000), filename="a.wav")
    response = await client.post(f"{BASE}/audio/transcribe-with-speakers", data=form)
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["code"] == "backend_rejected"
    left = [
        task
        for task in asyncio.all_tasks()
        if not task.done()
        and getattr(task.get_coro(), "__qualname__", "") in ("_diarize", "ParakeetClient.diarize")
    ]
    assert left == []
    assert ours(spool) == set()


async def test_stale_spool_files_removed_at_startup(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, spool: Path
) -> None:
    """A crash's spool files go at the next start; other live processes' files stay."""
    dead = spool / "spark_audio_999999999_abcd.upload"
    mine = spool / f"spark_audio_{os.getpid()}_abcd.wav"
    other = spool / "spark_audio_1_abcd.upload"  # PID 1 is always alive
    old_legacy = spool / "spark_audio_q1w2e3.upload"  # named by the previous version
    new_legacy = spool / "spark_audio_r4t5y6.upload"
    unrelated = spool / "someone_else.upload"
    for path in (dead, mine, other, old_legacy, new_legacy, unrelated):
        path.write_bytes(b"x")
    os.utime(old_legacy, (0, 0))
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert ours(spool) == {other.name, new_legacy.name, unrelated.name}
    assert remove_stale_spool_files(spool) == 0


@pytest.fixture
async def sdk(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_access_token: str,
    init_integration: MockConfigEntry,
) -> AsyncIterator[openai.AsyncOpenAI]:
    client = await hass_client()
    sdk = openai.AsyncOpenAI(
        base_url=str(client.make_url(BASE)), api_key=hass_access_token, max_retries=0
    )
    yield sdk
    await sdk.close()


@pytest.mark.parametrize("model", ["parakeet", "whisperx"])
async def test_captions_from_a_json_only_backend(
    sdk: openai.AsyncOpenAI, spark_sim: SparkSim, model: str
) -> None:
    """A backend that renders only json/verbose_json: the gateway still gives SRT, VTT, text."""
    state = spark_sim.states[model]
    state.caption_formats = False
    state.transcript = "first words here. and then some more words"
    clip = wav_bytes(bytes(16000 * 2 * 4), 16000)
    srt = await sdk.audio.transcriptions.create(
        model=model, file=("c.wav", clip), response_format="srt"
    )
    assert srt.startswith("1\n00:00:00,000 --> ")
    assert "first words here." in srt
    assert "\n\n2\n" in srt  # one cue per sentence
    vtt = await sdk.audio.transcriptions.create(
        model=model, file=("c.wav", clip), response_format="vtt"
    )
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> ")
    text = await sdk.audio.transcriptions.create(
        model=model, file=("c.wav", clip), response_format="text"
    )
    assert text == "first words here. and then some more words\n"
    verbose = await sdk.audio.transcriptions.create(
        model=model,
        file=("c.wav", clip),
        response_format="verbose_json",
        timestamp_granularities=["word"],
    )
    assert verbose.words is not None
    assert [w.word for w in verbose.words][:2] == ["first", "words"]
    assert verbose.segments is None  # only words were asked for, as OpenAI does


async def test_prompt_reaches_whisperx(sdk: openai.AsyncOpenAI, spark_sim: SparkSim) -> None:
    """The client's prompt biases Whisper's vocabulary: it is passed on unchanged."""
    clip = wav_bytes(bytes(32000), 16000)
    await sdk.audio.transcriptions.create(
        model="whisperx", file=("prompted.wav", clip), prompt="Küchenlicht, Bartholomew's room"
    )
    (record,) = [r for r in spark_sim.states["whisperx"].requests if r.file_name == "prompted.wav"]
    assert record.fields["prompt"] == "Küchenlicht, Bartholomew's room"
