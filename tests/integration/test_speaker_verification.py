"""verify_speakers: leave-one-out on the household's own samples, counts only; old stores load.

The samples are put in the store with controlled vectors (enrolment has its
own tests), so the expected figures follow from the vectors.
"""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import Unauthorized
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN
from custom_components.spark_audio.spark.transcripts.voiceprints import DEFAULT_THRESHOLD
from custom_components.spark_audio.voiceprint_store import (
    STORAGE_KEY,
    STORAGE_MINOR_VERSION,
    VOICEPRINTS_KEY,
)

ANNA = [(1.0, 0.0, 0.05, 0.0), (0.9, 0.0, 0.2, 0.0), (0.95, 0.0, 0.0, 0.15)]
BEN = [(0.0, 1.0, 0.0, 0.05), (0.0, 0.9, 0.2, 0.0), (0.9, 0.0, 0.0, 0.1)]
"""Ben's third sample is really Anna's voice (she spoke during his enrolment)."""


@pytest.fixture
async def household(hass: HomeAssistant) -> None:
    assert await async_setup_component(
        hass, "person", {"person": [{"id": "anna", "name": "Anna"}, {"id": "ben", "name": "Ben"}]}
    )


async def verify(hass: HomeAssistant, **kwargs: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, "verify_speakers", {}, blocking=True, return_response=True, **kwargs
    )
    assert response is not None
    return dict(response)


def numbers(value: object) -> list[float]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [n for item in value.values() for n in numbers(item)]
    if isinstance(value, list | tuple):
        return [n for item in value for n in numbers(item)]
    return []


@pytest.mark.usefixtures("household")
async def test_reports_leave_one_out_figures_and_no_vectors(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    store = hass.data[VOICEPRINTS_KEY]
    await store.async_add("person.anna", [(v, 4.0) for v in ANNA])
    await store.async_add("person.ben", [(v, 4.0) for v in BEN])
    report = await verify(hass)
    assert report["threshold"] == DEFAULT_THRESHOLD
    ben = report["persons"]["person.ben"]
    assert ben["name"] == "Ben"
    # The Anna-voiced sample is named Anna (held out and as a stranger); Ben's own two are Ben.
    assert (ben["samples"], ben["identified"], ben["misidentified"], ben["missed"]) == (3, 2, 1, 0)
    assert (ben["unknown_trials"], ben["false_accepts"]) == (3, 1)
    anna = report["persons"]["person.anna"]
    assert (anna["identified"], anna["false_accepts"]) == (3, 0)
    assert (report["samples"], report["enrolled_trials"], report["identified"]) == (6, 6, 5)
    assert report["accuracy"] == round(5 / 6, 3)
    assert report["false_accept_rate"] == round(1 / 6, 3)
    assert report["persons_without_samples"] == []
    kept = {v for vp in store.voiceprints.values() for s in (vp.mean, *vp.kept) for v in s if v}
    assert not kept & set(numbers(report))


async def test_nobody_enrolled_gives_empty_figures(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    report = await verify(hass)
    assert (report["samples"], report["accuracy"], report["false_accept_rate"]) == (0, None, None)
    assert report["persons"] == {}


async def test_voiceprints_stored_before_samples_were_kept_still_load(
    hass: HomeAssistant, hass_storage: dict[str, Any], mock_config_entry: MockConfigEntry
) -> None:
    """A 1.1 store (means only) loads; its persons are named as having no samples to test."""
    hass_storage[STORAGE_KEY] = {
        "version": 1,
        "minor_version": 1,
        "key": STORAGE_KEY,
        "data": {
            "voiceprints": {
                "person.anna": {"mean": [1.0, 0.0, 0.0, 0.0], "samples": 4, "seconds": 14.0}
            }
        },
    }
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    anna = hass.data[VOICEPRINTS_KEY].voiceprints["person.anna"]
    assert (anna.samples, anna.seconds, anna.kept) == (4, 14.0, ())
    assert hass_storage[STORAGE_KEY]["minor_version"] == STORAGE_MINOR_VERSION
    report = await verify(hass)
    assert report["persons_without_samples"] == ["person.anna"]
    assert report["samples"] == 0
    # New samples are kept from now on; the old mean stays in the voiceprint.
    await hass.data[VOICEPRINTS_KEY].async_add("person.anna", [((0.9, 0.1, 0.0, 0.0), 3.0)])
    anna = hass.data[VOICEPRINTS_KEY].voiceprints["person.anna"]
    assert (anna.samples, len(anna.kept)) == (5, 1)
    await hass.async_block_till_done()
    stored = hass_storage[STORAGE_KEY]["data"]["voiceprints"]["person.anna"]
    assert len(stored["kept"]) == 1


async def test_only_admins_verify(
    hass: HomeAssistant, init_integration: MockConfigEntry, hass_read_only_user: User
) -> None:
    with pytest.raises(Unauthorized):
        await verify(hass, context=Context(user_id=hass_read_only_user.id))
