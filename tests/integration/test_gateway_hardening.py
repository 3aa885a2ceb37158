"""Hostile and broken uploads: every one a clear 4xx in OpenAI's shape, nothing left behind.

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
from custom_components.spark_audio.gateway.multipart_raw import (
    MAX_FORM_BYTES,
    MAX_PART_HEADER_BYTES,
    MAX_PART_HEADER_LINES,
)
from custom_components.spark_audio.gateway.upload_form import MAX_FIELD_BYTES, MAX_FIELDS
from custom_components.spark_audio.transcription import action, routing
from custom_components.spark_audio.transcription.limits import active_uploads
from tests.integration.gateway_harness import (
    BASE,
    BOUNDARY,
    Client,
    assert_no_leak,
    assert_openai_error,
    body,
    form_type,
    open_raw,
    ours,
    part,
    uploads_running,
    wait_for,
)
from tests.spark_sim.audio import wav_bytes
from tests.spark_sim.faults import Fault
from tests.spark_sim.server import SparkSim

WAV = wav_bytes(b"\x00\x01" * 16000, 16000)  # one second
PLAYLIST = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:/etc/passwd\n#EXT-X-ENDLIST\n"
M = ("model", "parakeet")
DASH = b'<?xml version="1.0"?>\n<MPD><Period><BaseURL>file:/etc/passwd</BaseURL></Period></MPD>'
SMIL = b'<smil><body><audio src="file:/etc/passwd"/></body></smil>'
ASX = b'<asx version="3.0"><entry><ref href="file:///etc/passwd"/></entry></asx>'


def field(name: str, value: bytes | str, **headers: str) -> bytes:
    return part(name, value, headers=headers or None)


def audio(
    data: bytes = WAV, filename: str = "a.wav", headers: dict[str, str] | None = None
) -> bytes:
    return part(
        "file", data, filename=filename, headers={"Content-Type": "audio/wav", **(headers or {})}
    )


def flooded(name: str, lines: int, line: bytes = b"ab") -> bytes:
    """A part whose header block holds ``lines`` more lines of ``line``."""
    start = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n'.encode()
    return start + (line + b"\r\n") * lines + b"\r\n" + (WAV if name == "file" else b"x") + b"\r\n"


def with_boundary(data: bytes, boundary: str) -> bytes:
    return data.replace(BOUNDARY.encode(), boundary.encode())


T = "audio/transcriptions"
S = "audio/transcribe-with-speakers"
HEADER_FLOOD = MAX_PART_HEADER_LINES + 1
LONG_HEADER = "p" * 4000
LONG_HEADERS = {f"X-Pad-{i}": LONG_HEADER for i in range(MAX_PART_HEADER_BYTES // 4000 + 1)}
BIG_FIELDS = [field(f"f{i}", "p" * 60_000) for i in range(MAX_FORM_BYTES // 60_000 + 1)]
# (id, path, raw body or None for the default content type, content type, status, code, param)
BAD_UPLOADS: list[tuple[str, str, bytes, str | None, int, str | None, str | None]] = [
    ("part without name", T, body(audio(), part(None, "x")), None, 400, "bad_multipart", None),
    ("second file", T, body(audio(), field(*M), audio()), None, 400, None, "file"),
    ("non-utf8 field", T, body(audio(), field("model", b"\xff\xfe")), None, 400, "bad_encoding",
     "model"),
    ("unknown charset", T,
     body(audio(), field("model", "parakeet", **{"Content-Type": "text/plain; charset=bogus-9"})),
     None, 400, "bad_charset", "model"),
    ("text transform charset", T,
     body(field("model", "parakeet", **{"Content-Type": "text/plain; charset=rot13"}), audio()),
     None, 400, "bad_charset", "model"),
    ("unknown transfer encoding", T,
     body(audio(), field("model", "parakeet", **{"Content-Transfer-Encoding": "x-bogus"})),
     None, 400, "bad_transfer_encoding", None),
    ("base64 file part", T, body(field(*M), audio(headers={"Content-Transfer-Encoding": "base64"})),
     None, 400, "bad_transfer_encoding", None),
    ("gzip field", T, body(field("model", "parakeet", **{"Content-Encoding": "gzip"}), audio()),
     None, 400, "bad_transfer_encoding", None),
    ("nul in filename", T, body(field(*M), audio(filename="a\x00.wav")), None, 400,
     "bad_multipart", None),
    ("encoded nul in filename", T,
     body(field(*M), part("file", WAV, headers={"Content-Type": "audio/wav"}, filename=None)
          .replace(b'name="file"', b"name=\"file\"; filename*=UTF-8''a%00.wav")),
     None, 400, "bad_filename", "file"),
    ("undecodable encoded name", T,
     body(field(*M), part(None, WAV, headers={"Content-Type": "audio/wav"})
          .replace(b"form-data", b"form-data; name*=UTF-8''fi%FFle; filename=a.wav")),
     None, 400, "bad_multipart", None),
    ("undecodable continued filename", T,
     body(field(*M), audio().replace(b'filename="a.wav"', b"filename*0*=UTF-8''a%FF.wav")),
     None, 400, "bad_multipart", None),
    ("unknown charset in continued name", T,
     body(field(*M), audio().replace(b'name="file"', b"name*0*=bogus-9''fi%6Ce")),
     None, 400, "bad_multipart", None),
    ("nul in field name", T, body(field("mo\x00del", "x"), audio()), None, 400, "bad_multipart",
     None),
    ("nul in field value", T, body(field("prompt", "a\x00b"), field(*M), audio()), None, 400,
     None, "prompt"),
    ("truncated after file", T, body(audio(), field(*M))[:-40], None, 400, None, None),
    ("truncated in file", T, body(field(*M), audio())[:200], None, 400, None, None),
    ("no boundary", T, body(field(*M), audio()), "multipart/form-data", 400, "bad_multipart",
     None),
    ("json body", T, b'{"model": "parakeet"}', "application/json", 400, "bad_multipart", None),
    ("urlencoded body", T, b"model=parakeet", "application/x-www-form-urlencoded", 400,
     "bad_multipart", None),
    ("multipart/mixed", T, body(field(*M), audio()),
     "multipart/mixed; boundary=HardenedBoundary7MA4YWxk", 400, "bad_multipart", None),
    ("huge field", T, body(field("prompt", "p" * (MAX_FIELD_BYTES + 1)), field(*M), audio()),
     None, 400, "field_too_large", "prompt"),
    ("too many fields", T, body(*(field(f"f{i}", "x") for i in range(MAX_FIELDS + 1)), audio()),
     None, 400, "too_many_fields", None),
    ("temperature not a number", T, body(field(*M), field("temperature", "hot"), audio()), None,
     400, None, "temperature"),
    ("temperature out of range", T, body(field(*M), field("temperature", "7"), audio()), None,
     400, None, "temperature"),
    ("temperature nan", T, body(field(*M), field("temperature", "nan"), audio()), None, 400,
     None, "temperature"),
    ("unknown model", T, body(field("model", "gpt-9"), audio()), None, 404, "model_not_found",
     "model"),
    ("empty file", T, body(field(*M), audio(b"")), None, 400, "empty_file", "file"),
    ("no file", T, body(field(*M)), None, 400, "missing_file", "file"),
    ("hls playlist", T, body(field(*M), audio(PLAYLIST, "innocent.mp3")), None, 400,
     "playlist_not_allowed", "file"),
    ("playlist content type", T,
     body(field(*M), part("file", WAV, filename="a.m3u",
                          headers={"Content-Type": "audio/x-mpegurl"})),
     None, 400, "playlist_not_allowed", "file"),
    ("bad response_format", T, body(field(*M), field("response_format", "xml"), audio()), None,
     400, None, "response_format"),
    ("no model (file first)", T, body(audio()), None, 400, None, "model"),
    ("unknown model after file", T, body(audio(), field("model", "gpt-9")), None, 404,
     "model_not_found", "model"),
    ("temperature after file", T, body(audio(), field(*M), field("temperature", "hot")), None,
     400, None, "temperature"),
    ("bad format after file", T, body(field(*M), audio(), field("response_format", "xml")),
     None, 400, None, "response_format"),
    ("huge field after file", T, body(audio(), field(*M), field("prompt", "p" * 5_000_000)),
     None, 413, "form_too_large", None),
    ("part header flood", T, body(field(*M), flooded("file", HEADER_FLOOD)), None, 400,
     "part_headers_too_large", None),
    ("part header flood in a field", T, body(flooded("model", HEADER_FLOOD), audio()), None,
     400, "part_headers_too_large", None),
    ("part header flood after file", T, body(audio(), field(*M), flooded("prompt", HEADER_FLOOD)),
     None, 400, "part_headers_too_large", None),
    ("part headers past 64 KiB", T, body(field(*M), audio(headers=LONG_HEADERS)), None, 400,
     "part_headers_too_large", None),
    ("fields past the budget", T, body(*BIG_FIELDS, field(*M), audio()), None, 413,
     "form_too_large", None),
    ("preamble past the budget", T, b"preamble\r\n" * (MAX_FORM_BYTES // 10 + 1) +
     body(field(*M), audio()), None, 413, "form_too_large", None),
    ("non-utf8 filename", T,
     body(field(*M), audio(filename="a.wav").replace(b'"a.wav"', b'"a\xff.wav"')), None, 400,
     "bad_filename", "file"),
    ("non-utf8 content type", T,
     body(field(*M), audio().replace(b"audio/wav", b"audio/w\xffv")), None, 400,
     "bad_content_type", "file"),
    ("non-ascii content type", T, body(field(*M), audio(headers={"Content-Type": "audio/wäv"})),
     None, 400, "bad_content_type", "file"),
    ("content type not type/subtype", T, body(field(*M), audio(headers={"Content-Type": "wav"})),
     None, 400, "bad_content_type", "file"),
    ("boundary B€", T, with_boundary(body(field(*M), audio()), "B€"),
     "multipart/form-data; boundary=B€", 400, "bad_multipart", None),
    ("boundary Bé", T, with_boundary(body(field(*M), audio()), "Bé"),
     "multipart/form-data; boundary=Bé", 400, "bad_multipart", None),
    ("boundary too long", T, with_boundary(body(field(*M), audio()), "b" * 71),
     f"multipart/form-data; boundary={'b' * 71}", 400, "bad_multipart", None),
    ("two models", T, body(field(*M), field("model", "whisperx"), audio()), None, 400,
     "conflicting_fields", "model"),
    ("another model after file", T, body(field(*M), audio(), field("model", "whisperx")), None,
     400, "conflicting_fields", "model"),
    ("speakers: two formats", S,
     body(field("response_format", "json"), field("response_format", "srt"), audio()), None,
     400, "conflicting_fields", "response_format"),
    ("many fields after file", T,
     body(audio(), *(field(f"f{i}", "x") for i in range(MAX_FIELDS + 1))), None, 400,
     "too_many_fields", None),
    ("speakers: not a number", S, body(field("num_speakers", "two"), audio()), None, 400, None,
     "num_speakers"),
    ("speakers: out of range", S, body(field("max_speakers", "99"), audio()), None, 400, None,
     "max_speakers"),
    ("speakers: min above max", S,
     body(field("min_speakers", "3"), field("max_speakers", "2"), audio()), None, 400, None,
     "min_speakers"),
    ("speakers: text format", S, body(field("response_format", "text"), audio()), None, 400,
     None, "response_format"),
    ("speakers: bad charset after file", S,
     body(audio(), field("language", "en", **{"Content-Type": "text/plain; charset=nope"})),
     None, 400, "bad_charset", "language"),
    ("speakers: concat list", S, body(audio(b"ffconcat version 1.0\nfile '/etc/hosts'\n")), None,
     400, "playlist_not_allowed", "file"),
    ("dash manifest", T, body(field(*M), audio(DASH, "a.mp3")), None, 400,
     "playlist_not_allowed", "file"),
    ("dash content type", T,
     body(field(*M), audio(filename="a.mpd", headers={"Content-Type": "video/vnd.mpeg.dash.mpd"})),
     None, 400, "playlist_not_allowed", "file"),
    ("smil playlist", T, body(field(*M), audio(SMIL, "a.mp3")), None, 400,
     "playlist_not_allowed", "file"),
    ("asx playlist", T, body(field(*M), audio(ASX, "a.wma")), None, 400,
     "playlist_not_allowed", "file"),
    ("filename over 255 characters", T, body(field(*M), audio(filename="a" * 252 + ".wav")),
     None, 400, "bad_filename", "file"),
    ("nested multipart as the file", T,
     body(field(*M), audio(headers={"Content-Type": "multipart/mixed; boundary=inner"})), None,
     400, "bad_multipart", None),
    ("nested multipart as a field", T,
     body(field("model", "--inner--", **{"Content-Type": "multipart/mixed; boundary=inner"}),
          audio()),
     None, 400, "bad_multipart", None),
    ("unknown timestamp granularity", T,
     body(field(*M), field("timestamp_granularities[]", "char"), audio()), None, 400, None,
     "timestamp_granularities[]"),
    ("empty language", T, body(field(*M), field("language", " "), audio()), None, 400, None,
     "language"),
]  # fmt: skip


# aiohttp warns about the malformed Content-Disposition parameters while it parses them.
@pytest.mark.filterwarnings("ignore::aiohttp.multipart.BadContentDispositionParam")
@pytest.mark.parametrize(
    ("path", "data", "content_type", "status", "code", "param"),
    [case[1:] for case in BAD_UPLOADS],
    ids=[case[0] for case in BAD_UPLOADS],
)
async def test_bad_upload(
    hass: HomeAssistant,
    gateway: Client,
    init_integration: MockConfigEntry,
    spark_sim: SparkSim,
    spool: Path,
    path: str,
    data: bytes,
    content_type: str | None,
    status: int,
    code: str | None,
    param: str | None,
) -> None:
    """Each bad upload: its 4xx in OpenAI's shape, nothing leaked, the temp directory as it was."""
    before = ours(spool)
    response = await gateway.post(
        f"{BASE}/{path}", data=data, headers={"Content-Type": content_type or form_type()}
    )
    assert_no_leak(await response.text(), spark_sim, spool)
    result = await response.json()
    assert response.status == status, result
    assert_openai_error(result, status)
    if code is not None:
        assert result["error"]["code"] == code, result
    if param is not None:
        assert result["error"]["param"] == param, result
    await wait_for(uploads_running(hass, 0), "the upload to finish")
    assert ours(spool) == before


BAD_SPEECH: list[tuple[str, bytes, int, str | None]] = [
    ("empty input", b'{"input": "   "}', 400, "input"),
    ("huge input", b'{"input": "' + b"a" * 100_001 + b'"}', 400, "input"),
    ("unknown voice", b'{"input": "Hi.", "voice": "Magpie-Multilingual.EN-US.Nobody"}', 400,
     "voice"),
    ("speed out of range", b'{"input": "Hi.", "speed": 0.1}', 400, "speed"),
    ("speed a bool", b'{"input": "Hi.", "speed": true}', 400, "speed"),
    ("json array", b'["Hi."]', 400, None),
    ("not utf-8", b'{"input": "\xff"}', 400, None),
    ("body past 1 MiB", b'{"input": "' + b"a" * (1024 * 1024 + 1) + b'"}', 413, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "status", "param"),
    [case[1:] for case in BAD_SPEECH],
    ids=[case[0] for case in BAD_SPEECH],
)
async def test_bad_speech(
    gateway: Client,
    init_integration: MockConfigEntry,
    spark_sim: SparkSim,
    spool: Path,
    data: bytes,
    status: int,
    param: str | None,
) -> None:
    response = await gateway.post(
        f"{BASE}/audio/speech", data=data, headers={"Content-Type": "application/json"}
    )
    assert_no_leak(await response.text(), spark_sim, spool)
    result = await response.json()
    assert response.status == status, result
    assert_openai_error(result, status)
    assert result["error"]["param"] == param


MIB = 1024 * 1024
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
    assert gateway.server.host is not None
    assert gateway.server.port is not None
    _, writer = await open_raw(
        gateway.server.host, gateway.server.port, T, hass_access_token, DISCONNECTS[point], 50 * MIB
    )
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
    small = await gateway.post(
        f"{BASE}/{T}", data=body(field(*M), audio()), headers={"Content-Type": form_type()}
    )
    assert small.status == 200, await small.text()


async def test_concurrent_upload_cap(
    hass: HomeAssistant,
    gateway: Client,
    hass_access_token: str,
    init_integration: MockConfigEntry,
    spark_sim: SparkSim,
    spool: Path,
) -> None:
    """One upload past the configured number in flight: 429 with Retry-After."""
    await _set_options(hass, init_integration, **{CONF_MAX_CONCURRENT_UPLOADS: 1})
    assert gateway.server.host is not None
    assert gateway.server.port is not None
    _, writer = await open_raw(
        gateway.server.host, gateway.server.port, T, hass_access_token, field(*M), 10 * MIB
    )
    await wait_for(uploads_running(hass, 1), "the first upload to start")
    response = await gateway.post(
        f"{BASE}/{T}", data=body(field(*M), audio()), headers={"Content-Type": form_type()}
    )
    assert_no_leak(await response.text(), spark_sim, spool)
    result = await response.json()
    assert response.status == 429, result
    assert_openai_error(result, 429)
    assert result["error"]["code"] == "too_many_uploads"
    assert int(response.headers["Retry-After"]) > 0
    writer.transport.abort()
    await wait_for(uploads_running(hass, 0), "the first upload to end")
    again = await gateway.post(
        f"{BASE}/{T}", data=body(field(*M), audio()), headers={"Content-Type": form_type()}
    )
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
    await _set_options(hass, init_integration, **{CONF_MAX_CONCURRENT_UPLOADS: 1})
    assert gateway.server.host is not None
    assert gateway.server.port is not None
    _, writer = await open_raw(
        gateway.server.host, gateway.server.port, T, hass_access_token, field(*M), 10 * MIB
    )
    await wait_for(uploads_running(hass, 1), "the first upload to start")
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
    response = await gateway.post(
        f"{BASE}/{T}", data=body(field(*M), audio()), headers={"Content-Type": form_type()}
    )
    result = await response.json()
    assert response.status == 429, result
    assert result["error"]["code"] == "too_many_uploads"
    assert int(response.headers["Retry-After"]) > 0
    running.cancel()
    await asyncio.wait([running])
    await wait_for(uploads_running(hass, 0), f"the {holder} to give its slot back")
    again = await gateway.post(
        f"{BASE}/{T}", data=body(field(*M), audio()), headers={"Content-Type": form_type()}
    )
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
