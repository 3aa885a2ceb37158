"""Who may call the actions, what the transcribe action accepts, and their translations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import Unauthorized
from homeassistant.util.yaml import load_yaml_dict
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN
from tests.spark_sim.audio import speak
from tests.spark_sim.server import SparkSim
from tests.ssh_host.server import SSHTestHost

COMPONENT = Path(__file__).parents[2] / "custom_components" / "spark_audio"
EN = json.loads((COMPONENT / "translations" / "en.json").read_text())


async def test_restart_is_refused_to_a_non_admin(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
    hass_read_only_user: User,
) -> None:
    """An ordinary user's token (e.g. Open WebUI's) cannot restart containers."""
    ssh_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await hass.async_block_till_done()
    for _ in range(3):
        with pytest.raises(Unauthorized):
            await hass.services.async_call(
                DOMAIN,
                "restart_service",
                {"config_entry_id": ssh_entry.entry_id, "service": "parakeet"},
                blocking=True,
                context=Context(user_id=hass_read_only_user.id),
            )
    await hass.async_block_till_done()
    assert [c for c in ssh_host.docker_calls() if c[1] == "restart"] == []
    # The same user may still run a deep check (it changes nothing on the Spark).
    response = await hass.services.async_call(
        DOMAIN,
        "deep_check",
        {"config_entry_id": ssh_entry.entry_id, "service": "parakeet"},
        blocking=True,
        return_response=True,
        context=Context(user_id=hass_read_only_user.id),
    )
    assert response is not None
    assert response["ok"] is True
    await hass.config_entries.async_unload(ssh_entry.entry_id)


@pytest.mark.usefixtures("all_entities_enabled")
async def test_container_entities_are_for_admins(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    ssh_host: SSHTestHost,
    ssh_entry: MockConfigEntry,
    hass_read_only_user: User,
    hass_admin_user: User,
) -> None:
    """Restart button, container switch, install button and update: refused to non-admins.

    The same rule as the admin-only action; an automation (no user) and an administrator
    may. Nothing reaches docker on the refused calls.
    """
    ssh_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(ssh_entry.entry_id)
    await hass.async_block_till_done()
    calls = [
        ("button", "press", "button.127_0_0_1_parakeet_restart"),
        ("switch", "turn_off", "switch.127_0_0_1_parakeet_container_running"),
        ("button", "press", "button.127_0_0_1_install_whisperx"),
    ]
    for domain, service, entity_id in calls:
        assert hass.states.get(entity_id) is not None, entity_id
        with pytest.raises(Unauthorized):
            await hass.services.async_call(
                domain,
                service,
                {"entity_id": entity_id},
                blocking=True,
                context=Context(user_id=hass_read_only_user.id),
            )
    await hass.async_block_till_done()
    assert [c for c in ssh_host.docker_calls() if c[1] in ("restart", "stop", "build")] == []

    for service, context in (
        ("parakeet", Context(user_id=hass_admin_user.id)),  # an administrator
        ("magpie", Context()),  # an automation or script
    ):
        await hass.services.async_call(
            "button",
            "press",
            {"entity_id": f"button.127_0_0_1_{service}_restart"},
            blocking=True,
            context=context,
        )
    await hass.async_block_till_done()
    assert len([c for c in ssh_host.docker_calls() if c[1] == "restart"]) == 2
    await hass.config_entries.async_unload(ssh_entry.entry_id)


async def test_transcribe_takes_what_the_media_selector_gives(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, tmp_path: Path
) -> None:
    """The media selector's ``{"media_content_id", "media_content_type"}`` and a plain path."""
    hass.config.media_dirs = {"local": str(tmp_path)}
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    media = tmp_path / "note.wav"
    clip = await speak("good morning everyone", "en-US", 16000)
    await hass.async_add_executor_job(media.write_bytes, clip)
    picked = {
        "media_content_id": "media-source://media_source/local/note.wav",
        "media_content_type": "audio/x-wav",
    }
    result: Any = await hass.services.async_call(
        DOMAIN, "transcribe", {"media": picked}, blocking=True, return_response=True
    )
    assert result["text"]
    plain: Any = await hass.services.async_call(
        DOMAIN, "transcribe", {"media": str(media)}, blocking=True, return_response=True
    )
    assert plain["text"] == result["text"]
    import voluptuous as vol

    with pytest.raises(vol.Invalid):
        await hass.services.async_call(
            DOMAIN, "transcribe", {"media": {"media_content_type": "audio/x-wav"}}, blocking=True
        )


def test_every_action_field_and_choice_is_translated() -> None:
    """Names and descriptions for every field; a translation_key and texts for every choice."""
    actions = load_yaml_dict(str(COMPONENT / "services.yaml"))
    for action, spec in actions.items():
        texts = EN["services"][action]
        assert texts["name"]
        assert texts["description"]
        for name, field in ((spec or {}).get("fields") or {}).items():  # verify_speakers: none
            assert texts["fields"][name]["name"], (action, name)
            assert texts["fields"][name]["description"], (action, name)
            choices = (field.get("selector") or {}).get("select")
            if choices is None:
                continue
            key = choices.get("translation_key")
            assert key, f"{action}.{name} has choices but no translation_key"
            assert set(EN["selector"][key]["options"]) == set(choices["options"]), key
    assert "media" in actions["transcribe"]["fields"]["media"]["selector"]
