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
    "0.3.0": "e44f0b3df48b6d07f885695336b9158b02836a3ac45243312ab7854291288bea",
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


# The WhisperX image's build inputs (issue 22). `whisperx_container/rehearse` proves them against
# the real wheels and toolchain in CI; these hold the decisions in the normal suite.
CONTAINER = INTEGRATION / "whisperx_container"
# The image's tests, engine lane and rehearsal: never shipped, beside the integration.
TOOLS = ROOT / "whisperx_container"


def _lock(name: str) -> dict[str, str]:
    text = (CONTAINER / name).read_text(encoding="utf-8")
    return {n.lower(): v for n, v in re.findall(r"^([A-Za-z0-9_.-]+)==([^ \\;]+)", text, re.M)}


def test_torchcodec_is_kept_with_its_npp_library_locked() -> None:
    """The image keeps torchcodec: on the Spark its CUDA build's NPP comes from a locked wheel.

    x86_64's torchcodec is a CPU build and needs none. The NPP library is a wheel, never
    something the base image is assumed to have.
    """
    spark, x86_64 = _lock("requirements-spark.lock"), _lock("requirements-x86_64.lock")
    assert spark["torchcodec"] == "0.11.0"
    assert spark["nvidia-npp"].startswith("13.0.")
    assert spark["nvidia-cuda-runtime"].startswith("13.0.")
    assert "torchcodec" in x86_64
    assert "nvidia-npp" not in x86_64
    for target in ("spark", "x86_64"):
        listed = (CONTAINER / "build" / f"base-libs-{target}.txt").read_text(encoding="utf-8")
        assert "libnpp" not in listed
        assert re.search(r"^injected libcuda\.so\.1 ", listed, re.M)
    assert "libpython3.12t64" in (CONTAINER / "Dockerfile").read_text(encoding="utf-8")


def test_dockerfile_pins_every_input_by_content() -> None:
    """Base images by digest, CTranslate2 by commit, downloads hashed, cuDNN off."""
    from whisperx_container.rehearsal import dockerfile_pins

    dockerfile = (CONTAINER / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile_pins.problems(dockerfile) == []
    assert re.search(r"^ARG CT2_COMMIT=0d8bcd362ac75ef860ef161d6f0efad0ae439ff0$", dockerfile, re.M)
    assert "-DWITH_CUDNN=OFF" in dockerfile
    assert "-DCUDA_DYNAMIC_LOADING=ON" in dockerfile
    unpinned = dockerfile.replace("@sha256:", "@nosha:", 1)
    assert any("without a digest" in p for p in dockerfile_pins.problems(unpinned))
    for line, problem in (
        ("RUN python -m nltk.downloader punkt_tab", "unchecked download"),
        ("RUN curl -fsSL https://example.org/x.zip -o x.zip", "unchecked download"),
        ("ADD https://example.org/x.zip /x.zip", "without --checksum"),
        ("RUN git clone --branch v4.8.1 https://github.com/OpenNMT/CTranslate2.git", "branch"),
        ("RUN pip install whisperx", "without hashes"),
        ("RUN cmake -DWITH_CUDNN=ON .", "WITH_CUDNN=ON"),
    ):
        assert any(problem in p for p in dockerfile_pins.problems(f"{dockerfile}\n{line}\n")), line


def test_ctranslate2_bindings_and_kernels_are_built_as_upstream_builds_them() -> None:
    """pybind11 at upstream's 2.11.1 pin; sm_121 SASS plus compute_121 PTX."""
    pyproject = (TOOLS / "rehearsal" / "pywheel" / "pyproject.toml").read_text(encoding="utf-8")
    assert '"pybind11==2.11.1"' in pyproject  # v4.8.1's python/pyproject.toml, verbatim
    assert _lock("requirements-build.lock")["pybind11"] == "2.11.1"
    dockerfile = (CONTAINER / "Dockerfile").read_text(encoding="utf-8")
    assert "pip wheel --no-deps --no-build-isolation" in dockerfile
    gencode = re.search(r'^ARG CT2_CUDA_GENCODE="(.*)"$', dockerfile, re.M)
    assert gencode
    assert gencode.group(1).split() == [
        "-gencode=arch=compute_121,code=sm_121",
        "-gencode=arch=compute_121,code=compute_121",
    ]


# The CCCL constructs CTranslate2 4.8.1's CUDA code uses (src/cuda, src/ops/*_gpu.cu) and the
# stand-in must compile against its CCCL 2.7.0 with nvcc 13 (rehearse step a).
CT2_CCCL_CONSTRUCTS = (
    "cub::BlockReduce",  # layer_norm, rms_norm, mean, softmax, topk (over a struct)
    "cub::BlockScan",  # multinomial, topp_mask
    "cub::BlockRadixSort",  # topp_mask
    "cub::FpLimits",  # topk, for float, __half and __nv_bfloat16
    "cub::CachingDeviceAllocator",  # allocator.cc, compiled by the C++ compiler
    "thrust::cuda::par_nosync",  # THRUST_CALL
    "thrust::transform",
    "thrust::copy",
    "thrust::reduce",
    "thrust::max_element",
    "thrust::fill",
    "thrust::gather",
    "thrust::scatter",
    "thrust::make_zip_iterator",
    "thrust::make_permutation_iterator",
    "thrust::placeholders::_1",
    "thrust::identity",
    "__nv_bfloat16",
    "__half",
)


def test_rehearsal_stand_in_uses_ctranslate2s_cccl_constructs_in_its_include_order() -> None:
    """The stand-in compiles what CTranslate2 compiles, with its CCCL first for nvcc and g++."""
    stand_in = TOOLS / "rehearsal" / "ct2_cuda"
    sources = "".join(
        path.read_text(encoding="utf-8")
        for path in sorted(stand_in.iterdir())
        if path.suffix in {".cu", ".cc"}
    )
    assert [c for c in CT2_CCCL_CONSTRUCTS if c not in sources] == []
    cmake = (stand_in / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "cuda_include_directories(${THRUST_INCLUDE_DIRS})" in cmake
    assert (
        "target_include_directories(ct2_rehearsal BEFORE PRIVATE ${THRUST_INCLUDE_DIRS})" in cmake
    )
    assert re.search(r"cuda_add_library\(ct2_rehearsal [^)]*allocator\.cc", cmake)


def test_engine_lane_runs_the_images_versions_unless_it_says_why() -> None:
    """Every package the engine lane shares with the image has its version, or differs.txt and
    the container README name it."""
    engine = _lock("../../../whisperx_container/engine_tests/requirements.lock")
    image = _lock("requirements-spark.lock") | {
        "ctranslate2": _lock("requirements-x86_64.lock")["ctranslate2"]
    }
    differs_text = (TOOLS / "engine_tests" / "differs.txt").read_text(encoding="utf-8")
    differs = set(re.findall(r"^([A-Za-z0-9_.-]+)\s", differs_text, re.M))
    different = {
        name for name in engine.keys() & image.keys() if engine[name].split("+")[0] != image[name]
    }
    assert different <= differs, different - differs
    assert engine["ctranslate2"] == image["ctranslate2"] == "4.8.1"
    assert engine["whisperx"] == image["whisperx"]
    readme = (CONTAINER / "README.md").read_text(encoding="utf-8")
    lane = readme[readme.index("## Engine lane") :]
    for name in differs:
        assert f"`{name}`" in lane, f"the README's engine lane section does not name {name}"


# What must never be in a user's config folder: test code, the rehearsal, the engine lane.
_NOT_SHIPPED = (
    "*_tests",
    "tests",
    "conftest.py",
    "test_*.py",
    "rehearsal",
    "rehearse",
    "engine-lane",
)


def test_hacs_ships_only_what_runs() -> None:
    """HACS copies custom_components/spark_audio/ whole (hacs.json has no content_in_root):
    the integration and the image's build context, nothing that only tests or rehearses."""
    hacs = _json(ROOT / "hacs.json")
    assert not hacs.get("content_in_root", False)
    shipped = [path.relative_to(INTEGRATION) for path in INTEGRATION.rglob("*")]
    shipped = [p for p in shipped if "__pycache__" not in p.parts]
    offending = sorted(
        str(p)
        for p in shipped
        if any(fnmatch.fnmatch(part, pattern) for part in p.parts for pattern in _NOT_SHIPPED)
    )
    assert offending == [], f"test or rehearsal code would reach users: {offending}"
    assert (INTEGRATION / "whisperx_container" / "Dockerfile").is_file()  # the context ships
    assert (TOOLS / "app_tests").is_dir()
    assert (TOOLS / "engine_tests").is_dir()
    assert not TOOLS.is_symlink()
