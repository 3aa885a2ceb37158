"""Nothing stale: what a Spark no longer provides leaves the registries with it."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN, SparkService, conf_enabled
from custom_components.spark_audio.recovery import keeps_wedging_issue_id, ssh_missing_issue_id
from custom_components.spark_audio.repairs import host_key_issue_id
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost


def unique_ids(hass: HomeAssistant, entry: MockConfigEntry) -> set[str]:
    registry = er.async_get(hass)
    return {e.unique_id for e in er.async_entries_for_config_entry(registry, entry.entry_id)}


async def test_turning_services_off_removes_their_entities(
    hass: HomeAssistant, spark_sim: SparkSim, ssh_host: SSHTestHost, ssh_entry: MockConfigEntry
) -> None:
    """WhisperX off takes its update entity (on the hub) along; Magpie off the round trip's
    sensors (on Parakeet's device, which stays)."""
    entry = ssh_entry
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    conditional = {
        f"{entry.entry_id}_whisperx_update",
        f"{entry.entry_id}_round_trip_latency",
        f"{entry.entry_id}_round_trip_rtf",
        f"{entry.entry_id}_magpie_tts",
        f"{entry.entry_id}_whisperx_stt",
        # Parakeet's "last speaker" needs WhisperX's embeddings: it goes with WhisperX.
        f"{entry.entry_id}_parakeet_last_speaker",
    }
    before = unique_ids(hass, entry)
    assert conditional <= before

    hass.config_entries.async_update_entry(
        entry,
        data={
            **entry.data,
            conf_enabled(SparkService.WHISPERX): False,
            conf_enabled(SparkService.MAGPIE): False,
        },
    )
    await hass.async_block_till_done()
    after = unique_ids(hass, entry)
    assert not conditional & after
    # Everything of the remaining services and the hub stays, renamed or not.
    kept = {uid for uid in before if "whisperx" not in uid and "magpie" not in uid}
    assert kept - conditional <= after
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert sorted(d.name or "" for d in devices) == ["127.0.0.1", "127.0.0.1 Parakeet"]
    await hass.config_entries.async_unload(entry.entry_id)


async def test_removing_the_entry_deletes_its_repairs(
    hass: HomeAssistant, spark_sim: SparkSim, mock_config_entry: MockConfigEntry
) -> None:
    """Every repair issue names its entry: the entry's go with it, another Spark's stay."""
    entry = mock_config_entry
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    mine = [
        ssh_missing_issue_id(entry.entry_id),
        host_key_issue_id(entry.entry_id),
        keeps_wedging_issue_id(entry.entry_id, SparkService.PARAKEET),
    ]
    other = ssh_missing_issue_id("01OTHERSPARK")
    for issue_id in [*mine, other]:
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="ssh_not_configured",
        )
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    issues = ir.async_get(hass)
    assert [i for i in mine if issues.async_get_issue(DOMAIN, i)] == []
    assert issues.async_get_issue(DOMAIN, other) is not None
