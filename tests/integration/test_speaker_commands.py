"""Enrolment from the last Assist commands: opt-in, in memory only, bounded, forgotten.

Commands go through the real STT entity against the simulated Spark; the
simulated WhisperX answers the embedding the test sets (no model runs here) and
the clip's duration from its audio, so the seconds of speech are the test's.
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import stt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.spark_audio import recent_commands as recent_module
from custom_components.spark_audio.const import CONF_KEEP_VOICE_COMMANDS, DOMAIN
from custom_components.spark_audio.recent_commands import (
    MAX_COMMAND_AGE,
    MAX_COMMANDS,
    recent_commands,
)
from custom_components.spark_audio.voiceprint_store import VOICEPRINTS_KEY
from tests.integration.test_stt import chunks, entity, metadata
from tests.spark_sim.audio import tone
from tests.spark_sim.server import SparkSim

COMPONENT = Path(__file__).parents[2] / "custom_components" / "spark_audio"
EN = json.loads((COMPONENT / "translations" / "en.json").read_text())
PARAKEET_STT = "stt.127_0_0_1_parakeet_speech_to_text"
WHISPERX_STT = "stt.127_0_0_1_whisperx_speech_to_text"
ANNA_VOICE = [0.9, 0.1, 0.0, 0.0]


@pytest.fixture
def opted_in(mock_config_entry: MockConfigEntry) -> MockConfigEntry:
    """The simulated Spark's entry with "keep the last voice commands" on."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=mock_config_entry.title,
        unique_id=mock_config_entry.unique_id,
        minor_version=mock_config_entry.minor_version,
        data=dict(mock_config_entry.data),
        options={CONF_KEEP_VOICE_COMMANDS: True},
        entry_id=mock_config_entry.entry_id,
    )


@pytest.fixture
async def keeping(hass: HomeAssistant, opted_in: MockConfigEntry) -> MockConfigEntry:
    """The opted-in entry, loaded, and a person to enrol."""
    assert await async_setup_component(hass, "person", {"person": [{"id": "anna", "name": "Anna"}]})
    opted_in.add_to_hass(hass)
    assert await hass.config_entries.async_setup(opted_in.entry_id)
    await hass.async_block_till_done()
    return opted_in


async def say(hass: HomeAssistant, seconds: float, stt_entity: str = PARAKEET_STT) -> bytes:
    """One Assist command of ``seconds`` (a tone: the simulator's embedding does not listen)."""
    pcm = tone(seconds, 16000)
    result = await entity(hass, stt_entity).async_process_audio_stream(metadata(), chunks(pcm))
    assert result.result is stt.SpeechResultState.SUCCESS
    return pcm


def embedding_requests(sim: SparkSim) -> list[Any]:
    return [r for r in sim.states["whisperx"].requests if r.path == "/v1/audio/embeddings"]


async def enroll(hass: HomeAssistant, **data: Any) -> None:
    await hass.services.async_call(
        DOMAIN, "enroll_speaker", {"person": "person.anna", **data}, blocking=True
    )


async def test_without_opt_in_no_command_is_kept(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry
) -> None:
    """Off by default: nothing is kept, and enrolling from commands says how to opt in."""
    assert await async_setup_component(hass, "person", {"person": [{"id": "anna", "name": "Anna"}]})
    assert init_integration.options.get(CONF_KEEP_VOICE_COMMANDS) is None
    await say(hass, 3.0)
    assert recent_commands(hass, PARAKEET_STT) is None
    with pytest.raises(ServiceValidationError) as err:
        await enroll(hass, stt_entity=PARAKEET_STT, last=1)
    assert err.value.translation_key == "commands_not_kept"
    assert err.value.translation_placeholders == {"entity": PARAKEET_STT}
    assert embedding_requests(spark_sim) == []


async def test_enrols_from_the_last_commands_and_forgets_them(
    hass: HomeAssistant, spark_sim: SparkSim, keeping: MockConfigEntry
) -> None:
    """Four 3 s commands kept; two are too little speech, all four make Anna's voiceprint."""
    spark_sim.states["whisperx"].apply({"clip_embedding": ANNA_VOICE})
    said = [await say(hass, 3.0) for _ in range(4)]
    ring = recent_commands(hass, PARAKEET_STT)
    assert ring is not None
    assert len(ring) == 4
    assert ring.last(1)[0].audio[44:] == said[-1]  # the WAV sent to be transcribed, header + PCM

    with pytest.raises(ServiceValidationError) as err:
        await enroll(hass, stt_entity=PARAKEET_STT, last=2)
    assert err.value.translation_key == "not_enough_command_speech"
    assert err.value.translation_placeholders == {
        "seconds": "6.0",
        "needed": "10",
        "count": "2",
        "minutes": "10",
    }
    assert "person.anna" not in hass.data[VOICEPRINTS_KEY].voiceprints
    assert len(ring) == 4  # nothing used: the commands stay for another try

    await enroll(hass, stt_entity=PARAKEET_STT, last=4)
    anna = hass.data[VOICEPRINTS_KEY].voiceprints["person.anna"]
    assert (anna.samples, round(anna.seconds, 1), len(anna.kept)) == (4, 12.0, 4)
    assert anna.similarity(ANNA_VOICE) == pytest.approx(1.0)
    sent = embedding_requests(spark_sim)[-4:]
    assert [r.file_bytes for r in sent] == [44 + len(pcm) for pcm in said]
    assert len(ring) == 0  # used: the audio itself is gone


async def test_last_takes_the_newest_and_leaves_the_rest(
    hass: HomeAssistant, spark_sim: SparkSim, keeping: MockConfigEntry
) -> None:
    spark_sim.states["whisperx"].apply({"clip_embedding": ANNA_VOICE})
    older = await say(hass, 1.0, WHISPERX_STT)
    newer = [await say(hass, 5.5, WHISPERX_STT) for _ in range(2)]
    await enroll(hass, stt_entity=WHISPERX_STT, last=2)
    sent = embedding_requests(spark_sim)[-2:]
    assert [r.file_bytes for r in sent] == [44 + len(pcm) for pcm in newer]
    ring = recent_commands(hass, WHISPERX_STT)
    assert ring is not None
    assert [command.audio[44:] for command in ring.last()] == [older]
    # Without `last`: every command kept (here the one left; 1 s more on top of 11 s).
    await enroll(hass, stt_entity=WHISPERX_STT)
    anna = hass.data[VOICEPRINTS_KEY].voiceprints["person.anna"]
    assert (anna.samples, round(anna.seconds, 1)) == (3, 12.0)
    assert len(ring) == 0


async def test_only_recent_commands_are_enrolled_and_the_answer_lists_them(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    keeping: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Commands older than MAX_COMMAND_AGE are left out: anybody may have posted them.

    The clock is HA's frozen one, moved by the test; the simulator must not
    sleep on it (its simulated GPU time is set to none).
    """
    for service_state in spark_sim.states.values():
        service_state.rtf = 0
    spark_sim.states["whisperx"].apply({"clip_embedding": ANNA_VOICE})
    stale = [await say(hass, 6.0) for _ in range(2)]  # 12 s: enough, but too old by then
    freezer.tick(MAX_COMMAND_AGE + timedelta(seconds=1))
    fresh = [await say(hass, 3.0)]
    freezer.tick(timedelta(minutes=2))
    fresh.append(await say(hass, 3.0))
    freezer.tick(timedelta(seconds=30))

    with pytest.raises(ServiceValidationError) as err:
        await enroll(hass, stt_entity=PARAKEET_STT, last=4)
    assert err.value.translation_key == "not_enough_command_speech"
    assert err.value.translation_placeholders == {
        "seconds": "6.0",
        "needed": "10",
        "count": "2",
        "minutes": "10",
    }
    assert [r.file_bytes for r in embedding_requests(spark_sim)] == [44 + len(p) for p in fresh]

    fresh.append(await say(hass, 4.0))
    answer = await hass.services.async_call(
        DOMAIN,
        "enroll_speaker",
        {"person": "person.anna", "stt_entity": PARAKEET_STT, "last": 5},
        blocking=True,
        return_response=True,
    )
    assert answer == {
        "person": "person.anna",
        "clips": [
            {"clip": f"{PARAKEET_STT} command 1/3", "seconds": 3.0, "heard_s_ago": 150},
            {"clip": f"{PARAKEET_STT} command 2/3", "seconds": 3.0, "heard_s_ago": 30},
            {"clip": f"{PARAKEET_STT} command 3/3", "seconds": 4.0, "heard_s_ago": 0},
        ],
        "enrolled_seconds": 10.0,
    }
    sent = embedding_requests(spark_sim)[-3:]
    assert [r.file_bytes for r in sent] == [44 + len(pcm) for pcm in fresh]
    ring = recent_commands(hass, PARAKEET_STT)
    assert ring is not None
    assert [command.audio[44:] for command in ring.last()] == stale  # never used


async def test_only_old_commands_kept_is_a_translated_refusal(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    keeping: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The clock is HA's frozen one; the simulator must not sleep on it (no GPU time)."""
    for service_state in spark_sim.states.values():
        service_state.rtf = 0
    await say(hass, 12.0)
    freezer.tick(MAX_COMMAND_AGE + timedelta(seconds=1))
    with pytest.raises(ServiceValidationError) as err:
        await enroll(hass, stt_entity=PARAKEET_STT)
    assert err.value.translation_key == "no_commands_kept"
    assert err.value.translation_placeholders == {"entity": PARAKEET_STT, "minutes": "10"}
    assert "{minutes}" in EN["exceptions"]["no_commands_kept"]["message"]
    assert embedding_requests(spark_sim) == []


async def test_two_enrolments_at_once_never_use_the_same_commands(
    hass: HomeAssistant, spark_sim: SparkSim, keeping: MockConfigEntry
) -> None:
    """A double click: the second call waits for the first, then finds its commands gone."""
    spark_sim.states["whisperx"].apply({"clip_embedding": ANNA_VOICE})
    for _ in range(4):
        await say(hass, 3.0)
    outcomes = await asyncio.gather(
        enroll(hass, stt_entity=PARAKEET_STT, last=4),
        enroll(hass, stt_entity=PARAKEET_STT, last=4),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, ServiceValidationError)]
    assert len(refused) == 1
    assert refused[0].translation_key == "no_commands_kept"
    assert hass.data[VOICEPRINTS_KEY].voiceprints["person.anna"].samples == 4


async def test_the_ring_is_bounded(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    keeping: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the newest MAX_COMMANDS; a command longer than the per-command cap is not kept."""
    said = [await say(hass, 0.1 + 0.01 * i) for i in range(MAX_COMMANDS + 3)]
    ring = recent_commands(hass, PARAKEET_STT)
    assert ring is not None
    assert [command.audio[44:] for command in ring.last()] == said[-MAX_COMMANDS:]
    monkeypatch.setattr(recent_module, "MAX_COMMAND_BYTES", 44 + 16000 * 2)  # 1 s
    await say(hass, 1.5)
    assert [command.audio[44:] for command in ring.last()] == said[-MAX_COMMANDS:]


async def test_turning_the_option_off_or_unloading_forgets_the_commands(
    hass: HomeAssistant, spark_sim: SparkSim, keeping: MockConfigEntry
) -> None:
    await say(hass, 2.0)
    ring = recent_commands(hass, PARAKEET_STT)
    assert ring is not None
    assert len(ring) == 1
    hass.config_entries.async_update_entry(keeping, options={CONF_KEEP_VOICE_COMMANDS: False})
    await hass.async_block_till_done()
    assert keeping.state is ConfigEntryState.LOADED
    assert len(ring) == 0
    assert recent_commands(hass, PARAKEET_STT) is None
    await say(hass, 2.0)
    assert recent_commands(hass, PARAKEET_STT) is None

    # On again: a new, empty ring; unloading the Spark drops it.
    hass.config_entries.async_update_entry(keeping, options={CONF_KEEP_VOICE_COMMANDS: True})
    await hass.async_block_till_done()
    again = recent_commands(hass, PARAKEET_STT)
    assert again is not None
    assert len(again) == 0
    await say(hass, 2.0)
    assert len(again) == 1
    await hass.config_entries.async_unload(keeping.entry_id)
    await hass.async_block_till_done()
    assert len(again) == 0
    assert recent_commands(hass, PARAKEET_STT) is None


async def test_an_interrupted_command_is_not_kept(
    hass: HomeAssistant, spark_sim: SparkSim, keeping: MockConfigEntry
) -> None:
    """The microphone stream broke half-way: the STT call fails and no half command is kept."""
    pcm = tone(2.0, 16000)

    async def broken() -> Any:
        async for chunk in chunks(pcm[: len(pcm) // 2]):
            yield chunk
        raise ConnectionResetError("satellite went away")

    result = await entity(hass).async_process_audio_stream(metadata(), broken())
    assert result.result is stt.SpeechResultState.ERROR
    ring = recent_commands(hass, PARAKEET_STT)
    assert ring is not None
    assert len(ring) == 0


@pytest.mark.parametrize(
    "data",
    [{}, {"media": ["/tmp/x.wav"], "stt_entity": PARAKEET_STT}, {"media": ["/x.wav"], "last": 2}],
)
async def test_exactly_one_source_is_a_translated_refusal(
    hass: HomeAssistant, spark_sim: SparkSim, keeping: MockConfigEntry, data: dict[str, Any]
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await enroll(hass, **data)
    assert err.value.translation_key == "enrolment_source"
    assert "enrolment_source" in EN["exceptions"]


async def test_nothing_kept_yet_is_a_translated_refusal(
    hass: HomeAssistant, spark_sim: SparkSim, keeping: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await enroll(hass, stt_entity=WHISPERX_STT)
    assert err.value.translation_key == "no_commands_kept"
    assert "no_commands_kept" in EN["exceptions"]
    assert embedding_requests(spark_sim) == []


async def test_kept_commands_stay_out_of_diagnostics(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    keeping: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """Neither the audio (raw, base64, hex) nor any trace of the kept commands is in the dump."""
    assert await async_setup_component(hass, "diagnostics", {})
    before = await get_diagnostics_for_config_entry(hass, hass_client, keeping)
    pcm = await say(hass, 2.0)
    after = await get_diagnostics_for_config_entry(hass, hass_client, keeping)
    dumped = json.dumps(after)
    piece = pcm[16000:16048]
    for form in (base64.b64encode(piece).decode(), piece.hex(), piece.decode("latin-1")):
        assert form not in dumped
    # No new entry (a count, a list) appeared; deep checks may finish in between, so not theirs.
    assert {p for p in key_paths(after) if "/deep_check" not in p} == {
        p for p in key_paths(before) if "/deep_check" not in p
    }


def key_paths(value: object, prefix: str = "") -> set[str]:
    """Every key path in a JSON-shaped value, and the length of every list under it."""
    if isinstance(value, dict):
        return {p for k, v in value.items() for p in key_paths(v, f"{prefix}/{k}")} | {prefix}
    if isinstance(value, list):
        return {f"{prefix}[{len(value)}]"} | {p for v in value for p in key_paths(v, prefix)}
    return {prefix}


async def test_discard_keeps_commands_heard_during_the_enrolment() -> None:
    """A command that arrives while its older siblings are being enrolled stays kept."""
    ring = recent_module.RecentCommands()

    async def heard(audio: bytes) -> None:
        async def source() -> Any:
            yield audio

        async for _ in ring.record(source()):
            pass

    for audio in (b"one", b"two", b"three"):
        await heard(audio)
    used = ring.last(2)
    await heard(b"four")
    ring.discard(used)
    assert [command.audio for command in ring.last()] == [b"one", b"four"]
