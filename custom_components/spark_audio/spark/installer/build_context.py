"""The deterministic build-context tar the installer streams to the Spark.

Same context, same bytes: Docker's layer cache then hits on a re-install, and
`tar_size` can tell the exact upload size up front for the progress bar.
Nothing here touches the network; the installer runs it in a worker thread.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "DEFAULT_EXCLUDES",
    "IMAGE_VERSION",
    "build_context_tar",
    "read_context_version",
    "tar_size",
]

_TAR_CHUNK = 256 * 1024
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE

DEFAULT_EXCLUDES: Final = frozenset(
    {"__pycache__", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv"}
)
_EXCLUDED_SUFFIXES = (".pyc", ".pyo")
# Docker's rule for the version part of an image tag.
IMAGE_VERSION: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def read_context_version(context_dir: Path) -> str:
    """The build context's VERSION (first line), used for the image tag."""
    version = (context_dir / "VERSION").read_text(encoding="utf-8").strip().splitlines()
    if not version or not IMAGE_VERSION.fullmatch(version[0].strip()):
        raise ValueError(f"{context_dir / 'VERSION'} holds no usable version")
    return version[0].strip()


@dataclass(frozen=True)
class _Entry:
    path: Path
    arcname: str
    kind: str  # "dir" | "file" | "link"
    size: int = 0
    mode: int = 0o644
    target: str = ""


def _entries(context_dir: Path, excludes: frozenset[str]) -> list[_Entry]:
    """Every member in a stable order: sorted walk, excluded names pruned."""
    root = Path(context_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"build context {root} is not a directory")
    found: list[_Entry] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in excludes)
        here = Path(dirpath)
        rel = here.relative_to(root)
        if rel != Path():
            found.append(_Entry(here, rel.as_posix(), "dir", mode=0o755))
        for name in sorted(filenames):
            if name in excludes or name.endswith(_EXCLUDED_SUFFIXES):
                continue
            path = here / name
            arcname = (rel / name).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                found.append(_Entry(path, arcname, "link", target=os.readlink(path)))
            elif stat.S_ISREG(info.st_mode):
                mode = 0o755 if info.st_mode & 0o111 else 0o644
                found.append(_Entry(path, arcname, "file", size=info.st_size, mode=mode))
    # Directories before their contents, names in byte order: same bytes every time.
    found.sort(key=lambda e: e.arcname.encode())
    return found


def _header(entry: _Entry) -> bytes:
    info = tarfile.TarInfo(entry.arcname)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = entry.mode
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "link":
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target
        info.mode = 0o777
    else:
        info.size = entry.size
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _padding(size: int, unit: int = _BLOCK) -> int:
    return -size % unit


def tar_size(context_dir: Path, *, excludes: frozenset[str] = DEFAULT_EXCLUDES) -> int:
    """Exact byte size `build_context_tar` will produce, without reading file contents."""
    total = 0
    for entry in _entries(context_dir, excludes):
        total += len(_header(entry)) + entry.size + _padding(entry.size)
    total += 2 * _BLOCK
    return total + _padding(total, _RECORD)


def build_context_tar(
    context_dir: Path,
    *,
    excludes: frozenset[str] = DEFAULT_EXCLUDES,
    chunk_size: int = _TAR_CHUNK,
) -> Generator[bytes]:
    """A deterministic tar of ``context_dir``, produced chunk by chunk.

    Sorted names, mtime 0, uid/gid 0, no user names, modes 0644/0755: the same
    context gives the same bytes (so Docker's layer cache hits). File contents
    are read piecewise, so no file or archive is ever held whole in memory.
    Names in ``excludes`` (any depth) and ``*.pyc`` are left out.
    """
    buffer = bytearray()
    total = 0
    for entry in _entries(context_dir, excludes):
        buffer += _header(entry)
        if entry.kind == "file":
            remaining = entry.size
            with entry.path.open("rb") as source:
                while remaining:
                    data = source.read(min(chunk_size, remaining))
                    if not data:
                        raise OSError(f"{entry.path} shrank while it was being packed")
                    remaining -= len(data)
                    buffer += data
                    if len(buffer) >= chunk_size:
                        total += len(buffer)
                        yield bytes(buffer)
                        buffer.clear()
            buffer += b"\0" * _padding(entry.size)
        if len(buffer) >= chunk_size:
            total += len(buffer)
            yield bytes(buffer)
            buffer.clear()
    buffer += b"\0" * (2 * _BLOCK)
    buffer += b"\0" * _padding(total + len(buffer), _RECORD)
    yield bytes(buffer)
