"""The OpenAI-compatible gateway, driven by the official ``openai`` SDK and raw aiohttp."""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.spark_audio.transcription import routing
from tests.spark_sim.audio import speak, wav_bytes
from tests.spark_sim.faults import Fault
from tests.spark_sim.server import SparkSim

BASE = "/api/spark_audio/v1"


@pytest.fixture
async def base_url(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, init_integration: MockConfigEntry
) -> str:
    """The gateway's URL on HA's (real, loopback) test server."""
    client = await hass_client()
    return str(client.make_url(BASE))


@pytest.fixture
async def sdk(base_url: str, hass_access_token: str) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official OpenAI SDK, pointed at Home Assistant with an HA token as api_key."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key=hass_access_token, max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def raw(base_url: str, hass_access_token: str) -> AsyncIterator[aiohttp.ClientSession]:
    """Plain aiohttp with the HA token, for what the SDK cannot send."""
    async with aiohttp.ClientSession(
        base_url=base_url + "/", headers={"Authorization": f"Bearer {hass_access_token}"}
    ) as session:
        yield session


@pytest.fixture
async def clip() -> bytes:
    return await speak("hello from the spark", "en-US", 16000)


def parse_wav(data: bytes) -> tuple[int, bytes]:
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getframerate(), wav.readframes(wav.getnframes())


async def test_models_list(sdk: openai.AsyncOpenAI) -> None:
    models = await sdk.models.list()
    by_id = {m.id: m for m in models.data}
    assert {"parakeet-tdt-0.6b-v3", "whisperx", "magpie"} <= set(by_id)
    assert "Magpie-Multilingual.EN-US.Mia" in by_id
    assert "Magpie-Multilingual.EN-US.Mia.Happy" not in by_id  # emotions collapsed
    assert by_id["parakeet-tdt-0.6b-v3"].model_extra == {"kind": "stt"}
    assert by_id["Magpie-Multilingual.FR-FR.Pascal"].model_extra == {"kind": "tts"}


@pytest.mark.parametrize("voice", ["alloy", "Magpie-Multilingual.ES-US.Diego"])
async def test_speech_wav(sdk: openai.AsyncOpenAI, spark_sim: SparkSim, voice: str) -> None:
    """OpenAI voice names map to the default voice; Magpie ids work as they are."""
    response = await sdk.audio.speech.create(
        model="tts-1", voice=voice, input="Hello there. How are you?", response_format="wav"
    )
    rate, frames = parse_wav(response.content)
    assert rate == 22050
    assert len(frames) > 22050
    synth = [
        r.fields
        for r in spark_sim.states["magpie"].requests
        if r.path == "/v1/audio/synthesize_online"
    ]
    expected = "Magpie-Multilingual.EN-US.Mia" if voice == "alloy" else voice
    assert [f["text"] for f in synth] == ["Hello there.", "How are you?"]
    assert {f["voice"] for f in synth} == {expected}


async def test_speech_streams(sdk: openai.AsyncOpenAI, spark_sim: SparkSim) -> None:
    """The SDK's streaming response yields audio chunk by chunk."""
    spark_sim.states["magpie"].rtf = 0.2
    chunks: list[bytes] = []
    async with sdk.audio.speech.with_streaming_response.create(
        model="tts-1",
        voice="nova",
        input="One sentence. Another sentence here.",
        response_format="pcm",
    ) as response:
        assert response.headers["content-type"] == "audio/pcm"
        assert response.headers["x-sample-rate"] == "24000"
        async for chunk in response.iter_bytes():
            chunks.append(chunk)
    assert len(chunks) > 2
    assert sum(map(len, chunks)) % 2 == 0


@pytest.mark.parametrize(
    ("fmt", "magic"), [("mp3", (b"ID3", b"\xff\xfb", b"\xff\xf3")), ("flac", (b"fLaC",))]
)
async def test_speech_encoded_with_ffmpeg(
    sdk: openai.AsyncOpenAI, fmt: str, magic: tuple[bytes, ...]
) -> None:
    response = await sdk.audio.speech.create(
        model="tts-1",
        voice="alloy",
        input="Encoded audio.",
        response_format=fmt,  # type: ignore[arg-type]
    )
    assert response.content.startswith(magic)


@pytest.mark.parametrize(
    ("fmt", "check"),
    [
        ("json", lambda r: r.text == "hello from the spark"),
        ("text", lambda r: r.strip() == "hello from the spark"),
        ("verbose_json", lambda r: [w.word if hasattr(w, "word") else w["text"] for w in r.words]),
        ("srt", lambda r: "00:00:00,000 -->" in r),
        ("vtt", lambda r: r.startswith("WEBVTT")),
    ],
)
async def test_transcriptions_every_format(
    sdk: openai.AsyncOpenAI, spark_sim: SparkSim, clip: bytes, fmt: str, check: Any
) -> None:
    spark_sim.states["parakeet"].transcript = "hello from the spark"
    result = await sdk.audio.transcriptions.create(  # type: ignore[call-overload]
        model="parakeet-tdt-0.6b-v3",
        file=("clip.wav", clip, "audio/wav"),
        response_format=fmt,
        language="en",
        timestamp_granularities=["word"] if fmt == "verbose_json" else openai.NOT_GIVEN,
    )
    assert check(result)
    # Only this test's upload (named clip.wav): background deep checks may hit Parakeet too.
    (record,) = [r for r in spark_sim.states["parakeet"].requests if r.file_name == "clip.wav"]
    # Rendered by the gateway from what the format needs (test_backend_asks has the table).
    assert record.fields["response_format"] == (
        "json" if fmt in ("json", "text") else "verbose_json"
    )
    assert record.fields["language"] == "en"


async def test_transcriptions_whisperx_and_openai_model_names(
    sdk: openai.AsyncOpenAI, spark_sim: SparkSim, clip: bytes
) -> None:
    spark_sim.states["whisperx"].transcript = "from whisperx"
    spark_sim.states["parakeet"].transcript = "from parakeet"
    result = await sdk.audio.transcriptions.create(model="whisperx", file=("a.wav", clip))
    assert result.text == "from whisperx"
    result = await sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", clip))
    assert result.text == "from parakeet"


async def test_upload_past_ha_body_limit_is_streamed(
    raw: aiohttp.ClientSession, spark_sim: SparkSim
) -> None:
    """20 MiB (past HA's 16 MiB cap) goes through, streamed to the backend."""
    pcm = b"\x00\x01" * (10 * 1024 * 1024)
    form = aiohttp.FormData()
    form.add_field("model", "parakeet-tdt-0.6b-v3")
    form.add_field("file", wav_bytes(pcm, 16000), filename="big.wav", content_type="audio/wav")
    async with raw.post("audio/transcriptions", data=form) as response:
        assert response.status == 200, await response.text()
    record = next(r for r in spark_sim.states["parakeet"].requests if r.file_name == "big.wav")
    assert record.file_bytes == len(pcm) + 44
    assert record.transfer_encoding == "chunked"


async def test_file_before_fields_is_spooled(
    raw: aiohttp.ClientSession, spark_sim: SparkSim, clip: bytes
) -> None:
    """curl often sends -F file=@... first: the model comes after the file, and still counts."""
    spark_sim.states["whisperx"].transcript = "whisperx heard it"
    form = aiohttp.FormData()
    form.add_field("file", clip, filename="a.wav", content_type="audio/wav")
    form.add_field("model", "whisperx")
    form.add_field("response_format", "text")
    async with raw.post("audio/transcriptions", data=form) as response:
        assert response.status == 200
        assert (await response.text()).strip() == "whisperx heard it"


@pytest.mark.parametrize(
    "path", ["models", "audio/speech", "audio/transcriptions", "audio/transcribe-with-speakers"]
)
async def test_every_view_requires_a_token(base_url: str, path: str) -> None:
    async with aiohttp.ClientSession() as session:
        method = session.get if path == "models" else session.post
        async with method(f"{base_url}/{path}") as response:
            assert response.status == 401
        async with method(
            f"{base_url}/{path}", headers={"Authorization": "Bearer not-a-token"}
        ) as response:
            assert response.status == 401


def multipart(*fields: tuple[str, Any]) -> aiohttp.FormData:
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields:
        if isinstance(value, bytes):
            form.add_field(name, value, filename="upload.wav", content_type="audio/wav")
        else:
            form.add_field(name, value)
    return form


BAD_TRANSCRIPTIONS = [
    (
        "empty file",
        [("model", "parakeet"), ("file", b"")],
        400,
        "The uploaded file is empty",
        "file",
    ),
    ("no file", [("model", "parakeet")], 400, "A 'file' part is required", "file"),
    ("no model", [("file", b"RIFF....")], 400, "You must provide a model parameter", "model"),
    (
        "unknown model",
        [("model", "gpt-9"), ("file", b"RIFF")],
        404,
        "The model 'gpt-9' does not exist",
        "model",
    ),
    (
        "bad format",
        [("model", "parakeet"), ("response_format", "xml"), ("file", b"RIFF")],
        400,
        "response_format must be one of",
        "response_format",
    ),
    (
        "bad temperature",
        [("model", "parakeet"), ("temperature", "hot"), ("file", b"RIFF")],
        400,
        "temperature must be a number",
        "temperature",
    ),
    (
        "empty language",
        [("model", "parakeet"), ("language", " "), ("file", b"RIFF")],
        400,
        "language must not be empty",
        "language",
    ),
    (
        "bad granularity",
        [("model", "parakeet"), ("timestamp_granularities[]", "char"), ("file", b"RIFF")],
        400,
        "timestamp_granularities[] values must be word or segment",
        "timestamp_granularities[]",
    ),
    (
        "not audio",
        [("model", "parakeet"), ("file", b"this is not audio at all")],
        400,
        "Parakeet rejected the request",
        None,
    ),
]


@pytest.mark.parametrize(
    ("fields", "status", "message", "param"),
    [case[1:] for case in BAD_TRANSCRIPTIONS],
    ids=[case[0] for case in BAD_TRANSCRIPTIONS],
)
async def test_transcriptions_bad_input(
    raw: aiohttp.ClientSession,
    fields: list[tuple[str, Any]],
    status: int,
    message: str,
    param: str | None,
) -> None:
    async with raw.post("audio/transcriptions", data=multipart(*fields)) as response:
        body = await response.json()
        assert response.status == status, body
    assert body["error"]["message"].startswith(message), body
    assert body["error"]["param"] == param
    assert body["error"]["type"] == "invalid_request_error"


async def test_truncated_multipart(raw: aiohttp.ClientSession) -> None:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="model"\r\n\r\nparakeet\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF'
    )
    async with raw.post(
        "audio/transcriptions",
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
    ) as response:
        result = await response.json()
        assert response.status in (400, 502), result
    assert result["error"]["code"] in ("truncated_upload", "bad_multipart", "backend_rejected")


async def test_not_multipart(raw: aiohttp.ClientSession) -> None:
    async with raw.post("audio/transcriptions", json={"model": "parakeet"}) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "bad_multipart"


BAD_SPEECH = [
    ("not json", "oops", 400, "The request body must be a JSON object", None),
    ("no input", {"voice": "alloy"}, 400, "input must be a non-empty string", "input"),
    ("input wrong type", {"input": 5}, 400, "input must be a non-empty string", "input"),
    (
        "unknown voice",
        {"input": "Hi.", "voice": "Magpie-Multilingual.EN-US.Nobody"},
        400,
        "Unknown voice 'Magpie-Multilingual.EN-US.Nobody'. Available voices: "
        "Magpie-Multilingual.DE-DE.Jason",
        "voice",
    ),
    (
        "unknown model",
        {"input": "Hi.", "model": "gpt-9-tts"},
        404,
        "The model 'gpt-9-tts' does not exist",
        "model",
    ),
    (
        "bad format",
        {"input": "Hi.", "response_format": "ogg"},
        400,
        "response_format must be one of",
        "response_format",
    ),
    ("bad speed", {"input": "Hi.", "speed": "fast"}, 400, "speed must be a number", "speed"),
    (
        "speed range",
        {"input": "Hi.", "speed": 9},
        400,
        "speed must be between 0.25 and 4.0",
        "speed",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "message", "param"),
    [case[1:] for case in BAD_SPEECH],
    ids=[case[0] for case in BAD_SPEECH],
)
async def test_speech_bad_input(
    raw: aiohttp.ClientSession, body: Any, status: int, message: str, param: str | None
) -> None:
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    async with raw.post("audio/speech", **kwargs) as response:
        result = await response.json()
        assert response.status == status, result
    assert result["error"]["message"].startswith(message), result
    assert result["error"]["param"] == param


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Fault.WEDGE, 503, "backend_fault"),
        (Fault.SLOW, 504, "backend_timeout"),
        (Fault.DOWN, 502, "backend_unreachable"),
        (Fault.RESET, 502, "backend_unreachable"),
        (Fault.MALFORMED, 502, "bad_backend_reply"),
    ],
)
async def test_transcription_faults(
    raw: aiohttp.ClientSession,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    clip: bytes,
    fault: Fault,
    status: int,
    code: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Backend failures map to 503 + Retry-After, 504, 502; a wedge also starts a deep check."""
    monkeypatch.setattr(routing, "LONG_AUDIO_TIMEOUT_S", 0.5)
    init_integration.runtime_data.coordinators["parakeet"].client.timeout = 0.5
    spark_sim.states["parakeet"].fault = fault
    form = multipart(("model", "parakeet"), ("file", clip))
    async with raw.post("audio/transcriptions", data=form) as response:
        assert response.status == status
        body = await response.json()
        assert body["error"]["code"] == code
        assert body["error"]["type"] == "server_error"
        if fault is Fault.WEDGE:
            assert response.headers["Retry-After"] == "60"
    if fault is Fault.WEDGE:
        deep = init_integration.runtime_data.deep["parakeet"]
        await deep.hass.async_block_till_done(wait_background_tasks=True)
        assert deep.data is not None
        assert deep.data.wedged


async def test_speech_reset_mid_stream(raw: aiohttp.ClientSession, spark_sim: SparkSim) -> None:
    """A backend that dies before any audio gives a clean 502."""
    spark_sim.states["magpie"].fault = Fault.DOWN
    async with raw.post("audio/speech", json={"input": "Hello.", "response_format": "wav"}) as r:
        assert r.status == 502
        assert (await r.json())["error"]["code"] == "backend_unreachable"


async def test_speech_reset_after_audio_started(
    raw: aiohttp.ClientSession, spark_sim: SparkSim, caplog: pytest.LogCaptureFixture
) -> None:
    """Once audio flows a status can no longer change: the stream is cut and HA says why."""
    spark_sim.states["magpie"].fault = Fault.RESET
    async with raw.post(
        "audio/speech",
        json={"input": "A sentence long enough to stream.", "response_format": "pcm"},
    ) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    assert "Speech stream ended early" in caplog.text
