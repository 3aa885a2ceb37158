"""Tests for the simulated Spark: API shapes, audio, faults and streaming proof."""

from __future__ import annotations

import asyncio
import io
import shutil
import struct
import time
import wave
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from custom_components.spark_audio.whisperx_container.app.engine import CUDA_MISSING
from tests.spark_sim import audio
from tests.spark_sim.audio import (
    parse_wav,
    speak,
    streaming_wav_header,
    tone,
    wav_bytes,
)
from tests.spark_sim.faults import DEFAULT_TRANSCRIPT, Fault
from tests.spark_sim.magpie import DEFAULT_VOICES
from tests.spark_sim.server import SparkSim
from tests.spark_sim.whisperx import VERSION as WHISPERX_VERSION

RATE = 16000
MIA = "Magpie-Multilingual.EN-US.Mia"
# Any of these means the connection died under the client.
DROPPED = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


def clip(seconds: float, rate: int = RATE) -> bytes:
    """A WAV of a plain tone; STT sims only care about its length."""
    return wav_bytes(tone(seconds, rate), rate)


def upload(data: bytes | Any, **fields: str) -> aiohttp.FormData:
    """A multipart form with `file` plus extra fields."""
    form = aiohttp.FormData()
    form.add_field("file", data, filename="clip.wav", content_type="audio/wav")
    for name, value in fields.items():
        form.add_field(name, value)
    return form


async def post_json(session: aiohttp.ClientSession, url: str, data: Any) -> tuple[int, Any]:
    """POST a form and return (status, JSON body)."""
    async with session.post(url, data=data) as resp:
        return resp.status, await resp.json(content_type=None)


# ---------------------------------------------------------------- audio.py


def test_parse_wav_canonical() -> None:
    """A stdlib-written WAV parses to the same samples."""
    pcm = tone(0.5, RATE)
    info = parse_wav(wav_bytes(pcm, RATE))
    assert (info.sample_rate, info.channels, info.sample_width) == (RATE, 1, 2)
    assert info.pcm == pcm
    assert info.duration == pytest.approx(0.5)


@pytest.mark.parametrize("size", [0xFFFFFFFF, 0])
def test_parse_wav_streaming_sizes(size: int) -> None:
    """Unknown RIFF/data sizes mean the data runs to the end of the body."""
    pcm = tone(0.25, RATE)
    header = bytearray(streaming_wav_header(RATE))
    struct.pack_into("<I", header, 4, size)
    struct.pack_into("<I", header, 40, size)
    info = parse_wav(bytes(header) + pcm)
    assert info.pcm == pcm
    assert info.duration == pytest.approx(0.25)


def test_parse_wav_oversized_data_and_odd_tail() -> None:
    """espeak-style oversized sizes are cut to the body and to whole frames."""
    pcm = tone(0.1, RATE)
    header = bytearray(streaming_wav_header(RATE))
    struct.pack_into("<I", header, 40, 0x7FFFF000)
    info = parse_wav(bytes(header) + pcm + b"\x01")
    assert info.pcm == pcm


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world, not audio", b"RIFF\x00\x00\x00\x00WAVE", b"\x00" * 64],
)
def test_parse_wav_rejects_non_wav(data: bytes) -> None:
    """Non-WAV input raises ValueError."""
    with pytest.raises(ValueError, match=r"WAV|fmt|data"):
        parse_wav(data)


@pytest.mark.parametrize("rate", [16000, 22050, 44100])
async def test_speak_makes_real_speech(rate: int) -> None:
    """speak() returns valid 16-bit mono WAV at the rate, with audible content."""
    data = await speak("Turn on the kitchen light.", "en-US", rate)
    with wave.open(io.BytesIO(data)) as reader:
        assert reader.getframerate() == rate
        assert reader.getnchannels() == 1
        assert reader.getsampwidth() == 2
        frames = reader.readframes(reader.getnframes())
        seconds = reader.getnframes() / rate
    assert 0.8 < seconds < 4.0
    assert max(abs(s) for s in struct.unpack(f"<{len(frames) // 2}h", frames)) > 1000


async def test_speak_without_espeak_or_sox(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without espeak-ng a tone of ~0.07 s per character stands in."""
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    text = "no espeak here, x" * 2
    info = parse_wav(await speak(text, "de-DE", 8000))
    assert info.duration == pytest.approx(len(text) * 0.07, abs=0.01)


async def test_resample_without_sox(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pure-Python resampler keeps the duration when sox is absent."""
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "sox" else real_which(name))
    info = parse_wav(await speak("resample me without sox", "en-US", 11025))
    assert info.sample_rate == 11025
    reference = parse_wav(await speak("resample me without sox", "en-US", 22050))
    assert info.duration == pytest.approx(reference.duration, abs=0.01)


@pytest.mark.parametrize(
    ("language", "voice"),
    [
        ("en-US", "en-us"),
        ("es-US", "es"),
        ("fr-FR", "fr"),
        ("zh-CN", "cmn"),
        ("hi-IN", "hi"),
        ("ja-JP", "ja"),
        ("xx-YY", "en-us"),
        ("it-IT", "it"),
    ],
)
def test_espeak_voice_mapping(language: str, voice: str) -> None:
    """Locales map to espeak-ng voices, unknown ones to English."""
    assert audio.espeak_voice(language) == voice


# ------------------------------------------------------------ Parakeet


async def test_parakeet_health(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """GET /health has the real service's shape."""
    async with session.get(f"{sim.url('parakeet')}/health") as resp:
        assert resp.status == 200
        assert await resp.json() == {
            "status": "ok",
            "model": "nvidia/parakeet-tdt-0.6b-v3",
            "diarizer": "nvidia/diar_sortformer_4spk-v1",
            "version": "1.0.0",
        }


async def test_parakeet_transcription_formats(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """json, text, verbose_json, srt and vtt all answer with proper bodies."""
    url = f"{sim.url('parakeet')}/v1/audio/transcriptions"
    wav = clip(2.0)
    assert await post_json(session, url, upload(wav)) == (
        200,
        {"text": DEFAULT_TRANSCRIPT},
    )
    async with session.post(url, data=upload(wav, response_format="text")) as resp:
        assert resp.content_type == "text/plain"
        assert await resp.text() == DEFAULT_TRANSCRIPT
    status, body = await post_json(
        session, url, upload(wav, response_format="verbose_json", language="de")
    )
    assert status == 200
    assert body["task"] == "transcribe"
    assert body["language"] == "de"
    assert body["duration"] == pytest.approx(2.0)
    assert body["model"] == "nvidia/parakeet-tdt-0.6b-v3"
    assert [w["text"] for w in body["words"]] == DEFAULT_TRANSCRIPT.split()
    assert all(0 <= w["start"] < w["end"] <= 2.0 for w in body["words"])
    assert body["segments"][0]["id"] == 0
    assert body["segments"][0]["text"] == DEFAULT_TRANSCRIPT
    async with session.post(url, data=upload(wav, response_format="srt")) as resp:
        srt = await resp.text()
    assert srt.startswith("1\n00:00:00,000 --> 00:00:01,")
    assert DEFAULT_TRANSCRIPT in srt
    async with session.post(url, data=upload(wav, response_format="vtt")) as resp:
        vtt = await resp.text()
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.")


@pytest.mark.parametrize(
    ("fields", "status", "detail"),
    [
        ({"language": ""}, 400, "language must not be empty"),
        ({"language": "ja"}, 400, "Unsupported language 'ja'"),
        ({"language": "en-US"}, 400, "Unsupported language"),
        ({"response_format": "mp3"}, 400, "Unsupported response_format"),
    ],
)
async def test_parakeet_validation(
    sim: SparkSim,
    session: aiohttp.ClientSession,
    fields: dict[str, str],
    status: int,
    detail: str,
) -> None:
    """Bad fields get FastAPI-style 400s."""
    url = f"{sim.url('parakeet')}/v1/audio/transcriptions"
    got_status, body = await post_json(session, url, upload(clip(0.5), **fields))
    assert got_status == status
    assert detail in body["detail"]


async def test_parakeet_rejects_bad_uploads(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """Missing file → 422, non-WAV and empty files → 400."""
    url = f"{sim.url('parakeet')}/v1/audio/transcriptions"
    form = aiohttp.FormData()
    form.add_field("model", "parakeet")
    status, body = await post_json(session, url, form)
    assert status == 422
    assert body["detail"][0]["loc"] == ["body", "file"]
    status, body = await post_json(session, url, upload(b"ID3 this is an mp3"))
    assert status == 400
    assert "Could not decode" in body["detail"]
    status, body = await post_json(session, url, upload(b""))
    assert status == 400


async def test_parakeet_streaming_header_upload(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """A WAV with 0xFFFFFFFF sizes (streamed by Assist clients) is accepted."""
    url = f"{sim.url('parakeet')}/v1/audio/transcriptions"
    data = streaming_wav_header(RATE) + tone(1.5, RATE)
    status, body = await post_json(session, url, upload(data, response_format="verbose_json"))
    assert status == 200
    assert body["duration"] == pytest.approx(1.5)


async def test_parakeet_delay_follows_rtf(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """Processing time is audio duration times rtf."""
    url = f"{sim.url('parakeet')}/v1/audio/transcriptions"
    wav = clip(3.0)
    started = time.monotonic()
    await post_json(session, url, upload(wav))
    fast = time.monotonic() - started
    sim.states["parakeet"].rtf = 0.15
    started = time.monotonic()
    await post_json(session, url, upload(wav))
    slow = time.monotonic() - started
    assert 0.05 <= fast < 0.3
    assert slow >= 0.45


async def test_parakeet_diarize(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """Sortformer turns alternate every ~3 s with at most 4 speakers."""
    url = f"{sim.url('parakeet')}/v1/audio/diarize"
    status, body = await post_json(session, url, upload(clip(7.0)))
    assert status == 200
    assert body["model"] == "nvidia/diar_sortformer_4spk-v1"
    assert body["duration"] == pytest.approx(7.0)
    assert body["speakers_detected"] == ["Speaker_0", "Speaker_1"]
    assert [s["speaker"] for s in body["segments"]] == [
        "Speaker_0",
        "Speaker_1",
        "Speaker_0",
    ]
    assert body["segments"][0] == {"start_s": 0.0, "end_s": 3.0, "speaker": "Speaker_0"}
    assert body["segments"][-1]["end_s"] == pytest.approx(7.0)


async def test_parakeet_diarize_limits(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """Speakers cap at 4; audio past max_diarize_s fails with CUDA OOM."""
    url = f"{sim.url('parakeet')}/v1/audio/diarize"
    state = sim.states["parakeet"]
    state.apply({"speakers": 4, "max_diarize_s": 10.0, "rtf": 0.0})
    _, body = await post_json(session, url, upload(clip(10.0, 8000)))
    assert body["speakers_detected"] == [f"Speaker_{i}" for i in range(4)]
    status, body = await post_json(session, url, upload(clip(10.5, 8000)))
    assert status == 500
    assert "CUDA out of memory" in body["detail"]


# -------------------------------------------------------------- Magpie


async def test_magpie_health_metadata_voices(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """Ready, metadata and the single-key list_voices shape."""
    base = sim.url("magpie")
    async with session.get(f"{base}/v1/health/ready") as resp:
        assert await resp.json() == {"status": "ready"}
    async with session.get(f"{base}/v1/metadata") as resp:
        meta = await resp.json()
    assert meta["modelInfo"][0]["shortName"] == "magpie-tts-multilingual"
    async with session.get(f"{base}/v1/audio/list_voices") as resp:
        voices = await resp.json()
    assert voices == {"en-US,es-US,fr-FR,de-DE": {"voices": list(DEFAULT_VOICES)}}


async def test_magpie_voices_are_controllable(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """/_sim/control "voices" changes the catalogue and its locale key."""
    base = sim.url("magpie")
    new = ["Magpie-Multilingual.IT-IT.Isabela", "Magpie-Multilingual.ZH-CN.Mia.Calm"]
    async with session.post(f"{base}/_sim/control", json={"voices": new}) as resp:
        assert resp.status == 200
    async with session.get(f"{base}/v1/audio/list_voices") as resp:
        assert await resp.json() == {"it-IT,zh-CN": {"voices": new}}
    status, _ = await post_json(
        session,
        f"{base}/v1/audio/synthesize",
        {"text": "ciao", "language": "en-US", "voice": MIA},
    )
    assert status == 400
    async with session.post(f"{base}/_sim/control", json={"voices": ["not-a-voice"]}) as resp:
        assert resp.status == 400


@pytest.mark.parametrize("encoded", ["multipart", "urlencoded"])
async def test_magpie_synthesize_wav(
    sim: SparkSim, session: aiohttp.ClientSession, encoded: str
) -> None:
    """Offline synthesis returns a WAV at the requested rate."""
    fields = {
        "text": "Hola, encendiendo la luz.",
        "language": "es-US",
        "voice": "Magpie-Multilingual.ES-US.Diego",
        "sample_rate_hz": "16000",
        "encoding": "LINEAR_PCM",
    }
    data: Any = fields
    if encoded == "multipart":
        data = aiohttp.MultipartWriter("form-data")
        for name, value in fields.items():
            data.append(value).set_content_disposition("form-data", name=name)
    async with session.post(f"{sim.url('magpie')}/v1/audio/synthesize", data=data) as resp:
        assert resp.status == 200
        assert resp.content_type == "audio/wav"
        body = await resp.read()
    with wave.open(io.BytesIO(body)) as reader:
        assert reader.getframerate() == 16000
        assert reader.getsampwidth() == 2
        assert reader.getnframes() > 16000 * 0.5
    record = sim.states["magpie"].requests[-1]
    assert record.fields["voice"] == "Magpie-Multilingual.ES-US.Diego"
    assert record.content_type is not None
    assert record.content_type.startswith(
        "multipart/" if encoded == "multipart" else "application/x-www-form-urlencoded"
    )


async def test_magpie_default_rate_and_voice(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """Without sample_rate_hz and voice: 22050 Hz and the locale's first voice."""
    url = f"{sim.url('magpie')}/v1/audio/synthesize"
    async with session.post(url, data={"text": "Bonjour", "language": "fr-FR"}) as resp:
        assert resp.status == 200
        info = parse_wav(await resp.read())
    assert info.sample_rate == 22050


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": ""}, "text"),
        ({"language": "en-US", "voice": MIA}, "text"),
        ({"text": "x" * 2001}, "2000"),
        ({"text": "hi", "voice": "Magpie-Multilingual.EN-US.Nobody"}, "not found"),
        ({"text": "hi", "language": "fr-FR", "voice": MIA}, "does not support"),
        ({"text": "hi", "language": "pt-BR"}, "Unsupported language"),
        ({"text": "hi", "encoding": "OGGOPUS"}, "LINEAR_PCM"),
        ({"text": "hi", "sample_rate_hz": "fast"}, "sample_rate_hz"),
        ({"text": "hi", "sample_rate_hz": "4000"}, "sample_rate_hz"),
    ],
)
async def test_magpie_validation(
    sim: SparkSim,
    session: aiohttp.ClientSession,
    fields: dict[str, str],
    message: str,
) -> None:
    """NIM-like 400s with an "error" message."""
    status, body = await post_json(session, f"{sim.url('magpie')}/v1/audio/synthesize", fields)
    assert status == 400
    assert message in body["error"]


async def test_magpie_text_limit_is_inclusive(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """Exactly 2000 characters is still accepted."""
    sim.states["magpie"].rtf = 0.0
    text = ("Lights on. " * 200)[:2000]
    async with session.post(
        f"{sim.url('magpie')}/v1/audio/synthesize", data={"text": text}
    ) as resp:
        assert resp.status == 200


async def test_magpie_synthesize_online_streams(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """Headerless LPCM arrives in ~0.1 s chunks, the first one early."""
    sim.states["magpie"].rtf = 0.3
    started = time.monotonic()
    arrivals: list[tuple[float, int]] = []
    pcm = b""
    async with session.post(
        f"{sim.url('magpie')}/v1/audio/synthesize_online",
        data={"text": "Streaming speech, chunk by chunk.", "sample_rate_hz": "16000"},
    ) as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_any():
            arrivals.append((time.monotonic() - started, len(chunk)))
            pcm += chunk
    total = time.monotonic() - started
    assert not pcm.startswith(b"RIFF")
    assert len(pcm) % 2 == 0
    seconds = len(pcm) / (2 * 16000)
    assert seconds > 1.0
    assert len(arrivals) >= 5
    assert arrivals[0][0] < total / 3
    assert max(size for _, size in arrivals) <= 2 * 1600 * 2


# ------------------------------------------------------------- WhisperX


async def test_whisperx_health(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """GET /health reports loaded models and an idle queue."""
    async with session.get(f"{sim.url('whisperx')}/health") as resp:
        assert await resp.json() == {
            "status": "ok",
            "whisper_loaded": True,
            "diarizer_loaded": True,
            "model": "medium",
            "device": "cuda",
            "compute_type": "float16",
            "device_error": None,
            "gpu_ok": True,
            "self_test": "passed",
            "self_test_error": None,
            "version": WHISPERX_VERSION,
            "busy": False,
            "queue": 0,
            "auth": False,
        }


async def test_whisperx_device_knob(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """``device`` cpu runs on the CPU (200); cuda_missing: health and jobs 503, as the app."""
    base = sim.url("whisperx")
    async with session.post(f"{base}/_sim/control", json={"device": "cpu"}) as resp:
        assert resp.status == 200
    async with session.get(f"{base}/health") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert (body["device"], body["compute_type"], body["self_test"]) == ("cpu", "int8", "no_gpu")
    sim.states["whisperx"].apply({"device": "cuda_missing"})
    async with session.get(f"{base}/health") as resp:
        assert resp.status == 503
        body = await resp.json()
    assert body["detail"] == body["device_error"]
    assert body["device_error"].startswith(CUDA_MISSING)
    assert (body["whisper_loaded"], body["compute_type"]) == (False, None)
    async with session.post(f"{base}/v1/audio/transcriptions", data=upload(clip(1.0))) as resp:
        assert resp.status == 503
        assert (await resp.json())["detail"] == body["device_error"]
    async with session.post(f"{base}/_sim/control", json={"device": "tpu"}) as resp:
        assert resp.status == 400


async def test_whisperx_key_and_input_checks(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """With a key set, jobs need the bearer key (health stays open); bad input is refused."""
    sim.states["whisperx"].api_key = "sim-key"
    url = f"{sim.url('whisperx')}/v1/audio/transcriptions"
    status, body = await post_json(session, url, upload(clip(1.0)))
    assert status == 401
    assert "API key" in body["detail"]
    async with session.get(f"{sim.url('whisperx')}/health") as resp:
        assert (await resp.json())["auth"] is True
    headers = {"Authorization": "Bearer sim-key"}
    for fields, expected in (({}, 200), ({"language": "xx"}, 400), ({"temperature": "0.5"}, 400)):
        async with session.post(url, data=upload(clip(1.0), **fields), headers=headers) as resp:
            assert resp.status == expected, fields


async def test_whisperx_transcribe_with_speakers(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """The predecessor's merged shape, in milliseconds."""
    sim.states["whisperx"].apply({"transcript": "one two three four five six seven", "rtf": 0.01})
    url = f"{sim.url('whisperx')}/v1/audio/transcribe-with-speakers"
    status, body = await post_json(session, url, upload(clip(7.0), language="en"))
    assert status == 200
    assert set(body) == {"duration", "language", "speakers_detected", "segments", "models"}
    assert body["models"] == {
        "transcription": "whisperx-medium",
        "diarization": "pyannote/speaker-diarization-community-1",
    }
    assert body["speakers_detected"] == ["Speaker_0", "Speaker_1"]
    segments = body["segments"]
    assert [s["speaker"] for s in segments] == ["Speaker_0", "Speaker_1", "Speaker_0"]
    assert " ".join(s["text"] for s in segments) == "one two three four five six seven"
    assert all(isinstance(s["start_ms"], int) and s["start_ms"] < s["end_ms"] for s in segments)
    assert segments[-1]["end_ms"] <= 7000
    status, body = await post_json(session, url, upload(clip(7.0), num_speakers="1"))
    assert body["speakers_detected"] == ["Speaker_0"]
    assert len(body["segments"]) == 1


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"language": ""}, 400),
        ({"num_speakers": "two"}, 422),
        ({"num_speakers": "0"}, 400),
        ({"min_speakers": "3", "max_speakers": "2"}, 400),
    ],
)
async def test_whisperx_validation(
    sim: SparkSim,
    session: aiohttp.ClientSession,
    fields: dict[str, str],
    status: int,
) -> None:
    """Bad fields are refused before any GPU work."""
    url = f"{sim.url('whisperx')}/v1/audio/transcribe-with-speakers"
    got, body = await post_json(session, url, upload(clip(0.5), **fields))
    assert got == status
    assert "detail" in body


async def test_whisperx_openai_transcription(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """OpenAI-compatible endpoint; language is optional but never empty."""
    url = f"{sim.url('whisperx')}/v1/audio/transcriptions"
    status, body = await post_json(session, url, upload(clip(1.0), response_format="verbose_json"))
    assert status == 200
    assert body["model"] == "whisperx-medium"
    assert body["text"] == DEFAULT_TRANSCRIPT
    status, _ = await post_json(session, url, upload(clip(1.0), language=""))
    assert status == 400


async def test_whisperx_lists_words_only_when_asked(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """Like the container: verbose_json always has segments, words only with ``word``."""
    url = f"{sim.url('whisperx')}/v1/audio/transcriptions"
    _, plain = await post_json(session, url, upload(clip(1.0), response_format="verbose_json"))
    assert plain["segments"]
    assert "words" not in plain
    form = upload(clip(1.0), response_format="verbose_json")
    form.add_field("timestamp_granularities[]", "segment")
    form.add_field("timestamp_granularities[]", "word")
    _, timed = await post_json(session, url, form)
    assert [w["text"] for w in timed["words"]] == DEFAULT_TRANSCRIPT.split()


async def test_whisperx_runs_one_job_at_a_time(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """Concurrent jobs queue; /health shows busy and queue depth."""
    sim.states["whisperx"].rtf = 0.3
    url = f"{sim.url('whisperx')}/v1/audio/transcriptions"
    started = time.monotonic()
    jobs = [asyncio.create_task(post_json(session, url, upload(clip(1.0)))) for _ in range(2)]
    await asyncio.sleep(0.15)
    async with session.get(f"{sim.url('whisperx')}/health") as resp:
        health = await resp.json()
    results = await asyncio.gather(*jobs)
    assert [status for status, _ in results] == [200, 200]
    assert health["busy"] is True
    assert health["queue"] == 1
    assert time.monotonic() - started >= 0.6


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("parakeet", "/v1/audio/transcriptions"),
        ("parakeet", "/v1/audio/diarize"),
        ("whisperx", "/v1/audio/transcriptions"),
        ("whisperx", "/v1/audio/transcribe-with-speakers"),
    ],
)
async def test_one_gpu_queue_refuses_when_full(
    sim: SparkSim, session: aiohttp.ClientSession, service: str, path: str
) -> None:
    """Both STT services: one job runs, max_queue wait, the next is refused with 429."""
    state = sim.states[service]
    state.apply({"rtf": 100.0, "max_queue": 1})
    url = f"{sim.url(service)}{path}"
    running = asyncio.create_task(post_json(session, url, upload(clip(1.0))))
    waiting = asyncio.create_task(post_json(session, url, upload(clip(1.0))))
    gpu = sim.gpu(service)
    while not (gpu.busy and gpu.waiting == 1):  # one job runs, one waits
        await asyncio.sleep(0.01)
    async with session.post(url, data=upload(clip(1.0))) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "30"
        assert "busy" in (await resp.json())["detail"]
    # A restart drops the running job and the waiting one (their connections reset).
    async with session.post(f"{sim.url(service)}/_sim/restart") as resp:
        assert (await resp.json())["dropped"] == 2
    for job in (running, waiting):
        with pytest.raises(DROPPED):
            await job
    state.rtf = 0.0
    assert (await post_json(session, url, upload(clip(1.0))))[0] == 200


async def test_finish_running_ends_a_long_job(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """An hour of GPU time ends at once, successfully, when the test says so."""
    sim.states["parakeet"].rtf = 3600.0
    url = f"{sim.url('parakeet')}/v1/audio/transcriptions"
    job = asyncio.create_task(post_json(session, url, upload(clip(1.0))))
    while not sim.gpu("parakeet").busy:
        await asyncio.sleep(0.01)
    sim.gpu("parakeet").finish_running()
    status, body = await job
    assert status == 200
    assert body["text"] == DEFAULT_TRANSCRIPT


async def test_fail_next_answers_plain_500s(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """fail_next: that many inference requests fail without CUDA text, then all is well."""
    url = f"{sim.url('whisperx')}/v1/audio/transcriptions"
    sim.states["whisperx"].apply({"fail_next": 1})
    status, body = await post_json(session, url, upload(clip(0.5)))
    assert status == 500
    assert "CUDA" not in body["detail"]
    assert (await post_json(session, url, upload(clip(0.5))))[0] == 200


async def test_whisperx_self_test_fails_while_wedged(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """A wedged WhisperX says so in /health: its GPU self-test fails with CUDA text."""
    sim.states["whisperx"].fault = Fault.WEDGE
    async with session.get(f"{sim.url('whisperx')}/health") as resp:
        health = await resp.json()
    assert health["self_test"] == "failed"
    assert "CUDA" in health["self_test_error"]
    assert health["gpu_ok"] is False


# ---------------------------------------------------------------- faults


async def test_fault_down_drops_connections(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """DOWN aborts every service route; /_sim stays reachable."""
    base = sim.url("parakeet")
    async with session.post(f"{base}/_sim/control", json={"fault": "down"}) as resp:
        assert (await resp.json())["down"] is True
    with pytest.raises(DROPPED):
        async with session.get(f"{base}/health") as resp:
            await resp.read()
    with pytest.raises(DROPPED):
        async with session.post(f"{base}/v1/audio/transcriptions", data=upload(clip(1.0))) as resp:
            await resp.read()
    async with session.get(f"{base}/_sim/state") as resp:
        assert (await resp.json())["fault"] == "down"


async def test_fault_slow(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """SLOW adds slow_seconds to health and inference answers."""
    base = sim.url("parakeet")
    sim.states["parakeet"].apply({"fault": "slow", "slow_seconds": 0.3})
    started = time.monotonic()
    async with session.get(f"{base}/health") as resp:
        assert resp.status == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    status, _ = await post_json(session, f"{base}/v1/audio/transcriptions", upload(clip(1.0)))
    assert status == 200
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    ("service", "path", "health", "key"),
    [
        ("parakeet", "/v1/audio/transcriptions", "/health", "detail"),
        ("parakeet", "/v1/audio/diarize", "/health", "detail"),
        ("magpie", "/v1/audio/synthesize", "/v1/health/ready", "error"),
        ("magpie", "/v1/audio/synthesize_online", "/v1/health/ready", "error"),
        ("whisperx", "/v1/audio/transcribe-with-speakers", "/health", "detail"),
        ("whisperx", "/v1/audio/transcriptions", "/health", "detail"),
    ],
)
async def test_fault_wedge(
    sim: SparkSim,
    session: aiohttp.ClientSession,
    *,
    service: str,
    path: str,
    health: str,
    key: str,
) -> None:
    """WEDGE: inference 500s with a CUDA error while health stays OK."""
    base = sim.url(service)
    sim.states[service].fault = Fault.WEDGE
    data: Any = upload(clip(0.5)) if service != "magpie" else {"text": "hello"}
    status, body = await post_json(session, f"{base}{path}", data)
    assert status == 500
    assert "CUDA" in body[key]
    async with session.get(f"{base}{health}") as resp:
        assert resp.status == 200


async def test_restart_cures_wedge_after_delay(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """/_sim/restart: down for restart_delay_s, then healthy and unwedged."""
    base = sim.url("parakeet")
    url = f"{base}/v1/audio/transcriptions"
    sim.states["parakeet"].fault = Fault.WEDGE
    async with session.post(f"{base}/_sim/restart", json={"restart_delay_s": 0.3}) as resp:
        state = await resp.json()
    assert state["restarts"] == 1
    assert state["fault"] == "none"
    assert state["down"] is True
    with pytest.raises(DROPPED):
        async with session.get(f"{base}/health") as resp:
            await resp.read()
    await asyncio.sleep(0.35)
    assert (await post_json(session, url, upload(clip(0.5))))[0] == 200
    async with session.post(f"{base}/_sim/restart", json={"restart_delay_s": -1}) as resp:
        assert resp.status == 400


async def test_fault_reset_mid_response(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """RESET: headers and part of the body arrive, then the connection dies."""
    base = sim.url("parakeet")
    sim.states["parakeet"].fault = Fault.RESET
    statuses: list[int] = []

    async def fetch() -> None:
        async with session.post(
            f"{base}/v1/audio/transcriptions",
            data=upload(clip(0.5), response_format="verbose_json"),
        ) as resp:
            statuses.append(resp.status)
            await resp.read()

    with pytest.raises((aiohttp.ClientPayloadError, *DROPPED)):
        await fetch()
    assert statuses == [200]


async def test_fault_reset_streaming_after_first_chunk(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """RESET on synthesize_online: one chunk arrives, then a reset."""
    sim.states["magpie"].fault = Fault.RESET
    received: list[bytes] = []

    async def fetch() -> None:
        async with session.post(
            f"{sim.url('magpie')}/v1/audio/synthesize_online",
            data={"text": "This stream will be cut off.", "sample_rate_hz": "16000"},
        ) as resp:
            async for chunk in resp.content.iter_any():
                received.append(chunk)

    with pytest.raises((aiohttp.ClientPayloadError, *DROPPED)):
        await fetch()
    assert 0 < len(b"".join(received)) <= 3200


async def test_fault_malformed(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """MALFORMED: 200 with cut-off JSON, or a broken WAV for audio routes."""
    sim.states["parakeet"].fault = Fault.MALFORMED
    sim.states["magpie"].fault = Fault.MALFORMED
    async with session.post(
        f"{sim.url('parakeet')}/v1/audio/transcriptions", data=upload(clip(0.5))
    ) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert await resp.text() == '{"text": "trunc'
    async with session.post(
        f"{sim.url('magpie')}/v1/audio/synthesize", data={"text": "hello"}
    ) as resp:
        assert resp.status == 200
        body = await resp.read()
    with pytest.raises(ValueError, match="WAV"):
        parse_wav(body)
    async with session.post(
        f"{sim.url('magpie')}/v1/audio/synthesize_online", data={"text": "hello"}
    ) as resp:
        assert resp.content_type == "application/json"


async def test_stop_service_refuses_connections(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """stop_service: real connection refused; start_service: same port again."""
    port = sim.ports["magpie"]
    await sim.stop_service("magpie")
    assert not sim.is_running("magpie")
    with pytest.raises(aiohttp.ClientConnectorError):
        async with session.get(f"{sim.url('magpie')}/v1/health/ready"):
            pass
    await sim.start_service("magpie")
    assert sim.ports["magpie"] == port
    async with session.get(f"{sim.url('magpie')}/v1/health/ready") as resp:
        assert resp.status == 200


async def test_without_whisperx() -> None:
    """with_whisperx=False runs only Parakeet and Magpie."""
    async with SparkSim(with_whisperx=False) as spark:
        assert set(spark.ports) == {"parakeet", "magpie"}
        assert set(spark.states) == {"parakeet", "magpie"}


# ------------------------------------------------------- control endpoint


async def test_control_endpoint(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """/_sim/control validates all-or-nothing and /_sim/state reflects it."""
    base = sim.url("parakeet")
    async with session.post(
        f"{base}/_sim/control",
        json={"fault": "slow", "slow_seconds": 1.5, "rtf": 0.5, "transcript": "hi"},
    ) as resp:
        assert resp.status == 200
    async with session.get(f"{base}/_sim/state") as resp:
        state = await resp.json()
    assert state["service"] == "parakeet"
    assert (state["fault"], state["slow_seconds"], state["rtf"]) == ("slow", 1.5, 0.5)
    assert state["transcript"] == "hi"
    for bad in ({"fault": "melted"}, {"rtf": -1}, {"rtf": True}, {"colour": "red"}):
        async with session.post(f"{base}/_sim/control", json={"transcript": "x", **bad}) as resp:
            assert resp.status == 400, bad
    async with session.post(f"{base}/_sim/control", data="not json") as resp:
        assert resp.status == 400
    assert sim.states["parakeet"].transcript == "hi"
    assert sim.states["parakeet"].requests == []


async def test_requests_are_recorded(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """Fields (not file bytes), sizes and status are recorded per request."""
    base = sim.url("parakeet")
    wav = clip(0.5)
    await post_json(
        session,
        f"{base}/v1/audio/transcriptions",
        upload(wav, model="parakeet-tdt-0.6b-v3", language="en"),
    )
    record = sim.states["parakeet"].requests[-1]
    assert record.path == "/v1/audio/transcriptions"
    assert record.fields == {"model": "parakeet-tdt-0.6b-v3", "language": "en"}
    assert record.file_bytes == len(wav)
    assert record.file_name == "clip.wav"
    assert record.bytes_received > len(wav)
    assert record.status == 200
    assert record.finished_at is not None
    async with session.get(f"{base}/_sim/requests") as resp:
        listed = await resp.json()
    assert listed[-1]["fields"]["language"] == "en"
    async with session.post(f"{base}/_sim/clear") as resp:
        assert (await resp.json())["requests"] == 0


async def test_first_audio_byte_recorded_during_chunked_upload(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """The sim sees the first file bytes while the client is still sending."""
    state = sim.states["parakeet"]
    pcm = tone(1.0, RATE)

    async def body() -> AsyncIterator[bytes]:
        yield streaming_wav_header(RATE) + pcm[:3200]
        # Only a client that really streams lets the server see this first.
        await asyncio.wait_for(state.audio_started.wait(), timeout=2)
        await asyncio.sleep(0.2)
        yield pcm[3200:]

    status, result = await post_json(
        session,
        f"{sim.url('parakeet')}/v1/audio/transcriptions",
        upload(body(), response_format="verbose_json"),
    )
    assert status == 200
    assert result["duration"] == pytest.approx(1.0)
    record = state.requests[-1]
    assert record.transfer_encoding == "chunked"
    assert record.first_audio_byte_at is not None
    assert record.upload_done_at is not None
    assert record.upload_done_at - record.first_audio_byte_at >= 0.2
    assert state.first_audio_byte_at == record.first_audio_byte_at


async def test_client_abort_mid_upload_is_recorded_quietly(
    sim: SparkSim, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that dies mid-upload is recorded as 499 with no error logged."""
    state = sim.states["parakeet"]

    async def body() -> AsyncIterator[bytes]:
        yield streaming_wav_header(RATE) + tone(0.5, RATE)
        await asyncio.wait_for(state.audio_started.wait(), timeout=2)
        raise RuntimeError("microphone unplugged")

    with pytest.raises((aiohttp.ClientError, RuntimeError)):
        await post_json(session, f"{sim.url('parakeet')}/v1/audio/transcriptions", upload(body()))
    for _ in range(50):
        if state.requests and state.requests[-1].finished_at is not None:
            break
        await asyncio.sleep(0.01)
    assert state.requests[-1].status == 499
    assert state.upload_done_at is None
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_stop_cancels_handlers_of_gone_clients(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """A handler whose client timed out does not outlive stop_service."""
    sim.states["parakeet"].apply({"fault": "slow", "slow_seconds": 5})
    with pytest.raises(TimeoutError):
        async with session.get(
            f"{sim.url('parakeet')}/health", timeout=aiohttp.ClientTimeout(total=0.1)
        ):
            pass
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await sim.stop_service("parakeet")
    assert time.monotonic() - started < 1.0
    current = asyncio.current_task()
    leftovers = [
        t
        for t in asyncio.all_tasks()
        if t is not current and "RequestHandler" in str(t.get_coro()) and not t.done()
    ]
    assert leftovers == []
