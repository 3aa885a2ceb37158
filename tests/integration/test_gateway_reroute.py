"""The detour of an upload whose model comes after the file is a value, and its form is read once.

Spies (not fakes) wrap the real functions: the requests go through the whole
gateway to the simulated Spark; the spies only record what happened on the way.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.gateway import routed_upload
from custom_components.spark_audio.gateway.transcription_form import transcription_request
from custom_components.spark_audio.gateway.upload import Misrouted, Upload
from custom_components.spark_audio.transcription import routing
from custom_components.spark_audio.transcription.plain import transcribe_audio
from tests.integration.gateway_harness import MIB, Client, part, post_form
from tests.spark_sim.audio import wav_bytes
from tests.spark_sim.server import SparkSim


def _audio(name: str) -> bytes:
    data = wav_bytes(b"\x00\x01" * MIB, 16000)
    return part("file", data, filename=name, headers={"Content-Type": "audio/wav"})


async def test_a_reroute_cancels_the_first_call_and_is_returned_as_a_value(
    hass: HomeAssistant,
    gateway: Client,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    spool: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """File first, then ``model=whisperx``: streamed to Parakeet, replayed to WhisperX.

    The call to Parakeet ends cancelled (not as a connection error mapped to a
    502 and dug out again), ``forward_early`` returns ``Misrouted``, and the
    second call answers.
    """
    spark_sim.states["whisperx"].transcript = "whisperx heard this"
    calls: list[str] = []
    outcomes: list[object] = []
    mapped: list[Exception] = []
    real_transcribe = transcribe_audio
    real_forward = Upload.forward_early
    real_map = routing.map_spark_error

    async def transcribe_spy(*args: Any, **kwargs: Any) -> Any:
        try:
            result = await real_transcribe(*args, **kwargs)
        except asyncio.CancelledError:
            calls.append("cancelled")
            raise
        calls.append("answered")
        return result

    async def forward_spy(self: Upload, *args: Any, **kwargs: Any) -> Any:
        outcome = await real_forward(self, *args, **kwargs)
        outcomes.append(outcome)
        return outcome

    def map_spy(err: Exception, coordinator: Any) -> Any:
        mapped.append(err)
        return real_map(err, coordinator)  # type: ignore[arg-type]

    monkeypatch.setattr(routed_upload, "transcribe_audio", transcribe_spy)
    monkeypatch.setattr(Upload, "forward_early", forward_spy)
    monkeypatch.setattr(routing, "map_spark_error", map_spy)
    response = await post_form(gateway, _audio("detour.wav"), part("model", "whisperx"))
    assert response.status == 200, await response.text()
    assert (await response.json())["text"] == "whisperx heard this"
    assert calls == ["cancelled", "answered"]
    assert outcomes == [Misrouted()]
    assert mapped == []  # no Spark error was made up on the way


@pytest.mark.parametrize(
    "order",
    ["fields first", "file first"],
)
async def test_the_form_is_parsed_into_a_request_once(
    hass: HomeAssistant,
    gateway: Client,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    order: str,
) -> None:
    """Whatever the field order, one typed request per upload; it reaches the backend whole."""
    spark_sim.states["parakeet"].transcript = "parsed once"
    parsed: list[object] = []
    real = transcription_request

    def spy(form: Any) -> Any:
        request = real(form)
        parsed.append(request)
        return request

    monkeypatch.setattr(routed_upload, "transcription_request", spy)
    fields = [
        part("model", "parakeet"),
        part("language", "de"),
        part("response_format", "verbose_json"),
        part("timestamp_granularities[]", "word"),
    ]
    name = order.replace(" ", "-") + ".wav"
    audio = _audio(name)
    parts = [*fields, audio] if order == "fields first" else [audio, *fields]
    response = await post_form(gateway, *parts)
    assert response.status == 200, await response.text()
    assert (await response.json())["text"] == "parsed once"
    assert len(parsed) == 1
    (record,) = [r for r in spark_sim.states["parakeet"].requests if r.file_name == name]
    assert record.fields["language"] == "de"
    assert record.fields["response_format"] == "verbose_json"
    assert record.fields["timestamp_granularities[]"] == "word"
