"""WhisperX health in HA: device, compute type, self-test, and a repair off the GPU.

The simulated WhisperX's ``device`` knob answers as the real app does (``cpu``: a
CPU/int8 run; ``cuda_missing``: 503 with the reason), so these tests follow the
attributes and the repair appearing and clearing through real polls.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN, SparkService
from custom_components.spark_audio.recovery import ssh_missing_issue_id
from custom_components.spark_audio.spark.clients.probes import Verdict
from custom_components.spark_audio.whisperx_container.app.engine import CUDA_MISSING
from custom_components.spark_audio.whisperx_gpu import whisperx_off_gpu_issue_id
from tests.integration.test_translations import EN, untranslated_attributes
from tests.spark_sim.server import SparkSim

CONNECTIVITY = "binary_sensor.127_0_0_1_whisperx_connectivity"


async def poll(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """One WhisperX health poll now (instead of waiting for the interval)."""
    await entry.runtime_data.whisperx.async_refresh()
    await hass.async_block_till_done()


def issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, whisperx_off_gpu_issue_id(entry.entry_id))


def attributes(hass: HomeAssistant) -> dict[str, object]:
    state = hass.states.get(CONNECTIVITY)
    assert state is not None
    keys = ("device", "compute_type", "self_test", "device_error")
    return {key: state.attributes.get(key) for key in keys}


async def test_on_the_gpu_the_sensor_says_so_and_no_repair(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    state = hass.states.get(CONNECTIVITY)
    assert state is not None
    assert state.state == "on"
    assert attributes(hass) == {
        "device": "cuda",
        "compute_type": "float16",
        "self_test": "passed",
        "device_error": None,
    }
    assert issue(hass, init_integration) is None


async def test_cpu_run_raises_the_repair_and_the_gpu_clears_it(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    spark_sim.states["whisperx"].apply({"device": "cpu"})
    await poll(hass, entry)
    assert hass.states.get(CONNECTIVITY).state == "on"  # type: ignore[union-attr]
    assert attributes(hass) == {
        "device": "cpu",
        "compute_type": "int8",
        "self_test": "no_gpu",
        "device_error": None,
    }
    raised = issue(hass, entry)
    assert raised is not None
    assert raised.translation_key == "whisperx_on_cpu"
    assert raised.severity is ir.IssueSeverity.WARNING
    assert not raised.is_fixable
    assert raised.translation_placeholders == {"host": "127.0.0.1", "compute_type": "int8"}

    spark_sim.states["whisperx"].apply({"device": "cuda"})
    await poll(hass, entry)
    assert issue(hass, entry) is None
    assert attributes(hass)["device"] == "cuda"


async def test_cuda_missing_turns_connectivity_off_with_the_reason_and_restarts_nothing(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """The 503 is "down" for the deep check: not wedged, no restart asked for (no SSH issue)."""
    entry = init_integration
    spark_sim.states["whisperx"].apply({"device": "cuda_missing"})
    await poll(hass, entry)
    assert hass.states.get(CONNECTIVITY).state == "off"  # type: ignore[union-attr]
    shown = attributes(hass)
    assert (shown["device"], shown["compute_type"], shown["self_test"]) == ("cuda", None, "no_gpu")
    assert isinstance(shown["device_error"], str)
    assert shown["device_error"].startswith(CUDA_MISSING)
    assert untranslated_attributes(hass) == {}
    raised = issue(hass, entry)
    assert raised is not None
    assert raised.translation_key == "whisperx_cuda_missing"
    assert raised.translation_placeholders == {"host": "127.0.0.1", "reason": shown["device_error"]}

    status = await entry.runtime_data.deep[SparkService.WHISPERX].async_probe_now()
    await hass.async_block_till_done()
    assert status.verdict is Verdict.DOWN
    assert not entry.runtime_data.recovery[SparkService.WHISPERX].wedged
    assert ir.async_get(hass).async_get_issue(DOMAIN, ssh_missing_issue_id(entry.entry_id)) is None
    assert spark_sim.states["whisperx"].restarts == 0

    spark_sim.states["whisperx"].apply({"device": "cuda"})
    await poll(hass, entry)
    assert hass.states.get(CONNECTIVITY).state == "on"  # type: ignore[union-attr]
    assert attributes(hass)["device_error"] is None
    assert issue(hass, entry) is None


async def test_report_after_a_failed_poll_still_reaches_sensor_and_repair(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """Failed poll after failed poll (container stopped, then up without CUDA) still shows it.

    The coordinator tells its listeners nothing between two failures; the report signal does.
    """
    entry = init_integration
    await spark_sim.stop_service("whisperx")
    await poll(hass, entry)
    assert hass.states.get(CONNECTIVITY).state == "off"  # type: ignore[union-attr]
    spark_sim.states["whisperx"].apply({"device": "cuda_missing"})
    await spark_sim.start_service("whisperx")
    await poll(hass, entry)
    assert str(attributes(hass)["device_error"]).startswith(CUDA_MISSING)
    assert issue(hass, entry) is not None


async def test_missing_from_the_first_poll_and_gone_with_the_entry(
    hass: HomeAssistant, spark_sim: SparkSim, mock_config_entry: MockConfigEntry
) -> None:
    entry = mock_config_entry
    spark_sim.states["whisperx"].apply({"device": "cuda_missing"})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert issue(hass, entry) is not None
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert issue(hass, entry) is None


async def test_whisperx_turned_off_takes_the_repair_along(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    spark_sim.states["whisperx"].apply({"device": "cpu"})
    await poll(hass, entry)
    assert issue(hass, entry) is not None
    hass.config_entries.async_update_entry(entry, data={**entry.data, "whisperx_enabled": False})
    await hass.async_block_till_done()
    assert issue(hass, entry) is None


def test_both_repairs_are_translated_with_their_placeholders() -> None:
    """The keys are chosen at run time, so the translation scan cannot see them: checked here."""
    issues = EN["issues"]
    for key, placeholder in (
        ("whisperx_on_cpu", "{compute_type}"),
        ("whisperx_cuda_missing", "{reason}"),
    ):
        assert "{host}" in issues[key]["title"]
        assert placeholder in issues[key]["description"]
