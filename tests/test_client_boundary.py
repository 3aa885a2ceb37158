"""The HA side talks to every Spark client through one interface."""

from __future__ import annotations

import ast
from pathlib import Path

INTEGRATION = Path(__file__).parents[1] / "custom_components" / "spark_audio"


def _client_classes() -> set[str]:
    """Every client class the HA-free package defines (``...Client``)."""
    names = set()
    for path in (INTEGRATION / "spark").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Client"):
                names.add(node.name)
    return names


def _checked_names(node: ast.expr) -> list[str]:
    """The class names an ``isinstance``/``issubclass`` second argument mentions."""
    return [
        n.id if isinstance(n, ast.Name) else n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Name | ast.Attribute)
    ]


def test_no_ha_module_checks_a_client_class() -> None:
    """Code that needs a service's own calls holds a coordinator typed with its client.

    So no module outside ``spark/`` (and the container app) asks which client
    it holds with isinstance/issubclass.
    """
    clients = _client_classes()
    assert {"MagpieClient", "ParakeetClient", "WhisperXClient"} <= clients
    offenders = []
    for path in sorted(INTEGRATION.rglob("*.py")):
        relative = path.relative_to(INTEGRATION)
        if relative.parts[0] in ("spark", "whisperx_container"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("isinstance", "issubclass")
                and len(node.args) == 2
                and clients & set(_checked_names(node.args[1]))
            ):
                offenders.append(f"{relative}:{node.lineno}")
    assert offenders == []
