"""quality_scale.yaml claims every rule of Home Assistant's integration quality scale.

The hassfest copy this project runs has no quality-scale plugin, so this test does its job:
every rule of the scale (the list in HA core's script/hassfest/quality_scale.py, as of HA 2026.x;
a rule added there must be added here and to the yaml) is listed, each as done or as exempt with
the reason, so the yaml claims the highest tier (Platinum) and says why where a rule does not
apply. A todo, an unknown rule or an exemption without a reason fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from homeassistant.util.yaml import load_yaml_dict

YAML = Path(__file__).resolve().parent.parent / "custom_components/spark_audio/quality_scale.yaml"

BRONZE = (
    "action-setup appropriate-polling brands common-modules config-flow config-flow-test-coverage "
    "dependency-transparency docs-actions docs-conditions docs-high-level-description "
    "docs-installation-instructions docs-removal-instructions docs-triggers entity-event-setup "
    "entity-unique-id has-entity-name runtime-data test-before-configure test-before-setup "
    "unique-config-entry"
)
SILVER = (
    "action-exceptions config-entry-unloading docs-configuration-parameters "
    "docs-installation-parameters entity-unavailable integration-owner log-when-unavailable "
    "parallel-updates reauthentication-flow test-coverage"
)
GOLD = (
    "devices diagnostics discovery discovery-update-info docs-data-update docs-examples "
    "docs-known-limitations docs-supported-devices docs-supported-functions docs-troubleshooting "
    "docs-use-cases dynamic-devices entity-category entity-device-class "
    "entity-disabled-by-default entity-translations exception-translations icon-translations "
    "reconfiguration-flow repair-issues stale-devices"
)
PLATINUM = "async-dependency inject-websession strict-typing"
RULES = frozenset(" ".join((BRONZE, SILVER, GOLD, PLATINUM)).split())


def _rules() -> dict[str, Any]:
    return dict(load_yaml_dict(YAML)["rules"])  # HA's own loader, as hassfest reads it


def test_every_rule_is_listed_and_no_other() -> None:
    listed = set(_rules())
    assert sorted(RULES - listed) == []
    assert sorted(listed - RULES) == []


def test_every_rule_is_done_or_exempt_with_a_reason() -> None:
    """Platinum: nothing left to do; an exemption says why."""
    for name, value in _rules().items():
        status = value if isinstance(value, str) else value.get("status")
        assert status in ("done", "exempt"), f"{name}: {status}"
        if status == "exempt":
            assert isinstance(value, dict), name
            assert str(value.get("comment", "")).strip(), f"{name}: exempt without a reason"


def test_config_flow_fields_give_context() -> None:
    """config-flow: every field of every config step has a ``data_description``, as the
    quality-scale plugin of HA core's hassfest requires (also inside sections, which it does
    not look into: an SSH field needs the context most)."""
    en: dict[str, Any] = json.loads((YAML.parent / "translations" / "en.json").read_text())
    missing = []
    for step_id, step in en["config"]["step"].items():
        forms = [(step_id, step)] + [
            (f"{step_id}.{name}", section) for name, section in step.get("sections", {}).items()
        ]
        for where, form in forms:
            described = form.get("data_description", {})
            missing += [
                f"{where}.{field}" for field in form.get("data", {}) if field not in described
            ]
    assert missing == []
