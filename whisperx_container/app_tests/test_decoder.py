"""The container's decoder: bounded in length, confined to the upload (no ML stack needed)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import decoder
from app.config import ConfigError, Settings
from app.decoder import SAMPLE_RATE, decode_pcm
from app.engine import AudioDecodeError, AudioTooLong
from app.main import create_app
from app.stub_engine import StubEngine

from .conftest import Exits, wav_bytes

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg CLI")


def encode(folder: Path, name: str, seconds: float, *codec: str) -> Path:
    """``seconds`` of silence encoded by ffmpeg into ``name``."""
    path = folder / name
    subprocess.run(
        [
            *("ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono"),
            *("-t", str(seconds), *codec, str(path)),
        ],
        check=True,
    )
    return path


def test_a_flac_bomb_stops_at_the_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten minutes of silence (~100 KB of FLAC) against a 60 s bound: refused, not decoded whole.

    The bound is lowered from 12 h to 60 s so the test is quick; the mechanism is the same.
    What ffmpeg handed back is measured: a decode that ran to the end and was refused
    afterwards would have held all ten minutes in memory.
    """
    produced: list[int] = []
    real_run = decoder.subprocess.run

    def run(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        result: subprocess.CompletedProcess[bytes] = real_run(*args, **kwargs)
        produced.append(len(result.stdout))
        return result

    bomb = encode(tmp_path, "bomb.flac", 600, "-c:a", "flac")
    assert bomb.stat().st_size < 200_000
    monkeypatch.setattr(decoder.subprocess, "run", run)
    with pytest.raises(AudioTooLong, match="60 s"):
        decode_pcm(bomb, 60)
    assert len(produced) == 1
    assert produced[0] <= 62 * SAMPLE_RATE * 2, "ffmpeg ran past a second after the bound"
    monkeypatch.undo()
    short = encode(tmp_path, "short.flac", 30, "-c:a", "flac")
    assert len(decode_pcm(short, 60)) == 30 * SAMPLE_RATE * 2


def test_mp4_is_read_from_the_file_with_the_mov_demuxer(tmp_path: Path) -> None:
    """M4A's index may sit at the end: read by seeking, still within the bound."""
    m4a = encode(tmp_path, "a.m4a", 3, "-c:a", "aac")
    assert abs(len(decode_pcm(m4a, 60)) - 3 * SAMPLE_RATE * 2) < SAMPLE_RATE
    with pytest.raises(AudioTooLong):
        decode_pcm(m4a, 1)


@pytest.mark.parametrize(
    "reference",
    [
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:{target}\n#EXT-X-ENDLIST\n",
        "ffconcat version 1.0\nfile '{target}'\n",
        "[playlist]\nFile1={target}\nNumberOfEntries=1\n",
    ],
    ids=["hls", "concat", "pls"],
)
def test_references_to_other_files_are_refused(tmp_path: Path, reference: str) -> None:
    """A playlist or concat list naming a real audio file on the box: not opened.

    The message names no path (ffmpeg's complaint, which does, goes to the log).
    """
    target = encode(tmp_path, "secret.wav", 2, "-c:a", "pcm_s16le")
    upload = tmp_path / "upload"
    upload.write_text(reference.format(target=target))
    with pytest.raises(AudioDecodeError) as err:
        decode_pcm(upload, 60)
    assert str(tmp_path) not in str(err.value)


def test_a_demuxer_outside_the_whitelist_is_refused(tmp_path: Path) -> None:
    """Creative Voice decodes with ffmpeg's defaults; only the whitelist keeps it out.

    (ffmpeg's own defaults already stop the playlists above; this shows the whitelist is on.)
    """
    voc = encode(tmp_path, "a.voc", 1)
    unrestricted = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(voc), "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    )
    assert unrestricted.stdout
    with pytest.raises(AudioDecodeError):
        decode_pcm(voc, 60)


def test_not_audio_names_no_path(tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    upload.write_bytes(b"definitely not audio")
    with pytest.raises(AudioDecodeError) as err:
        decode_pcm(upload, 60)
    assert str(tmp_path) not in str(err.value)


def test_too_long_audio_is_a_413(make_client: Callable[..., TestClient]) -> None:
    """The stub engine keeps the same bound: past it the request is answered 413."""
    client = make_client(StubEngine("medium", max_audio_s=5), max_audio_s=5)
    files = {"file": ("a.wav", wav_bytes(9.0), "audio/wav")}
    response = client.post("/v1/audio/transcriptions", files=files)
    assert response.status_code == 413
    assert "5 s" in response.json()["detail"]
    files = {"file": ("a.wav", wav_bytes(4.0), "audio/wav")}
    assert client.post("/v1/audio/transcriptions", files=files).status_code == 200


def test_max_audio_and_hf_token_file_settings(tmp_path: Path) -> None:
    """``WHISPERX_MAX_AUDIO_S`` (default 12 h) and ``HF_TOKEN_FILE``, as the installer mounts it."""
    assert Settings.from_env({}).max_audio_s == 12 * 3600
    assert Settings.from_env({"WHISPERX_MAX_AUDIO_S": "60"}).max_audio_s == 60
    with pytest.raises(ConfigError, match="WHISPERX_MAX_AUDIO_S"):
        Settings.from_env({"WHISPERX_MAX_AUDIO_S": "0"})
    token = tmp_path / "hf_token"
    token.write_text("hf_fromafile123\n")
    settings = Settings.from_env({"HF_TOKEN_FILE": str(token)})
    assert settings.hf_token == "hf_fromafile123"
    assert "hf_fromafile123" not in repr(settings)
    with pytest.raises(ConfigError, match="only one of HF_TOKEN and HF_TOKEN_FILE"):
        Settings.from_env({"HF_TOKEN_FILE": str(token), "HF_TOKEN": "hf_x"})
    with pytest.raises(ConfigError, match="not readable"):
        Settings.from_env({"HF_TOKEN_FILE": str(tmp_path / "missing")})


def test_the_bound_reaches_the_engine_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, exits: Exits
) -> None:
    """``WHISPERX_MAX_AUDIO_S`` is handed to the engine the app builds."""
    monkeypatch.setenv("WHISPERX_ENGINE", "stub")
    monkeypatch.setenv("WHISPERX_MAX_AUDIO_S", "5")
    with TestClient(create_app(exit_fn=exits)) as client:
        files = {"file": ("a.wav", wav_bytes(9.0), "audio/wav")}
        assert client.post("/v1/audio/transcriptions", files=files).status_code == 413
