"""The HA-free clients against the simulated Spark: shapes, streaming and errors."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from custom_components.spark_audio.spark import (
    MagpieClient,
    ParakeetClient,
    ServiceNotReadyError,
    ServiceStatus,
    SparkBackendFaultError,
    SparkConnectionError,
    SparkError,
    SparkResponseError,
    SparkTimeoutError,
    WhisperXClient,
)
from custom_components.spark_audio.spark.clients.transcription import (
    SEGMENT_TIMING,
    TEXT_ONLY,
    WORD_TIMING,
    BackendAsk,
    TranscriptionOptions,
)
from custom_components.spark_audio.spark.wav import read_wav, wav_header, wav_stream
from tests.spark_sim.audio import speak
from tests.spark_sim.faults import Fault, RecordedRequest
from tests.spark_sim.loading import loading_whisperx
from tests.spark_sim.server import SparkSim

SPARK_PACKAGE = Path(__file__).parents[2] / "custom_components" / "spark_audio" / "spark"


def test_client_package_never_imports_home_assistant() -> None:
    """The client package must stay publishable on its own: no homeassistant import."""
    offenders = []
    files = sorted(SPARK_PACKAGE.rglob("*.py"))
    assert len(files) >= 8
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "homeassistant"]
    assert offenders == []


@pytest.mark.parametrize(
    ("module", "banned"),
    [("spark/new_client.py", True), ("new_platform.py", False)],
)
def test_ruff_bans_home_assistant_in_client_package(module: str, banned: bool) -> None:
    """Lint catches an HA import in spark/ as it is written (spark/ruff.toml), and only there.

    Lint runs in the minimum lane's venv; the newest lane has no ruff, so it skips.
    """
    pytest.importorskip("ruff")
    source = (
        '"""A module."""\n\nfrom homeassistant.core import HomeAssistant\n\n'
        '__all__ = ["HomeAssistant"]\n'
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--stdin-filename",
            str(SPARK_PACKAGE.parent / module),
            "-",
        ],
        input=source,
        capture_output=True,
        text=True,
        check=False,
        cwd=SPARK_PACKAGE.parents[2],
    )
    assert ("TID251" in result.stdout) is banned, result.stdout + result.stderr
    assert result.returncode == (1 if banned else 0), result.stdout + result.stderr


def clients(
    sim: SparkSim, session: aiohttp.ClientSession, timeout: float = 5.0
) -> tuple[ParakeetClient, MagpieClient, WhisperXClient]:
    return (
        ParakeetClient(session, "127.0.0.1", sim.ports["parakeet"], timeout=timeout),
        MagpieClient(session, "127.0.0.1", sim.ports["magpie"], timeout=timeout),
        WhisperXClient(session, "127.0.0.1", sim.ports["whisperx"], timeout=timeout),
    )


@pytest.fixture
async def clip() -> bytes:
    """Four words of real speech as a 16 kHz WAV file (espeak-ng; cached by the sim)."""
    return await speak("hello from the spark", "en-US", 16000)


async def test_health_and_metadata(spark_sim: SparkSim, session: aiohttp.ClientSession) -> None:
    parakeet, magpie, whisperx = clients(spark_sim, session)
    health = await parakeet.health()
    assert health.ready
    assert health.model == "nvidia/parakeet-tdt-0.6b-v3"
    ready = await magpie.ready()
    assert (ready.ready, ready.version, ready.model) == (True, "1.3.0", "magpie-tts-multilingual")
    wx = await whisperx.health()
    assert wx.ready
    assert wx.details["diarizer_loaded"] is True
    assert wx.model == "whisperx-medium"


async def test_every_client_answers_one_status(
    spark_sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """One ``fetch_status()`` for every client, so callers never ask which one they hold.

    Magpie folds its readiness and its voice list into the same model.
    """
    parakeet, magpie, whisperx = [await c.fetch_status() for c in clients(spark_sim, session)]
    assert all(isinstance(s, ServiceStatus) for s in (parakeet, magpie, whisperx))
    assert (parakeet.health.model, parakeet.voices) == ("nvidia/parakeet-tdt-0.6b-v3", None)
    assert (whisperx.health.model, whisperx.voices) == ("whisperx-medium", None)
    assert magpie.health.version == "1.3.0"
    assert magpie.voices is not None
    assert magpie.voices.get("Magpie-Multilingual.EN-US.Mia") is not None


async def test_a_loading_service_is_not_ready(
    session: aiohttp.ClientSession,
) -> None:
    """A service that answers but is still loading its model raises ServiceNotReadyError."""
    async with loading_whisperx() as port:
        client = WhisperXClient(session, "127.0.0.1", port)
        assert not (await client.status()).health.ready
        with pytest.raises(ServiceNotReadyError):
            await client.fetch_status()


async def test_transcribe_streams_and_parses_words(
    spark_sim: SparkSim, session: aiohttp.ClientSession, clip: bytes
) -> None:
    """An async byte stream is uploaded with chunked encoding; words come back timed."""
    parakeet, _, _ = clients(spark_sim, session)
    spark_sim.states["parakeet"].transcript = "hello from the spark"

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(clip), 4096):
            yield clip[i : i + 4096]

    result = await parakeet.transcribe(stream(), TranscriptionOptions(WORD_TIMING, language="en"))
    assert result.text == "hello from the spark"
    assert [w.text for w in result.words] == ["hello", "from", "the", "spark"]
    assert all(0 <= w.start < w.end <= (result.duration or 0) + 1e-6 for w in result.words)
    assert result.language == "en"
    record = spark_sim.states["parakeet"].requests[-1]
    assert record.transfer_encoding == "chunked"
    assert record.fields["response_format"] == "verbose_json"
    assert record.file_bytes == len(clip)


def asked(record: RecordedRequest) -> list[tuple[str, str]]:
    """The format and timing fields a backend received, in order."""
    names = ("response_format", "timestamp_granularities[]")
    return [(name, value) for name, value in record.field_list if name in names]


@pytest.mark.parametrize(
    ("ask", "sent"),
    [
        (None, [("response_format", "json")]),
        (TEXT_ONLY, [("response_format", "json")]),
        (
            SEGMENT_TIMING,
            [("response_format", "verbose_json"), ("timestamp_granularities[]", "segment")],
        ),
        (WORD_TIMING, [("response_format", "verbose_json"), ("timestamp_granularities[]", "word")]),
    ],
)
async def test_transcribe_asks_only_for_what_it_is_told(
    spark_sim: SparkSim,
    session: aiohttp.ClientSession,
    clip: bytes,
    ask: BackendAsk | None,
    sent: list[tuple[str, str]],
) -> None:
    """Text alone unless the caller asks for timings: word timing is an alignment on WhisperX."""
    _, _, whisperx = clients(spark_sim, session)
    spark_sim.states["whisperx"].transcript = "hello from the spark"
    if ask is None:
        result = await whisperx.transcribe(clip, TranscriptionOptions(language="en"))
    else:
        result = await whisperx.transcribe(clip, TranscriptionOptions(ask, language="en"))
    assert result.text == "hello from the spark"
    assert asked(spark_sim.states["whisperx"].requests[-1]) == sent
    assert bool(result.words) is (ask == WORD_TIMING)
    assert result.language == (None if ask in (None, TEXT_ONLY) else "en")


async def test_options_known_late_are_sent_after_the_file(
    spark_sim: SparkSim, session: aiohttp.ClientSession, clip: bytes
) -> None:
    """Options given as a callable are asked once the audio went out (fields after the file)."""
    parakeet, _, _ = clients(spark_sim, session)
    spark_sim.states["parakeet"].transcript = "hello from the spark"
    streamed: list[int] = []

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(clip), 4096):
            streamed.append(i)
            yield clip[i : i + 4096]

    def late() -> TranscriptionOptions:
        assert len(streamed) == -(-len(clip) // 4096)  # every chunk is out
        return TranscriptionOptions(WORD_TIMING, language="en")

    data = await parakeet.transcribe_raw(stream(), late)
    assert [w["text"] for w in data["words"]] == ["hello", "from", "the", "spark"]
    record = spark_sim.states["parakeet"].requests[-1]
    assert asked(record) == [
        ("response_format", "verbose_json"),
        ("timestamp_granularities[]", "word"),
    ]
    assert [name for name, _ in record.field_list] == [
        "response_format",
        "timestamp_granularities[]",
        "language",
    ]
    assert record.fields["language"] == "en"


def test_empty_language_refused_before_sending() -> None:
    """The one language rule: an empty code is refused when the options are made."""
    with pytest.raises(ValueError, match="empty"):
        TranscriptionOptions(language=" ")
    assert TranscriptionOptions(language=" de ").language == "de"


def test_prompt_sent_only_where_the_model_takes_one() -> None:
    """The one prompt rule: a model without a prompt input is not sent one."""
    options = TranscriptionOptions(prompt="Hue Go")
    assert ("prompt", "Hue Go") in options.fields(accepts_prompt=True)
    assert ("prompt", None) in options.fields(accepts_prompt=False)


async def test_language_omitted_when_none(
    spark_sim: SparkSim, session: aiohttp.ClientSession, clip: bytes
) -> None:
    _, _, whisperx = clients(spark_sim, session)
    await whisperx.transcribe(clip)
    assert "language" not in spark_sim.states["whisperx"].requests[-1].fields


async def test_diarize(spark_sim: SparkSim, session: aiohttp.ClientSession, clip: bytes) -> None:
    parakeet, _, _ = clients(spark_sim, session)
    result = await parakeet.diarize(clip)
    assert result.model == "nvidia/diar_sortformer_4spk-v1"
    assert result.segments
    assert result.segments[0].speaker == "Speaker_0"
    assert set(result.speakers_detected) >= {s.speaker for s in result.segments}


async def test_transcribe_with_speakers(
    spark_sim: SparkSim, session: aiohttp.ClientSession, clip: bytes
) -> None:
    _, _, whisperx = clients(spark_sim, session)
    result = await whisperx.transcribe_with_speakers(clip, num_speakers=2, language="en")
    assert result.segments
    assert result.segments[0].speaker.startswith("Speaker_")
    assert result.models["transcription"] == "whisperx-medium"
    fields = spark_sim.states["whisperx"].requests[-1].fields
    assert fields["num_speakers"] == "2"
    assert "min_speakers" not in fields


async def test_voice_catalog_parses_comma_joined_locales(
    spark_sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    _, magpie, _ = clients(spark_sim, session)
    catalog = await magpie.list_voices()
    assert catalog.languages == ("en-US", "es-US", "fr-FR", "de-DE")
    mia_happy = catalog.get("Magpie-Multilingual.EN-US.Mia.Happy")
    assert mia_happy is not None
    assert (mia_happy.speaker, mia_happy.emotion, mia_happy.base_name) == (
        "Mia",
        "Happy",
        "Magpie-Multilingual.EN-US.Mia",
    )
    assert len(catalog.voices_for("de-de")) == 2


async def test_synthesize_returns_wav(spark_sim: SparkSim, session: aiohttp.ClientSession) -> None:
    _, magpie, _ = clients(spark_sim, session)
    audio = read_wav(await magpie.synthesize("Hello world.", voice="Magpie-Multilingual.EN-US.Mia"))
    assert audio.sample_rate == 22050
    assert len(audio.pcm) > 4410
    fields = spark_sim.states["magpie"].requests[-1].fields
    assert fields == {
        "text": "Hello world.",
        "language": "en-US",
        "voice": "Magpie-Multilingual.EN-US.Mia",
        "sample_rate_hz": "22050",
        "encoding": "LINEAR_PCM",
    }


async def test_synthesize_online_streams_pcm(
    spark_sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """Raw PCM arrives in several chunks, the first long before the last."""
    _, magpie, _ = clients(spark_sim, session)
    spark_sim.states["magpie"].rtf = 0.2
    loop = asyncio.get_running_loop()
    arrivals: list[tuple[float, int]] = []
    async for chunk in magpie.synthesize_online(
        "This is a somewhat longer sentence to speak.", voice="Magpie-Multilingual.EN-US.Jason"
    ):
        arrivals.append((loop.time(), len(chunk)))
    assert len(arrivals) > 3
    assert arrivals[-1][0] - arrivals[0][0] > 0.1
    assert sum(n for _, n in arrivals) % 2 == 0


@pytest.mark.parametrize(
    ("text", "voice", "message"),
    [
        ("", "Magpie-Multilingual.EN-US.Mia", "empty"),
        ("x" * 2001, "Magpie-Multilingual.EN-US.Mia", "at most 2000"),
        ("Hi.", "mia", "cannot tell the language"),
    ],
)
async def test_synthesize_input_checked_locally(
    spark_sim: SparkSim, session: aiohttp.ClientSession, text: str, voice: str, message: str
) -> None:
    _, magpie, _ = clients(spark_sim, session)
    with pytest.raises(ValueError, match=message):
        await magpie.synthesize(text, voice=voice)


async def test_unknown_voice_is_a_response_error(
    spark_sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """The NIM's 400 keeps its status and message."""
    _, magpie, _ = clients(spark_sim, session)
    with pytest.raises(SparkResponseError) as err:
        await magpie.synthesize("Hi.", voice="Magpie-Multilingual.EN-US.Nobody")
    assert err.value.status == 400
    assert not isinstance(err.value, SparkBackendFaultError)
    assert "Nobody" in str(err.value)


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        (Fault.WEDGE, SparkBackendFaultError, 500),
        (Fault.DOWN, SparkConnectionError, None),
        (Fault.RESET, SparkConnectionError, None),
        (Fault.MALFORMED, SparkResponseError, 200),
        (Fault.SLOW, SparkTimeoutError, None),
    ],
)
async def test_fault_mapping(
    spark_sim: SparkSim,
    session: aiohttp.ClientSession,
    clip: bytes,
    fault: Fault,
    error: type[SparkError],
    status: int | None,
) -> None:
    """Every failure mode maps onto exactly one class of the exception tree."""
    parakeet, _, _ = clients(spark_sim, session, timeout=0.5)
    spark_sim.states["parakeet"].fault = fault
    with pytest.raises(error) as err:
        await parakeet.transcribe(clip, TranscriptionOptions(language="en"))
    if status is not None:
        assert isinstance(err.value, SparkResponseError)
        assert err.value.status == status
    if fault is Fault.WEDGE:
        assert "CUBLAS" in str(err.value)


async def test_stream_reset_mid_response(
    spark_sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """A connection reset while PCM is streaming surfaces as a connection error."""
    _, magpie, _ = clients(spark_sim, session)
    spark_sim.states["magpie"].fault = Fault.RESET
    received = 0
    with pytest.raises(SparkConnectionError):
        async for chunk in magpie.synthesize_online(
            "A sentence long enough for several chunks of audio.",
            voice="Magpie-Multilingual.EN-US.Mia",
        ):
            received += len(chunk)
    assert received > 0


async def test_refused_connection(session: aiohttp.ClientSession) -> None:
    sim = SparkSim()
    await sim.start()
    port = sim.ports["parakeet"]
    await sim.stop()
    with pytest.raises(SparkConnectionError, match="GET /health failed"):
        await ParakeetClient(session, "127.0.0.1", port).health()


async def test_wrong_api_is_a_response_error(
    spark_sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """Parakeet's port asked for Magpie's ready endpoint: 404, not a crash."""
    magpie_at_parakeet = MagpieClient(session, "127.0.0.1", spark_sim.ports["parakeet"])
    with pytest.raises(SparkResponseError) as err:
        await magpie_at_parakeet.ready()
    assert err.value.status == 404
    whisperx_at_parakeet = WhisperXClient(session, "127.0.0.1", spark_sim.ports["parakeet"])
    with pytest.raises(SparkResponseError, match="whisper_loaded"):
        await whisperx_at_parakeet.health()


def test_ipv6_host_is_bracketed() -> None:
    client = ParakeetClient(None, "fd00::5", 8000)  # type: ignore[arg-type]
    assert client.base_url == "http://[fd00::5]:8000"


async def test_wav_stream_round_trip() -> None:
    async def pcm() -> AsyncIterator[bytes]:
        yield b"\x01\x00" * 100
        yield b""
        yield b"\x02\x00" * 50

    data = b"".join([chunk async for chunk in wav_stream(pcm(), 16000)])
    audio = read_wav(data)
    assert (audio.sample_rate, audio.channels, audio.sample_width) == (16000, 1, 2)
    assert audio.pcm == b"\x01\x00" * 100 + b"\x02\x00" * 50
    sized = wav_header(8000, data_size=4) + b"\x00\x01\x02\x03extra"
    assert read_wav(sized).pcm == b"\x00\x01\x02\x03"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a RIFF"),
        (b"ID3\x04" + b"\x00" * 40, "not a RIFF"),
        (b"RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd", "before its fmt"),
        (b"RIFF\x00\x00\x00\x00WAVE", "no data chunk"),
        (
            b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x03\x00\x01\x00"
            + b"\x00" * 12
            + b"data\x00\x00\x00\x00",
            "not PCM",
        ),
    ],
)
def test_read_wav_rejects_bad_files(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_wav(data)


async def test_whisperx_key_is_sent_as_bearer(
    spark_sim: SparkSim, session: aiohttp.ClientSession, clip: bytes
) -> None:
    """A keyed container refuses a client without the key; with it every call works."""
    spark_sim.states["whisperx"].api_key = "sim-key-0123456789"
    port = spark_sim.ports["whisperx"]
    keyed = WhisperXClient(session, "127.0.0.1", port, api_key="sim-key-0123456789")
    open_client = WhisperXClient(session, "127.0.0.1", port)
    wrong = WhisperXClient(session, "127.0.0.1", port, api_key="not-the-key")
    assert (await open_client.health()).details["auth"] is True  # /health stays open
    for client in (open_client, wrong):
        with pytest.raises(SparkResponseError) as caught:
            await client.transcribe(clip, TranscriptionOptions(language="en"))
        assert caught.value.status == 401
        assert "API key" in str(caught.value)
        assert "sim-key" not in str(caught.value)
    result = await keyed.transcribe(clip, TranscriptionOptions(language="en"))
    assert result.text
    speakers = await keyed.transcribe_with_speakers(clip, num_speakers=1)
    assert speakers.segments
    verbose = await keyed.transcribe_raw(clip, TranscriptionOptions(SEGMENT_TIMING))
    assert verbose["text"].strip() == result.text
    assert "sim-key" not in repr(keyed)


async def test_whisperx_without_key_sends_no_header(spark_sim: SparkSim, clip: bytes) -> None:
    """An entry from before keys existed talks to an open container, with no header at all."""
    sent: list[str | None] = []

    async def on_start(
        _: aiohttp.ClientSession, __: object, params: aiohttp.TraceRequestStartParams
    ) -> None:
        sent.append(params.headers.get("Authorization"))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)  # type: ignore[arg-type]  # aiohttp types the list oddly
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        port = spark_sim.ports["whisperx"]
        assert (await WhisperXClient(session, "127.0.0.1", port).transcribe(clip)).text
        await WhisperXClient(session, "127.0.0.1", port, api_key="k-1").health()
    assert sent == [None, "Bearer k-1"]


def test_client_and_container_agree_on_whisper_languages() -> None:
    """The integration's list (what STT offers) is the container's (what it accepts).

    Two copies because the container is its own program, built on the Spark from
    its folder; this test keeps them from drifting apart.
    """
    from custom_components.spark_audio.spark.clients.whisperx import LANGUAGES as CLIENT_LANGUAGES
    from custom_components.spark_audio.whisperx_container.app.languages import VENDORED

    assert sorted(CLIENT_LANGUAGES) == sorted(VENDORED)
