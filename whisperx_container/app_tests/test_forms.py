"""Form checks: language, temperature, granularities and file names, before any GPU work."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import forms
from app.languages import LANGUAGES, VENDORED
from app.stub_engine import StubEngine

from .conftest import wav_bytes

SPEAKERS = "/v1/audio/transcribe-with-speakers"
TRANSCRIBE = "/v1/audio/transcriptions"
WAV3 = wav_bytes(3.0)


@pytest.fixture(autouse=True)
def _own_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def post(client: TestClient, path: str, data: dict[str, Any], name: str = "a.wav") -> Any:
    return client.post(path, files={"file": (name, WAV3, "audio/wav")}, data=data)


def raw_post(client: TestClient, path: str, filename: bytes) -> Any:
    """A multipart body written by hand: httpx would escape control characters."""
    boundary = b"xBOUNDARYx"
    body = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: audio/wav\r\n\r\n" + WAV3 + b"\r\n--" + boundary + b"--\r\n"
    )
    headers = {"Content-Type": "multipart/form-data; boundary=" + boundary.decode()}
    return client.post(path, content=body, headers=headers)


def test_languages_match_whisper() -> None:
    assert frozenset(VENDORED) == LANGUAGES  # no faster-whisper here: the vendored list
    assert len(VENDORED) == len(set(VENDORED)) == 100
    assert {"en", "de", "yue", "haw"} <= LANGUAGES


@pytest.mark.parametrize("path", [SPEAKERS, TRANSCRIBE])
@pytest.mark.parametrize("code", ["xx", "english", "e n", "zz-ZZ"])
def test_unknown_language_is_400_before_gpu(
    client: TestClient, engine: StubEngine, tmp_path: Path, path: str, code: str
) -> None:
    resp = post(client, path, {"language": code})
    assert resp.status_code == 400
    assert "Unsupported language" in resp.json()["detail"]
    assert engine.jobs == []
    assert list(tmp_path.glob("whisperx-*")) == []


def test_language_is_case_insensitive(client: TestClient, engine: StubEngine) -> None:
    assert post(client, TRANSCRIBE, {"language": "DE"}).status_code == 200
    assert engine.last_options["language"] == "de"


@pytest.mark.parametrize("value", ["0.2", "1", "1e-3"])
def test_nonzero_temperature_is_refused_not_ignored(
    client: TestClient, engine: StubEngine, value: str
) -> None:
    resp = post(client, TRANSCRIBE, {"temperature": value})
    assert resp.status_code == 400
    detail = resp.json()["detail"]
    assert "not supported" in detail
    assert "omit temperature or send 0" in detail
    assert engine.jobs == []


@pytest.mark.parametrize("value", ["0", "0.0", ""])
def test_zero_temperature_is_what_the_decoder_does(client: TestClient, value: str) -> None:
    assert post(client, TRANSCRIBE, {"temperature": value}).status_code == 200


@pytest.mark.parametrize(
    ("granularities", "words"),
    [(None, False), (["segment"], False), (["word"], True), (["segment", "word"], True)],
)
def test_verbose_json_words_follow_granularities(
    client: TestClient, engine: StubEngine, granularities: list[str] | None, words: bool
) -> None:
    data: dict[str, Any] = {"response_format": "verbose_json"}
    if granularities is not None:
        data["timestamp_granularities[]"] = granularities
    body = post(client, TRANSCRIBE, data).json()
    assert engine.last_options["words"] is words  # no alignment unless words are asked
    assert ("words" in body) is words
    assert body["segments"]


def test_words_only_matter_for_verbose_json(client: TestClient, engine: StubEngine) -> None:
    data = {"response_format": "srt", "timestamp_granularities[]": "word"}
    assert post(client, TRANSCRIBE, data).status_code == 200
    assert engine.last_options["words"] is False


@pytest.mark.parametrize("path", [SPEAKERS, TRANSCRIBE])
@pytest.mark.parametrize(
    "filename",
    [b"a\x00.wav", b"a\nb.wav", b"../../etc/passwd", b"dir/a.wav", b"x" * 300],
    ids=["nul", "newline", "dotdot", "slash", "long"],
)
def test_odd_filenames_are_400(
    client: TestClient, engine: StubEngine, tmp_path: Path, path: str, filename: bytes
) -> None:
    resp = raw_post(client, path, filename)
    assert resp.status_code == 400, resp.text
    assert "file name" in resp.json()["detail"]
    assert engine.jobs == []
    assert list(tmp_path.glob("whisperx-*")) == []


@pytest.mark.parametrize("name", ["c:\\a.wav", "a\tb", "a\x7f", "y" * 256])
def test_filename_check(name: str) -> None:
    with pytest.raises(forms.BadRequest, match="file name"):
        forms.filename(name)
    forms.filename("Meeting 2026-11-29 (été).wav")
    forms.filename(None)


def test_client_filename_never_names_the_file(
    client: TestClient, engine: StubEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Path] = []
    original = engine.transcribe

    def spy(path: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(Path(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(engine, "transcribe", spy)
    assert post(client, TRANSCRIBE, {}, name="évil name.sh").status_code == 200
    assert len(seen) == 1
    assert seen[0].parent == tmp_path
    assert seen[0].name.startswith("whisperx-")
    assert seen[0].suffix == ".upload"
    assert "évil" not in seen[0].name
