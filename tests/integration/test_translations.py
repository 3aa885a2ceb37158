"""Every user-facing key the code can produce has English text."""

from __future__ import annotations

import json
import re
from pathlib import Path

from custom_components.spark_audio.const import SparkService

COMPONENT = Path(__file__).parents[2] / "custom_components" / "spark_audio"
EN = json.loads((COMPONENT / "translations" / "en.json").read_text())


def source() -> str:
    return "\n".join(p.read_text() for p in COMPONENT.glob("*.py"))


def test_exception_keys_translated() -> None:
    keys = set(re.findall(r'(?<!_attr_)translation_key="(\w+)"', source()))
    keys |= set(re.findall(r'^\s+key = "(\w+)"', source(), re.MULTILINE))
    assert keys, "no exception translation keys found: the scan is broken"
    assert keys - set(EN["exceptions"]) == set()


def test_flow_errors_translated() -> None:
    errors = set(re.findall(r'errors\[[^\]]+\] = "(\w+)"', source()))
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
        "request_timeout",
        "scan_interval",
    }
