"""Background transcriptions in the logbook and the recorder (churning attributes stay out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.recorder.core import Recorder
from homeassistant.components.recorder.history import get_significant_states
from homeassistant.core import HomeAssistant, State
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.spark_audio.const import DOMAIN, SparkService, conf_enabled
from tests.integration.conftest import entry_data
from tests.integration.long_audio import collect_events, transcription_sensor, wait_until
from tests.spark_sim.audio import speak
from tests.spark_sim.server import SparkSim

CHURN = {"job_id", "media", "model", "phase", "percent", "elapsed", "eta", "queue"}


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must exist before hass does; the conftest fixture would build hass first."""


async def test_done_and_failed_in_the_logbook_and_churn_unrecorded(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    spark_sim: SparkSim,
    tmp_path: Path,
) -> None:
    """A finished and a failed job show under the Spark's name; progress is not recorded."""
    assert await async_setup_component(hass, "logbook", {})
    data = entry_data(spark_sim, **{conf_enabled(SparkService.WHISPERX): False})
    entry = MockConfigEntry(domain=DOMAIN, title="127.0.0.1", data=data, entry_id="01SPARKREC")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    hass.config.media_dirs = {"local": str(tmp_path)}
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    good, bad = tmp_path / "note.wav", tmp_path / "broken.wav"
    clip = await speak("good morning everyone", "en-US", 16000)
    await hass.async_add_executor_job(good.write_bytes, clip)
    await hass.async_add_executor_job(bad.write_bytes, b"RIFF not really audio")
    done = collect_events(hass, "spark_audio_transcription_done")
    failed = collect_events(hass, "spark_audio_transcription_failed")
    start = dt_util.utcnow()
    for media in (good, bad):
        response: Any = await hass.services.async_call(
            DOMAIN,
            "transcribe",
            {"media": str(media), "speakers": True, "wait": False},
            blocking=True,
            return_response=True,
        )
        job_id = response["job_id"]
        await wait_until(hass, lambda: any(e["job_id"] == job_id for e in done + failed))  # noqa: B023
    assert [e["media"] for e in done] == [str(good)]
    assert [e["media"] for e in failed] == [str(bad)]
    await async_wait_recording_done(hass)

    client = await hass_ws_client()
    await client.send_json({"id": 1, "type": "logbook/get_events", "start_time": start.isoformat()})
    result = await client.receive_json()
    assert result["success"], result
    ours = [(e["name"], e["message"]) for e in result["result"] if e.get("domain") == DOMAIN]
    assert ours == [
        ("127.0.0.1", f"transcribed {good}"),
        ("127.0.0.1", f"could not transcribe {bad}: {failed[0]['error']}"),
    ]

    sensor = transcription_sensor(hass, entry)
    history = await hass.async_add_executor_job(
        get_significant_states, hass, start, None, [sensor], None, True, False
    )
    recorded = [state for state in history[sensor] if isinstance(state, State)]
    assert any(state.state == "running" for state in recorded)
    for state in recorded:
        assert not CHURN & set(state.attributes)
        assert "queued" in state.attributes
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
