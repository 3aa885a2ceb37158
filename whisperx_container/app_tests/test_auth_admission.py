"""API key (every path but /health) and the queue gate, both decided from headers alone."""

from __future__ import annotations

import hmac
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import auth
from app.auth import KeyConfigError, authorized, load_api_key
from app.config import ConfigError, Settings
from app.stub_engine import StubEngine

from .conftest import wav_bytes

KEY = "k3y-for-tests_0123456789abcdef"
TRANSCRIBE = "/v1/audio/transcriptions"
SPEAKERS = "/v1/audio/transcribe-with-speakers"
EMBEDDINGS = "/v1/audio/embeddings"
WAV3 = wav_bytes(3.0)


@pytest.fixture(autouse=True)
def _own_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def post(client: TestClient, path: str = TRANSCRIBE, headers: dict[str, str] | None = None) -> Any:
    return client.post(path, files={"file": ("a.wav", WAV3, "audio/wav")}, headers=headers)


def bearer(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def asgi_post(client: TestClient, path: str, headers: list[tuple[bytes, bytes]]) -> Any:
    """Call the app directly; record whether it ever asked for the request body."""
    asked: list[str] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        asked.append("receive")
        return {"type": "http.request", "body": WAV3, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"multipart/form-data; boundary=x"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    await client.app(scope, receive, send)  # type: ignore[arg-type]
    return asked, sent


def test_key_from_env_or_file(tmp_path: Path) -> None:
    assert load_api_key({}) is None
    assert load_api_key({"WHISPERX_API_KEY": f" {KEY} "}) == KEY
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    assert load_api_key({"WHISPERX_API_KEY_FILE": str(key_file)}) == KEY
    settings = Settings.from_env({"WHISPERX_API_KEY_FILE": str(key_file)})
    assert settings.api_key == KEY
    assert KEY not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WHISPERX_API_KEY": KEY, "WHISPERX_API_KEY_FILE": "/x"}, "only one"),
        ({"WHISPERX_API_KEY_FILE": "/nonexistent/key"}, "not readable"),
        ({"WHISPERX_API_KEY_FILE": "EMPTY"}, "is empty"),
        ({"WHISPERX_API_KEY": KEY + "\x01x"}, "printable ASCII"),
    ],
)
def test_bad_key_settings(tmp_path: Path, env: dict[str, str], message: str) -> None:
    if env.get("WHISPERX_API_KEY_FILE") == "EMPTY":
        (tmp_path / "empty").write_text("  \n")
        env = {"WHISPERX_API_KEY_FILE": str(tmp_path / "empty")}
    with pytest.raises(KeyConfigError, match=message) as caught:
        load_api_key(env)
    assert KEY not in str(caught.value)
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_authorized_header_forms() -> None:
    assert authorized(f"Bearer {KEY}", KEY)
    assert authorized(f"bearer  {KEY} ", KEY)
    assert not authorized(None, KEY)
    assert not authorized(KEY, KEY)
    assert not authorized(f"Basic {KEY}", KEY)
    assert not authorized(f"Bearer {KEY}x", KEY)
    assert not authorized("Bearer ", KEY)


def test_key_required_everywhere_but_health(
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = StubEngine(hf_token="x")
    client = make_client(engine, api_key=KEY)
    compared: list[bytes] = []
    real_compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return real_compare(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["auth"] is True
    for path in (TRANSCRIBE, SPEAKERS, EMBEDDINGS):
        for headers in (None, bearer("wrong"), {"Authorization": KEY}):
            resp = post(client, path, headers)
            assert resp.status_code == 401, (path, headers)
            assert resp.headers["www-authenticate"] == "Bearer"
            assert KEY not in resp.text
    for path in ("/docs", "/openapi.json"):
        assert client.get(path).status_code == 401
    assert engine.jobs == []
    assert list(tmp_path.glob("whisperx-*")) == []
    assert post(client, TRANSCRIBE, bearer()).status_code == 200
    assert post(client, SPEAKERS, bearer()).status_code == 200
    assert post(client, EMBEDDINGS, bearer()).status_code == 200
    assert compared
    assert all(c == KEY.encode() for c in compared)
    assert client.get("/openapi.json", headers=bearer()).status_code == 200


def test_open_without_key(make_client: Callable[..., TestClient]) -> None:
    """A container installed before keys existed: no key set, clients with or without one work."""
    client = make_client(StubEngine(hf_token="x"))
    assert client.get("/health").json()["auth"] is False
    assert post(client).status_code == 200
    assert post(client, headers=bearer()).status_code == 200


def test_401_before_body_is_read(make_client: Callable[..., TestClient]) -> None:
    client = make_client(StubEngine(hf_token="x"), api_key=KEY)
    asked, sent = client.portal.call(asgi_post, client, TRANSCRIBE, [])  # type: ignore[union-attr]
    assert sent[0]["status"] == 401
    assert asked == []


def test_queue_full_429_before_body_is_read(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    hold = threading.Event()
    engine = StubEngine(hf_token="x", hold=hold)
    client = make_client(engine, max_queue=0, retry_after_s=9, api_key=KEY)
    results: list[int] = []
    first = threading.Thread(
        target=lambda: results.append(post(client, headers=bearer()).status_code)
    )
    first.start()
    try:
        assert engine.started.wait(5)
        spooled_before = sorted(tmp_path.glob("whisperx-*"))
        auth_header = [(b"authorization", f"Bearer {KEY}".encode())]
        for path in (TRANSCRIBE, SPEAKERS, EMBEDDINGS):
            asked, sent = client.portal.call(asgi_post, client, path, auth_header)  # type: ignore[union-attr]
            assert sent[0]["status"] == 429
            assert (b"retry-after", b"9") in sent[0]["headers"]
            assert asked == []  # no byte of the upload was received
        # Without the key the answer is 401, not a hint about the queue.
        asked, sent = client.portal.call(asgi_post, client, TRANSCRIBE, [])  # type: ignore[union-attr]
        assert sent[0]["status"] == 401
        assert sorted(tmp_path.glob("whisperx-*")) == spooled_before
        assert client.get("/health").json()["busy"] is True
    finally:
        hold.set()
    first.join(5)
    assert results == [200]
    assert engine.jobs == ["transcribe"]
