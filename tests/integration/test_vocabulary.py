"""Assist vocabulary: the home's exposed names reach WhisperX as the prompt, and nothing else."""

from __future__ import annotations

import pytest
from homeassistant.components import stt
from homeassistant.components.homeassistant.exposed_entities import (
    async_expose_entity,
    async_should_expose,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import floor_registry as fr
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.spark_audio.spark import ParakeetClient
from custom_components.spark_audio.spark.clients.transcription import TranscriptionOptions
from custom_components.spark_audio.spark.wav import wav_stream
from custom_components.spark_audio.stt import SparkSpeechToTextEntity
from custom_components.spark_audio.vocabulary import (
    MAX_PROMPT_BYTES,
    SEPARATOR,
    Tier,
    VocabularyWord,
    compose_prompt,
)
from tests.spark_sim.audio import speak_pcm
from tests.spark_sim.server import SparkSim

from .test_stt import chunks, metadata

WHISPERX_STT = "stt.127_0_0_1_whisperx_speech_to_text"
PARAKEET_STT = "stt.127_0_0_1_parakeet_speech_to_text"


@pytest.fixture
async def speech_pcm() -> bytes:
    """Real speech (espeak-ng) as Assist captures it."""
    return await speak_pcm("turn on the kitchen light", "en-US", 16000)


@pytest.fixture
async def home(hass: HomeAssistant) -> None:
    """A home with a floor, areas and entities, some exposed to Assist and one not.

    ``homeassistant`` is HA's core integration: it owns the Assist exposure settings.
    """
    assert await async_setup_component(hass, "homeassistant", {})
    floors = fr.async_get(hass)
    ground = floors.async_create("Erdgeschoss", aliases={"Parterre"})
    areas = ar.async_get(hass)
    areas.async_create("Küche", floor_id=ground.floor_id, aliases={"Kochnische"})
    areas.async_create("Bartholomew's room")
    registry = er.async_get(hass)
    lamp = registry.async_get_or_create("light", "test", "lamp", suggested_object_id="hue_go")
    registry.async_update_entity(lamp.entity_id, aliases={"Leselampe"})
    hass.states.async_set(lamp.entity_id, "on", {"friendly_name": "Hue Go"})
    kitchen = registry.async_get_or_create("light", "test", "kitchen", suggested_object_id="kl")
    hass.states.async_set(kitchen.entity_id, "off", {"friendly_name": "Küchenlicht"})
    # Exposed by default (a light), then hidden from Assist by the user: never sent.
    secret = registry.async_get_or_create("light", "test", "safe", suggested_object_id="safe")
    registry.async_update_entity(secret.entity_id, aliases={"Tresorlicht"})
    hass.states.async_set(secret.entity_id, "on", {"friendly_name": "Geheimraum Lampe"})
    async_expose_entity(hass, "conversation", secret.entity_id, False)
    # Not exposed by default (a plain sensor).
    hass.states.async_set("sensor.cellar_humidity_raw", "40", {"friendly_name": "Kellerfühler"})
    await hass.async_block_till_done()


def stt_entity(hass: HomeAssistant, entity_id: str = WHISPERX_STT) -> SparkSpeechToTextEntity:
    found = stt.async_get_speech_to_text_entity(hass, entity_id)
    assert isinstance(found, SparkSpeechToTextEntity)
    return found


async def sent_fields(
    hass: HomeAssistant, sim: SparkSim, pcm: bytes, entity_id: str = WHISPERX_STT
) -> dict[str, str]:
    """Run one Assist transcription and return the form the backend received."""
    service = "whisperx" if entity_id == WHISPERX_STT else "parakeet"
    state = sim.states[service]
    state.reset_records()
    result = await stt_entity(hass, entity_id).async_process_audio_stream(metadata(), chunks(pcm))
    assert result.result is stt.SpeechResultState.SUCCESS
    # Background deep checks also transcribe (a probe clip): pick ours by its size.
    requests = [
        r
        for r in state.requests
        if r.path == "/v1/audio/transcriptions" and r.file_bytes == 44 + len(pcm)
    ]
    assert len(requests) == 1
    assert requests[0].transfer_encoding == "chunked"  # still streamed while spoken
    return requests[0].fields


def names(prompt: str) -> list[str]:
    return prompt.split(SEPARATOR)


@pytest.mark.usefixtures("home")
async def test_prompt_has_exposed_names_and_aliases_only(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, speech_pcm: bytes
) -> None:
    """Floors, areas, exposed entities and their aliases reach WhisperX; hidden ones do not."""
    fields = await sent_fields(hass, spark_sim, speech_pcm)
    sent = names(fields["prompt"])
    for expected in (
        "Erdgeschoss",
        "Parterre",
        "Küche",
        "Kochnische",
        "Bartholomew's room",
        "Hue Go",
        "Leselampe",
        "Küchenlicht",
    ):
        assert expected in sent
    for hidden in ("Geheimraum Lampe", "Tresorlicht", "Kellerfühler"):
        assert hidden not in fields["prompt"]
    # Most useful last (faster-whisper cuts a long prompt from the front): places end it,
    # aliases come after plain names.
    assert set(sent[-5:]) == {
        "Erdgeschoss",
        "Parterre",
        "Küche",
        "Kochnische",
        "Bartholomew's room",
    }
    assert sent.index("Leselampe") > sent.index("Hue Go")
    assert fields["language"] == "en"


@pytest.mark.usefixtures("home")
async def test_prompt_follows_exposure_and_name_changes(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, speech_pcm: bytes
) -> None:
    """Exposing, hiding, aliasing and renaming show in the very next request, no reload."""
    before = names((await sent_fields(hass, spark_sim, speech_pcm))["prompt"])
    assert "Geheimraum Lampe" not in before

    async_expose_entity(hass, "conversation", "light.safe", True)
    async_expose_entity(hass, "conversation", "light.hue_go", False)
    er.async_get(hass).async_update_entity("light.kl", aliases={"Herdlicht"})
    area = ar.async_get(hass).async_get_area_by_name("Bartholomew's room")
    assert area is not None
    ar.async_get(hass).async_update(area.id, name="Barts Zimmer")
    hass.states.async_set("light.new_lamp", "on", {"friendly_name": "Stehlampe"})
    await hass.async_block_till_done()

    after = names((await sent_fields(hass, spark_sim, speech_pcm))["prompt"])
    assert {"Geheimraum Lampe", "Tresorlicht", "Herdlicht", "Barts Zimmer", "Stehlampe"} <= set(
        after
    )
    assert "Hue Go" not in after
    assert "Leselampe" not in after
    assert "Bartholomew's room" not in after

    hass.states.async_remove("light.new_lamp")
    await hass.async_block_till_done()
    assert "Stehlampe" not in names((await sent_fields(hass, spark_sim, speech_pcm))["prompt"])


async def test_prompt_respects_the_cap(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, speech_pcm: bytes
) -> None:
    """A big home is cut to the byte budget, keeping places and aliases over sensor names."""
    assert await async_setup_component(hass, "homeassistant", {})
    ar.async_get(hass).async_create("Wintergarten")
    registry = er.async_get(hass)
    for i in range(150):
        hass.states.async_set(
            f"sensor.s{i}",
            "1",
            {"friendly_name": f"Temperaturfühler {i}", "device_class": "temperature"},
        )
        hass.states.async_set(f"light.l{i}", "on", {"friendly_name": f"Deckenlampe {i}"})
    aliased = registry.async_get_or_create("switch", "test", "x", suggested_object_id="pump")
    registry.async_update_entity(aliased.entity_id, aliases={"Zisternenpumpe"})
    hass.states.async_set(aliased.entity_id, "off", {"friendly_name": "Pumpe"})
    await hass.async_block_till_done()
    assert async_should_expose(hass, "conversation", "sensor.s0")  # cut for rank, not exposure

    prompt = (await sent_fields(hass, spark_sim, speech_pcm))["prompt"]
    assert len(prompt.encode()) <= MAX_PROMPT_BYTES
    sent = names(prompt)
    assert sent[-1] == "Wintergarten"
    assert sent[-2] == "Zisternenpumpe"
    assert any(n.startswith("Deckenlampe") for n in sent)
    assert not any(n.startswith("Temperaturfühler") for n in sent)  # lowest tier, cut first
    assert len(prompt.encode()) > MAX_PROMPT_BYTES - len("Deckenlampe 100, ")  # window used


def test_compose_prompt_ranks_dedupes_and_fits() -> None:
    """Pure ranking: tier, then user-given names, then alphabetical; duplicates once."""
    words = [
        VocabularyWord("Outdoor temperature", Tier.OTHER),
        VocabularyWord("Kitchen Light", Tier.COMMANDED, generated=True),
        VocabularyWord("Zeppelin", Tier.COMMANDED),
        VocabularyWord("kitchen", Tier.COMMANDED),  # same as the area below, kept as a place
        VocabularyWord("Kitchen", Tier.PLACE),
        VocabularyWord("  Hue   Go ", Tier.ALIAS),
        VocabularyWord("   ", Tier.ALIAS),
    ]
    prompt = compose_prompt(words)
    assert prompt.text == "Outdoor temperature, Kitchen Light, Zeppelin, Hue Go, Kitchen"
    assert (prompt.names, prompt.left_out) == (5, 0)
    small = compose_prompt(words, max_bytes=len("Zeppelin, Hue Go, Kitchen"))
    assert small.text == "Zeppelin, Hue Go, Kitchen"
    assert small.left_out == 2
    # A name too long for the space left is skipped; a shorter, less useful one may fit.
    words.append(VocabularyWord("Oven", Tier.OTHER))
    assert compose_prompt(words, max_bytes=len("Oven, Hue Go, Kitchen")).text == (
        "Oven, Hue Go, Kitchen"
    )
    assert compose_prompt([]).text == ""


@pytest.mark.usefixtures("home")
async def test_option_off_sends_no_prompt(
    hass: HomeAssistant, spark_sim: SparkSim, mock_config_entry: MockConfigEntry, speech_pcm: bytes
) -> None:
    """With the option off WhisperX gets no prompt field at all."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(mock_config_entry, options={"stt_vocabulary": False})
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    fields = await sent_fields(hass, spark_sim, speech_pcm)
    assert "prompt" not in fields
    await hass.config_entries.async_unload(mock_config_entry.entry_id)


@pytest.mark.usefixtures("home")
async def test_parakeet_gets_no_prompt(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, speech_pcm: bytes
) -> None:
    """Parakeet has no prompt input: its STT entity sends none, and its client drops one."""
    assert stt_entity(hass, PARAKEET_STT).vocabulary is None
    assert "prompt" not in await sent_fields(hass, spark_sim, speech_pcm, PARAKEET_STT)

    client = stt_entity(hass, PARAKEET_STT).coordinator.client
    assert isinstance(client, ParakeetClient)
    spark_sim.states["parakeet"].reset_records()

    await client.transcribe(
        wav_stream(chunks(speech_pcm), 16000), TranscriptionOptions(language="en", prompt="Hue Go")
    )
    ours = [
        r
        for r in spark_sim.states["parakeet"].requests
        if r.file_bytes == 44 + len(speech_pcm)  # not a background deep check's probe clip
    ]
    assert len(ours) == 1
    assert ours[0].fields["language"] == "en"
    assert "prompt" not in ours[0].fields


@pytest.mark.usefixtures("home")
async def test_diagnostics_show_the_current_prompt(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    speech_pcm: bytes,
) -> None:
    """What diagnostics show is exactly what the next request sends."""
    assert await async_setup_component(hass, "diagnostics", {})
    shown = (await get_diagnostics_for_config_entry(hass, hass_client, init_integration))[
        "assist_vocabulary"
    ]
    sent = await sent_fields(hass, spark_sim, speech_pcm)
    assert shown["enabled"] is True
    assert shown["prompt"] == sent["prompt"]
    assert shown["prompt_bytes"] == len(sent["prompt"].encode())
    assert shown["names"] == len(names(sent["prompt"]))
    assert shown["max_bytes"] == MAX_PROMPT_BYTES


async def test_unload_stops_following_changes(
    hass: HomeAssistant, spark_sim: SparkSim, mock_config_entry: MockConfigEntry
) -> None:
    """Unloading the entry removes every listener the vocabulary added."""
    assert await async_setup_component(hass, "homeassistant", {})
    watched = (fr.EVENT_FLOOR_REGISTRY_UPDATED, ar.EVENT_AREA_REGISTRY_UPDATED)
    before = {e: hass.bus.async_listeners().get(e, 0) for e in watched}
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert stt_entity(hass).vocabulary is not None
    assert all(hass.bus.async_listeners().get(e, 0) == before[e] + 1 for e in watched)
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert {e: hass.bus.async_listeners().get(e, 0) for e in watched} == before
