"""Print the pinned requirements of Home Assistant components, as the installed HA's manifests say.

Why: a test-harness release (or a bare `pip install homeassistant`) brings Home Assistant but not
the requirements of its components (hassil, mutagen, ha-ffmpeg, the frontend...). HA installs
those at runtime; the tests and `hass --skip-pip` cannot. Reading them from the manifests of the
installed HA keeps each lane's pin a one-line change: no second list to keep in step.

Usage: python scripts/ha_component_requirements.py [--bootstrap] [component ...]
Always includes this integration's own requirements, dependencies and after_dependencies, and what
the tests set up; --bootstrap adds what a real `hass` always loads. Follows `dependencies`
recursively. Prints one requirement a line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import homeassistant.components

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = Path(homeassistant.components.__file__).parent
# Components the tests set up besides the integration's own (tests/integration; tests/browser
# runs a real hass with the frontend).
TESTED = ["assist_pipeline", "conversation", "intent", "stt", "tts", "ffmpeg", "repairs"]
TESTED += ["frontend"]


def manifest(domain: str) -> dict[str, list[str]]:
    path = COMPONENTS / domain / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def main(args: list[str]) -> None:
    ours = json.loads(
        (ROOT / "custom_components" / "spark_audio" / "manifest.json").read_text(encoding="utf-8")
    )
    todo = [*ours.get("dependencies", []), *ours.get("after_dependencies", []), *TESTED]
    if "--bootstrap" in args:
        from homeassistant import bootstrap

        todo += [*bootstrap.CORE_INTEGRATIONS, *bootstrap.DEFAULT_INTEGRATIONS]
    todo += [a for a in args if not a.startswith("--")]
    seen: set[str] = set()
    requirements: list[str] = list(ours.get("requirements", []))
    while todo:
        domain = todo.pop()
        if domain in seen:
            continue
        seen.add(domain)
        data = manifest(domain)
        todo.extend(data.get("dependencies", []))
        requirements.extend(r for r in data.get("requirements", []) if r not in requirements)
    print("\n".join(sorted(requirements)))


if __name__ == "__main__":
    main(sys.argv[1:])
