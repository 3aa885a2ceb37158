"""The transcription core: no HTTP in it, one typed request, domain errors the callers map."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN
from custom_components.spark_audio.data import PARAKEET_SLOT
from custom_components.spark_audio.gateway.errors import error_response
from custom_components.spark_audio.spark.clients.transcription import (
    SEGMENT_TIMING,
    WORD_TIMING,
)
from custom_components.spark_audio.transcription.action import action_request
from custom_components.spark_audio.transcription.errors import TranscriptionError
from custom_components.spark_audio.transcription.request import (
    SpeakerCounts,
    TranscriptionRequest,
)
from tests.spark_sim.audio import speak
from tests.spark_sim.server import SparkSim

CORE = Path(__file__).parents[2] / "custom_components" / "spark_audio" / "transcription"


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports written from the package root."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level == 2:  # ..something: a sibling package of transcription/
                found.add(base)
            elif node.level == 0:
                found.update(f"{base}.{alias.name}" for alias in node.names)
                found.add(base)
    return found


@pytest.mark.parametrize("module", sorted(p.name for p in CORE.glob("*.py")))
def test_the_core_knows_nothing_of_http(module: str) -> None:
    """No aiohttp, no forms, no uploads: the gateway calls the core, never the other way."""
    imports = _imports(CORE / module)
    assert not {name for name in imports if name.startswith("aiohttp")}
    assert not {name for name in imports if name.startswith("gateway")}


def test_the_request_refuses_what_no_backend_takes() -> None:
    """The rules live in the request, so the gateway and the action answer them alike."""
    with pytest.raises(TranscriptionError) as empty:
        TranscriptionRequest(language="  ")
    assert (empty.value.status, empty.value.param) == (400, "language")
    assert empty.value.message == "language must not be empty"
    with pytest.raises(TranscriptionError) as level:
        TranscriptionRequest(granularities=("word", "sentence"))
    assert level.value.param == "timestamp_granularities[]"
    with pytest.raises(TranscriptionError) as counts:
        SpeakerCounts(min_speakers=3, max_speakers=2)
    assert (counts.value.message, counts.value.param) == (
        "min_speakers must not exceed max_speakers",
        "min_speakers",
    )
    request = TranscriptionRequest(
        PARAKEET_SLOT, language=" de ", response_format="verbose_json", granularities=("word",)
    )
    assert request.language == "de"
    assert request.backend.ask == WORD_TIMING
    assert request.backend.language == "de"


def test_action_data_becomes_the_request_without_a_form() -> None:
    """Captions or speakers ask for a speaker-labelled transcript; else plain text."""
    plain = action_request({"model": "parakeet", "speakers": False, "write": []})
    assert (plain.model, plain.speakers) == (PARAKEET_SLOT, None)
    assert plain.backend.ask == SEGMENT_TIMING  # language and duration for its summary
    labelled = action_request(
        {"model": "parakeet", "speakers": False, "write": ["srt"], "num_speakers": 2}
    )
    assert labelled.speakers == SpeakerCounts(num_speakers=2)


async def test_a_core_error_is_a_translated_error_in_the_action(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, tmp_path: Path
) -> None:
    """min > max speakers: refused by the core before any GPU work, in the action's words."""
    hass.config.media_dirs = {"local": str(tmp_path)}
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    media = tmp_path / "meeting.wav"
    await hass.async_add_executor_job(media.write_bytes, await speak("hello", "en-US", 16000))
    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            DOMAIN,
            "transcribe",
            {"media": str(media), "speakers": True, "min_speakers": 3, "max_speakers": 2},
            blocking=True,
            return_response=True,
        )
    assert raised.value.translation_key == "transcription_failed"
    assert raised.value.translation_placeholders == {
        "error": "min_speakers must not exceed max_speakers"
    }
    assert not [r for r in spark_sim.states["whisperx"].requests if r.file_name == media.name]


def test_the_gateway_renders_a_core_error_in_openai_shape() -> None:
    response = error_response(TranscriptionError(503, "busy", code="backend_fault", retry_after=60))
    assert response.status == 503
    assert response.headers["Retry-After"] == "60"
    assert response.text is not None
    assert '"type": "server_error"' in response.text
