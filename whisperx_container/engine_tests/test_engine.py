"""The app with the real whisperX engine: health, every format, alignment, degraded diarization."""

from __future__ import annotations

import io
import json
import wave
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.engine import NO_TOKEN_REASON
from app.languages import LANGUAGES, VENDORED
from app.whisperx_engine import WhisperXEngine

from .conftest import Exits
from .tiny_models import SPOKEN

TRANSCRIBE = "/v1/audio/transcriptions"
SPEAKERS = "/v1/audio/transcribe-with-speakers"
HEARD = SPOKEN.strip()


def post(client: TestClient, speech: bytes, path: str = TRANSCRIBE, **data: Any) -> Any:
    return client.post(path, files={"file": ("speech.wav", speech, "audio/wav")}, data=data)


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnframes() / wav.getframerate()


def engine_of(client: TestClient) -> WhisperXEngine:
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
    assert isinstance(engine, WhisperXEngine)
    return engine


def test_languages_are_the_libraries(client: TestClient) -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert frozenset(_LANGUAGE_CODES) == LANGUAGES == frozenset(VENDORED)


def test_health_reports_the_real_engine(client: TestClient) -> None:
    health = client.get("/health", headers={"Authorization": ""}).json()  # open, no key
    assert health["status"] == "ok"
    assert health["whisper_loaded"] is True
    assert health["model"] == "tiny"
    assert (health["device"], health["compute_type"], health["device_error"]) == (
        "cpu",
        "int8",
        None,
    )
    assert health["gpu_ok"] is False  # no CUDA here: the check says so instead of failing
    assert (health["self_test"], health["self_test_error"]) == ("no_gpu", None)
    assert health["auth"] is True
    assert health["diarizer_loaded"] is False
    assert health["diarizer_off_reason"].startswith("diarization model failed to load")
    assert WhisperXEngine("tiny", None).diarizer_off_reason == NO_TOKEN_REASON


def test_cuda_expected_on_cpu_torch_loads_nothing() -> None:
    """The real torch and CTranslate2 of this CPU lane: CUDA asked for is refused, not faked."""
    from app.engine import CUDA_MISSING

    engine = WhisperXEngine("tiny", None, env={}, device="cuda")
    engine.load()
    assert engine.device_error is not None
    assert engine.device_error.startswith(CUDA_MISSING)
    assert (engine.whisper_loaded, engine.compute_type, engine.gpu_check()) == (False, None, None)


def test_ctranslate2_self_test_kernel_runs() -> None:
    """The self-test's CTranslate2 half (a float16 conversion) with the real library, on CPU."""
    from app.whisperx_engine import ctranslate2_check

    assert ctranslate2_check("cpu") is True


@pytest.mark.parametrize("fmt", ["json", "text", "srt", "vtt", "verbose_json"])
def test_every_format(client: TestClient, speech: bytes, fmt: str, exits: Exits) -> None:
    resp = post(client, speech, response_format=fmt)
    assert resp.status_code == 200, resp.text
    match fmt:
        case "json":
            assert resp.json() == {"text": HEARD}
        case "text":
            assert resp.text == HEARD
        case "srt":
            first = resp.text.split("\n")
            assert first[0] == "1"
            assert " --> " in first[1]
            assert first[2] == HEARD
        case "vtt":
            assert resp.text.startswith("WEBVTT\n\n")
            assert HEARD in resp.text
        case "verbose_json":
            body = resp.json()
            assert body["language"] == "en"  # detected by the model
            assert body["text"] == HEARD
            assert "words" not in body  # segment granularity only: no alignment
            assert body["duration"] == pytest.approx(wav_seconds(speech), abs=0.01)
            for segment in body["segments"]:
                assert 0 <= segment["start"] < segment["end"] <= body["duration"]
                assert segment["text"] == HEARD
    assert exits.codes == []


def test_alignment_gives_word_timings(client: TestClient, speech: bytes) -> None:
    resp = post(
        client,
        speech,
        response_format="verbose_json",
        language="en",
        **{"timestamp_granularities[]": ["word", "segment"]},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    words = body["words"]
    assert [w["word"] for w in words] == HEARD.split()
    segment = body["segments"][0]
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    for word in words:
        assert segment["start"] - 0.01 <= word["start"] <= word["end"] <= segment["end"] + 0.01
    # Not the fallback that spreads words evenly over the segment: wav2vec2 placed them.
    span = (segment["end"] - segment["start"]) / len(words)
    even = [round(segment["start"] + i * span, 3) for i in range(len(words))]
    assert starts != even
    engine = engine_of(client)
    assert engine.aligners.get("en") is not None
    assert "en" not in engine.aligners.failures


def test_aligner_that_cannot_load_is_retried_later(client: TestClient, speech: bytes) -> None:
    """Dutch's default aligner is on the hub (offline here): words fall back, retry later."""
    resp = post(
        client,
        speech,
        response_format="verbose_json",
        language="nl",
        **{"timestamp_granularities[]": "word"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["language"] == "nl"
    assert [w["word"] for w in body["words"]] == HEARD.split()
    failure = engine_of(client).aligners.failures["nl"]
    assert failure.count == 1
    assert failure.retry_at > 0


def test_speakers_degrade_without_a_diarization_model(client: TestClient, speech: bytes) -> None:
    resp = post(client, speech, SPEAKERS)
    assert resp.status_code == 503
    assert resp.json()["detail"].startswith("Diarization is off: diarization model failed")
    # Transcription keeps working meanwhile.
    assert post(client, speech, response_format="text").text == HEARD


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        ({"language": "xx"}, "Unsupported language"),
        ({"temperature": "0.4"}, "not supported"),
        ({"response_format": "xml"}, "Unsupported response_format"),
    ],
)
def test_bad_input_is_400(
    client: TestClient, speech: bytes, data: dict[str, str], detail: str
) -> None:
    resp = post(client, speech, **data)
    assert resp.status_code == 400
    assert detail in resp.json()["detail"]


def test_key_required(client: TestClient, speech: bytes) -> None:
    resp = client.post(
        TRANSCRIBE,
        files={"file": ("speech.wav", speech, "audio/wav")},
        headers={"Authorization": "Bearer wrong"},
    )
    assert resp.status_code == 401
    assert json.loads(resp.text)["detail"].startswith("missing or wrong API key")


def test_prompt_reaches_the_decoder(client: TestClient, speech: bytes) -> None:
    """The tiny model's output follows decoder positions: a prompt (" a": <|startofprev|>, Ġ, a)
    shifts them by three, so it "hears" the sentence from its fourth word on."""
    resp = post(client, speech, response_format="text", prompt="a", language="en")
    assert resp.status_code == 200, resp.text
    assert resp.text == HEARD.split()[-1]
