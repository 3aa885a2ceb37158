"""enroll_speaker / forget_speaker: voiceprints in HA's storage, admins only, translated refusals.

Embeddings come from the simulated WhisperX, where the test decides which
vector a clip has (no embedding model runs here).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError, Unauthorized
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.spark_audio.const import DOMAIN
from custom_components.spark_audio.voiceprint_store import (
    STORAGE_KEY,
    VOICEPRINTS_KEY,
    VoiceprintStore,
)
from tests.spark_sim.audio import tone, wav_bytes
from tests.spark_sim.server import SparkSim

COMPONENT = Path(__file__).parents[2] / "custom_components" / "spark_audio"
EN = json.loads((COMPONENT / "translations" / "en.json").read_text())
ANNA_VOICE = [0.9, 0.1, 0.0, 0.0]


@pytest.fixture
async def household(hass: HomeAssistant, tmp_path: Path) -> Path:
    """Two people (HA's person integration) and a media folder the actions may read."""
    assert await async_setup_component(
        hass, "person", {"person": [{"id": "anna", "name": "Anna"}, {"id": "ben", "name": "Ben"}]}
    )
    hass.config.media_dirs = {"local": str(tmp_path)}
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    return tmp_path


async def recording(folder: Path, name: str, seconds: float) -> Path:
    """A WAV of ``seconds`` (a tone: the simulator's embedding does not listen)."""
    path = folder / name
    path.write_bytes(wav_bytes(tone(seconds, 16000), 16000))
    return path


async def enroll(hass: HomeAssistant, person: str, *media: Path, **kwargs: Any) -> None:
    await hass.services.async_call(
        DOMAIN,
        "enroll_speaker",
        {"person": person, "media": [str(m) for m in media]},
        blocking=True,
        **kwargs,
    )


async def test_enrolment_stores_a_voiceprint_that_improves_with_more_samples(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    household: Path,
    hass_storage: dict[str, Any],
) -> None:
    """Two files (11 s) make Anna's voiceprint; one more short file is folded in later."""
    whisperx = spark_sim.states["whisperx"]
    whisperx.apply({"clip_embedding": ANNA_VOICE})
    first = await recording(household, "anna1.wav", 6.0)
    await recording(household, "anna2.wav", 5.0)
    picked = {"media_content_id": "media-source://media_source/local/anna2.wav"}
    await hass.services.async_call(
        DOMAIN,
        "enroll_speaker",
        {"person": "person.anna", "media": [str(first), picked]},
        blocking=True,
    )
    asked = [r for r in whisperx.requests if r.path == "/v1/audio/embeddings"]
    assert len(asked) == 2
    store = hass.data[VOICEPRINTS_KEY]
    anna = store.voiceprints["person.anna"]
    assert (anna.samples, round(anna.seconds, 1)) == (2, 11.0)
    assert anna.similarity(ANNA_VOICE) == pytest.approx(1.0)
    await hass.async_block_till_done()
    stored = hass_storage[STORAGE_KEY]["data"]["voiceprints"]
    assert set(stored) == {"person.anna"}
    assert stored["person.anna"]["samples"] == 2

    # Later: one 3 s clip is enough to add (the voiceprint already has 11 s behind it).
    whisperx.apply({"clip_embedding": [0.8, 0.2, 0.1, 0.0]})
    third = await recording(household, "anna3.wav", 3.0)
    answer = await hass.services.async_call(
        DOMAIN,
        "enroll_speaker",
        {"person": "person.anna", "media": [str(third)]},
        blocking=True,
        return_response=True,
    )
    # The answer says what went in (a file has no age: only kept commands do).
    assert answer == {
        "person": "person.anna",
        "clips": [{"clip": "anna3.wav", "seconds": 3.0}],
        "enrolled_seconds": 14.0,
    }
    better = store.voiceprints["person.anna"]
    assert (better.samples, round(better.seconds, 1)) == (3, 14.0)
    assert better.mean != anna.mean

    # What is stored survives a restart (a new store reading the same storage).
    reloaded = VoiceprintStore(hass)
    await reloaded.async_load()
    assert reloaded.voiceprints["person.anna"].samples == 3


async def test_too_little_speech_is_refused_and_nothing_is_stored(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    household: Path,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """4 s is not enough for a first enrolment: a translated validation error, also over ws."""
    short = await recording(household, "short.wav", 4.0)
    with pytest.raises(ServiceValidationError) as err:
        await enroll(hass, "person.anna", short)
    assert err.value.translation_key == "not_enough_speech"
    assert err.value.translation_placeholders == {"seconds": "4.0", "needed": "10"}
    assert "person.anna" not in hass.data[VOICEPRINTS_KEY].voiceprints

    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "call_service",
            "domain": DOMAIN,
            "service": "enroll_speaker",
            "service_data": {"person": "person.anna", "media": [str(short)]},
        }
    )
    answer = await client.receive_json()
    assert not answer["success"]
    assert answer["error"]["code"] == "service_validation_error"
    expected = EN["exceptions"]["not_enough_speech"]["message"].format(seconds="4.0", needed="10")
    assert expected.rstrip(".") in answer["error"]["message"]


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"person": "person.nobody"}, "unknown_person"),
        ({"media": ["/etc/hostname"]}, "media_not_allowed"),
        ({"media": ["{folder}/missing.wav"]}, "media_not_found"),
    ],
)
async def test_bad_person_or_media_is_a_translated_refusal(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    household: Path,
    data: dict[str, Any],
    key: str,
) -> None:
    good = await recording(household, "anna.wav", 12.0)
    call = {"person": "person.anna", "media": [str(good)], **data}
    call["media"] = [m.replace("{folder}", str(household)) for m in call["media"]]
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "enroll_speaker", call, blocking=True)
    assert err.value.translation_key == key
    assert key in EN["exceptions"]
    assert not [r for r in spark_sim.states["whisperx"].requests if "embeddings" in r.path]


async def test_whisperx_without_diarizer_is_a_translated_failure(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, household: Path
) -> None:
    spark_sim.states["whisperx"].apply({"diarizer": False})
    with pytest.raises(HomeAssistantError) as err:
        await enroll(hass, "person.anna", await recording(household, "anna.wav", 12.0))
    assert err.value.translation_key == "enrolment_failed"
    assert err.value.translation_placeholders is not None
    assert err.value.translation_placeholders["media"] == "anna.wav"
    assert "person.anna" not in hass.data[VOICEPRINTS_KEY].voiceprints


async def test_forget_deletes_the_voiceprint(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    household: Path,
    hass_storage: dict[str, Any],
) -> None:
    spark_sim.states["whisperx"].apply({"clip_embedding": ANNA_VOICE})
    await enroll(hass, "person.anna", await recording(household, "anna.wav", 12.0))
    spark_sim.states["whisperx"].apply({"clip_embedding": [0.0, 1.0, 0.0, 0.0]})
    await enroll(hass, "person.ben", await recording(household, "ben.wav", 12.0))
    for _ in range(2):  # a second forget is no error
        await hass.services.async_call(
            DOMAIN, "forget_speaker", {"person": "person.anna"}, blocking=True
        )
    assert set(hass.data[VOICEPRINTS_KEY].voiceprints) == {"person.ben"}
    await hass.async_block_till_done()
    assert set(hass_storage[STORAGE_KEY]["data"]["voiceprints"]) == {"person.ben"}


async def test_only_admins_enroll_or_forget(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    household: Path,
    hass_read_only_user: User,
) -> None:
    """An ordinary user's token cannot read voices into or out of the household's voiceprints."""
    media = await recording(household, "anna.wav", 12.0)
    context = Context(user_id=hass_read_only_user.id)
    with pytest.raises(Unauthorized):
        await enroll(hass, "person.anna", media, context=context)
    spark_sim.states["whisperx"].apply({"clip_embedding": ANNA_VOICE})
    await enroll(hass, "person.anna", media)
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN, "forget_speaker", {"person": "person.anna"}, blocking=True, context=context
        )
    assert "person.anna" in hass.data[VOICEPRINTS_KEY].voiceprints


def _numbers(value: object) -> list[float]:
    """Every float or int anywhere in a JSON-shaped value."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [n for item in value.values() for n in _numbers(item)]
    if isinstance(value, list | tuple):
        return [n for item in value for n in _numbers(item)]
    return []


async def test_voiceprints_stay_out_of_diagnostics(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    household: Path,
    hass_client: ClientSessionGenerator,
) -> None:
    """Biometric data: neither the vector nor the fact of enrolment is in the diagnostics."""
    assert await async_setup_component(hass, "diagnostics", {})
    spark_sim.states["whisperx"].apply({"clip_embedding": [0.123456, 0.654321, 0.0, 0.0]})
    await enroll(hass, "person.anna", await recording(household, "anna.wav", 12.0))
    assert hass.data[VOICEPRINTS_KEY].voiceprints
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    dumped = json.dumps(diagnostics)
    # The stored vector's non-zero values (0.1853..., 0.9826...) as numbers or text anywhere in
    # the dump; a bare "0.18" substring would also match a timestamp's microseconds.
    secret = [v for v in hass.data[VOICEPRINTS_KEY].voiceprints["person.anna"].mean if v]
    assert len(secret) == 2
    assert not set(secret) & set(_numbers(diagnostics))
    assert not [v for v in secret if repr(v) in dumped]
    assert "voiceprint" not in dumped
    assert "person.anna" not in dumped


async def test_deleting_a_person_forgets_their_voice_and_renaming_keeps_it(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    household: Path,
    hass_storage: dict[str, Any],
) -> None:
    spark_sim.states["whisperx"].apply({"clip_embedding": ANNA_VOICE})
    await enroll(hass, "person.anna", await recording(household, "anna.wav", 12.0))
    await enroll(hass, "person.ben", await recording(household, "ben.wav", 12.0))
    registry = er.async_get(hass)
    registry.async_update_entity("person.anna", new_entity_id="person.anna_smith")
    await hass.async_block_till_done()
    store = hass.data[VOICEPRINTS_KEY]
    assert set(store.voiceprints) == {"person.anna_smith", "person.ben"}
    registry.async_remove("person.ben")
    await hass.async_block_till_done()
    assert set(store.voiceprints) == {"person.anna_smith"}
    assert set(hass_storage[STORAGE_KEY]["data"]["voiceprints"]) == {"person.anna_smith"}


async def test_samples_from_another_voice_model_are_refused(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, household: Path
) -> None:
    """A container with another embedding model (other length): forget first, nothing mixed."""
    whisperx = spark_sim.states["whisperx"]
    whisperx.apply({"clip_embedding": ANNA_VOICE})
    await enroll(hass, "person.anna", await recording(household, "anna.wav", 12.0))
    whisperx.apply({"clip_embedding": [1.0, 0.0, 0.0]})
    with pytest.raises(ServiceValidationError) as err:
        await enroll(hass, "person.anna", await recording(household, "more.wav", 12.0))
    assert err.value.translation_key == "voiceprint_mismatch"
    assert hass.data[VOICEPRINTS_KEY].voiceprints["person.anna"].samples == 1
