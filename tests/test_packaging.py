"""What HACS and hassfest check on the repository's files, held so a change that breaks them fails.

HACS validates hacs.json against its schema, needs a LICENSE, a brand icon and certain manifest
keys; hassfest wants the manifest keys in its order, every imported HA component declared, and a
repair issue with either a description or a fix flow. ``.ci/run`` runs hassfest itself as well.
"""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import json
import re
import struct
import tomllib
from pathlib import Path
from typing import Any

from awesomeversion import AwesomeVersion
from homeassistant.const import __version__ as HA_VERSION

ROOT = Path(__file__).resolve().parent.parent
INTEGRATION = ROOT / "custom_components" / "spark_audio"

# hacs.json keys HACS's schema allows, with their types (hacs/integration validate/schema.py).
HACS_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "content_in_root": bool,
    "zip_release": bool,
    "filename": str,
    "hide_default_branch": bool,
    "country": (str, list),
    "homeassistant": str,
    "hacs": str,
    "persistent_directory": str,
    "render_readme": bool,
}
# Keys HACS requires in an integration's manifest.json.
HACS_MANIFEST_KEYS = {"domain", "documentation", "issue_tracker", "codeowners", "name", "version"}


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_hacs_json_matches_schema() -> None:
    """hacs.json has a name, only known keys of the right types, and a real minimum version."""
    hacs = _json(ROOT / "hacs.json")
    assert isinstance(hacs.get("name"), str)
    assert hacs["name"]
    for key, value in hacs.items():
        assert key in HACS_KEYS, f"hacs.json: unknown key {key!r}"
        assert isinstance(value, HACS_KEYS[key]), f"hacs.json: {key!r} has the wrong type"
    minimum = AwesomeVersion(hacs["homeassistant"])
    assert re.fullmatch(r"\d{4}\.\d{1,2}\.\d+", hacs["homeassistant"])
    # Both test lanes run at or above the minimum HACS enforces.
    assert minimum <= AwesomeVersion(HA_VERSION)


def test_manifest_keys_and_order() -> None:
    """HACS's required keys are there; hassfest's order: domain, name, then alphabetical."""
    manifest = _json(INTEGRATION / "manifest.json")
    assert manifest.keys() >= HACS_MANIFEST_KEYS
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert manifest["domain"] == INTEGRATION.name
    assert all(owner.startswith("@") for owner in manifest["codeowners"])


def test_manifest_declares_every_imported_component() -> None:
    """Every ``homeassistant.components.X`` the code imports is a (after_)dependency (hassfest)."""
    manifest = _json(INTEGRATION / "manifest.json")
    declared = set(manifest.get("dependencies", [])) | set(manifest.get("after_dependencies", []))
    used: dict[str, str] = {}
    for path in INTEGRATION.rglob("*.py"):
        if "whisperx_container" in path.parts:
            continue  # its own program, not loaded by HA
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[:2] == ["homeassistant", "components"] and len(parts) > 2:
                    used.setdefault(parts[2], path.name)
    # Entity platforms a custom integration provides need no declaration (hassfest allows them),
    # nor the internal integrations in hassfest's ALLOWED_USED_COMPONENTS (those used here).
    platforms = {p.stem for p in INTEGRATION.glob("*.py")}
    internal = {"homeassistant", "device_automation", "system_health", "media_source"}
    missing = {c: f for c, f in used.items() if c not in declared | platforms | internal}
    assert not missing, f"imported but not in the manifest: {missing}"


def test_repair_issues_have_description_or_fix_flow() -> None:
    """A fixable issue shows its fix flow's text; a description beside it would never be shown."""
    issues = _json(INTEGRATION / "translations" / "en.json").get("issues", {})
    assert issues
    for key, issue in issues.items():
        assert ("description" in issue) != ("fix_flow" in issue), key


def test_license_is_apache_2() -> None:
    """HACS needs a LICENSE; it is the Apache-2.0 text pyproject declares."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["license"] == {"text": "Apache-2.0"}
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path.name
    assert data[12:16] == b"IHDR", path.name
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_brand_images_are_complete() -> None:
    """Every brand file HA (2026.3+) serves from brand/: icons square at 256 and 512 px, logos
    landscape 128 and 256 px high, each also in a dark variant; nothing else in the folder."""
    brand = INTEGRATION / "brand"
    names = {path.name for path in brand.iterdir()}
    expected = {
        f"{prefix}{kind}{suffix}.png"
        for prefix in ("", "dark_")
        for kind in ("icon", "logo")
        for suffix in ("", "@2x")
    }
    assert names == expected
    for prefix in ("", "dark_"):
        for suffix, factor in (("", 1), ("@2x", 2)):
            assert _png_size(brand / f"{prefix}icon{suffix}.png") == (256 * factor, 256 * factor)
            width, height = _png_size(brand / f"{prefix}logo{suffix}.png")
            assert height == 128 * factor
            assert width > height


def test_versions_agree() -> None:
    """The version HACS shows (manifest) is the project's version (pyproject)."""
    manifest = _json(INTEGRATION / "manifest.json")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert manifest["version"] == pyproject["project"]["version"]
    AwesomeVersion(manifest["version"])  # HA refuses a custom integration without a valid one
    assert AwesomeVersion(manifest["version"]).valid


# The WhisperX image each bundled VERSION stands for: a digest of every file the image is built
# from (the build context less what .dockerignore keeps out). Installed containers report their
# VERSION and the update entity offers an upgrade only when it differs, so a changed image under
# an unchanged VERSION would never reach anyone who installed the old one.
WHISPERX_IMAGES = {
    "0.2.0": "685181d8e115a4ef0717f5f5be03c58ad91e6e86ec536a4f5f7f76e5c060ffa3",
    "0.3.0": "799646d3ef5a1efeb96c7a12b34925f15503edc0febea1d69e3c2e6bb54fee6c",
}


def _image_digest(context: Path) -> str:
    ignored = [
        line.strip().rstrip("/")
        for line in (context / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        relative = path.relative_to(context).as_posix()
        if relative == "VERSION" or any(
            fnmatch.fnmatch(relative, pattern)
            or fnmatch.fnmatch(relative, f"{pattern}/*")
            or fnmatch.fnmatch(f"/{relative}", f"*/{pattern.removeprefix('**/')}/*")
            or fnmatch.fnmatch(path.name, pattern.removeprefix("**/"))
            for pattern in ignored
        ):
            continue
        digest.update(relative.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def test_whisperx_version_moves_with_its_image() -> None:
    """A change to what the WhisperX image is built from comes with a new VERSION."""
    context = INTEGRATION / "whisperx_container"
    version = (context / "VERSION").read_text(encoding="utf-8").strip()
    assert version in WHISPERX_IMAGES, f"record VERSION {version} in WHISPERX_IMAGES"
    assert _image_digest(context) == WHISPERX_IMAGES[version], (
        "the WhisperX image's files changed: raise whisperx_container/VERSION and record "
        f"{_image_digest(context)} for it in WHISPERX_IMAGES"
    )
