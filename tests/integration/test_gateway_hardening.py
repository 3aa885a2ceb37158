"""Hostile and broken uploads: every one a clear 4xx in OpenAI's shape, nothing left behind.

Runs HA's HTTP app with handler cancellation on (as HA itself does), and a
per-test temporary directory so "nothing left behind" is an exact check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.gateway.multipart_raw import (
    MAX_FORM_BYTES,
    MAX_PART_HEADER_BYTES,
    MAX_PART_HEADER_LINES,
)
from custom_components.spark_audio.gateway.upload_form import MAX_FIELD_BYTES, MAX_FIELDS
from tests.integration.gateway_harness import (
    BASE,
    BOUNDARY,
    WAV,
    Client,
    T,
    assert_no_leak,
    assert_openai_error,
    audio,
    body,
    field,
    form_type,
    ours,
    part,
    uploads_running,
    wait_for,
)
from tests.spark_sim.server import SparkSim

PLAYLIST = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:/etc/passwd\n#EXT-X-ENDLIST\n"
M = ("model", "parakeet")
DASH = b'<?xml version="1.0"?>\n<MPD><Period><BaseURL>file:/etc/passwd</BaseURL></Period></MPD>'
SMIL = b'<smil><body><audio src="file:/etc/passwd"/></body></smil>'
ASX = b'<asx version="3.0"><entry><ref href="file:///etc/passwd"/></entry></asx>'


def flooded(name: str, lines: int, line: bytes = b"ab") -> bytes:
    """A part whose header block holds ``lines`` more lines of ``line``."""
    start = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n'.encode()
    return start + (line + b"\r\n") * lines + b"\r\n" + (WAV if name == "file" else b"x") + b"\r\n"


def with_boundary(data: bytes, boundary: str) -> bytes:
    return data.replace(BOUNDARY.encode(), boundary.encode())


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
