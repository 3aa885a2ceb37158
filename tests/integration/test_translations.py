"""Every user-facing key the code can produce has English text."""

from __future__ import annotations

import json
import re
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import async_get_platforms

from custom_components.spark_audio.const import DOMAIN, SparkService

COMPONENT = Path(__file__).parents[2] / "custom_components" / "spark_audio"
EN = json.loads((COMPONENT / "translations" / "en.json").read_text())


def untranslated_attributes(hass: HomeAssistant) -> dict[str, set[str]]:
    """Per entity id, the attributes our entities show now that have no English text.

    Only the entities' own (extra) attributes: those of a platform (an update's
    versions, a sensor's unit) HA translates itself. An attribute whose text
    lists its values (``state``) must show one of them.
    """
    missing: dict[str, set[str]] = {}
    for platform in async_get_platforms(hass, DOMAIN):
        texts = EN["entity"].get(platform.domain, {})
        for entity in platform.entities.values():
            attributes = entity.extra_state_attributes or {}
            named = texts.get(entity.translation_key or "", {}).get("state_attributes", {})
            bad = {key for key in attributes if key not in named}
            bad |= {
                f"{key}={value}"
                for key, value in attributes.items()
                if key in named
                and "state" in named[key]
                and value is not None
                and str(value) not in named[key]["state"]
            }
            if bad:
                missing[str(entity.entity_id)] = bad
    return missing


def source() -> str:
    """The HA side's code: the top-level modules and its subpackages (gateway/, transcription/)."""
    paths = [p for p in COMPONENT.rglob("*.py") if p.parts[len(COMPONENT.parts)] != "spark"]
    return "\n".join(p.read_text() for p in paths if "whisperx_container" not in p.parts)


def test_exception_and_issue_keys_translated() -> None:
    """Every translation_key in the code names an exception, issue or entity text."""
    keys = set(re.findall(r'(?<!_attr_)translation_key="(\w+)"', source()))
    keys |= set(re.findall(r'^\s+key = "(\w+)"', source(), re.MULTILINE))
    assert {"unknown_voice", "keeps_wedging", "probe_latency"} <= keys, "the scan is broken"
    entity_keys = {key for platform in EN["entity"].values() for key in platform}
    assert keys - set(EN["exceptions"]) - set(EN["issues"]) - entity_keys == set()
    for issue in ("keeps_wedging", "ssh_not_configured", "ssh_host_key_changed"):
        assert {"title", "description"} <= set(EN["issues"][issue]) or "fix_flow" in EN["issues"][
            issue
        ]


def test_flow_errors_translated() -> None:
    errors = set(re.findall(r'errors\[[^\]]+\] = "(\w+)"', source())) - set(EN["options"]["error"])
    errors |= set(re.findall(r'return \{"base": "(\w+)"\}', source()))
    assert {"ssh_auth_failed", "ssh_cannot_connect"} <= errors
    errors |= set(re.findall(r'return "(\w+)"', (COMPONENT / "config_flow.py").read_text()))
    errors |= {f"not_{service}" for service in SparkService}
    assert {"cannot_connect", "timeout", "no_services"} <= errors
    assert errors - set(EN["config"]["error"]) == set()


def test_entity_names_translated() -> None:
    entity_keys = set(re.findall(r'_attr_translation_key = "(\w+)"', source()))
    translated = {key for platform in EN["entity"].values() for key in platform}
    assert entity_keys
    assert entity_keys - translated == set()


def test_every_flow_field_has_a_label() -> None:
    user = EN["config"]["step"]["user"]
    for service in SparkService:
        for field in (f"{service}_enabled", f"{service}_port"):
            assert field in user["data"]
            assert field in EN["config"]["step"]["reconfigure"]["data"]
    assert set(user["sections"]["ssh"]["data"]) == {
        "ssh_user",
        "ssh_port",
        "ssh_private_key",
        "ssh_password",
    }
    assert set(EN["options"]["step"]["init"]["data"]) == {
        "default_voice",
        "stt_language",
        "whisperx_stt_language",
        "stt_vocabulary",
        "keep_voice_commands",
        "request_timeout",
        "deep_check_interval",
        "restart_min_spacing",
        "restart_max_per_hour",
        "max_upload_mb",
        "max_concurrent_uploads",
        "max_jobs",
        "max_jobs_per_user",
        *(f"{service}_container" for service in SparkService),
        "whisperx_model",
        "hf_token",
    }
    assert {"invalid_container_name", "invalid_hf_token"} <= set(EN["options"]["error"])
    for step in ("ssh_host_key", "reauth_confirm"):
        assert EN["config"]["step"][step]["description"]


def test_actions_translated() -> None:
    from homeassistant.util.yaml import load_yaml_dict

    actions = load_yaml_dict(str(COMPONENT / "services.yaml"))
    assert set(actions) == {
        "restart_service",
        "deep_check",
        "transcribe",
        "cancel_transcription",
        "enroll_speaker",
        "forget_speaker",
        "verify_speakers",
    }
    for action, spec in actions.items():
        assert EN["services"][action]["name"]
        fields = (spec or {}).get("fields", {})  # verify_speakers takes none
        assert set(EN["services"][action].get("fields", {})) == set(fields)


def test_every_action_has_an_icon() -> None:
    """hassfest's services check: each action in services.yaml has a service icon."""
    from homeassistant.util.yaml import load_yaml_dict

    actions = load_yaml_dict(str(COMPONENT / "services.yaml"))
    icons = json.loads((COMPONENT / "icons.json").read_text())["services"]
    assert {action for action in actions if not icons.get(action, {}).get("service")} == set()
    assert set(icons) == set(actions)  # no icon of an action that is gone
