"""The image's shared-library graph is closed: ldd finds every library, or the build fails.

Runs in the image build after the wheels (and CTranslate2) are installed. Every ELF shared
object under site-packages and /opt/ct2/lib goes through ldd; a "not found" fails the build
unless the soname is one the NVIDIA container runtime injects at run time (``injected`` in
base-libs-<target>.txt) or the object is one that is only dlopened on demand (``optional``).
Each plain soname of the list must also be known to ldconfig, so the checked-in list that
``rehearse`` resolves against is proven by the real image.

Usage: lib_closure.py BASE_LIST DIR...
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class BaseLibs:
    """A parsed base-libs-<target>.txt."""

    provided: set[str] = field(default_factory=set)
    injected: set[str] = field(default_factory=set)
    optional: list[str] = field(default_factory=list)

    def is_optional(self, path: str) -> bool:
        """Whether an object (a path ending in its in-wheel path) is loaded only on demand."""
        return any(fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, "*/" + pattern) for pattern in self.optional)


def read_base_libs(path: Path) -> BaseLibs:
    """Parse the list: `soname`, `injected soname` or `optional glob`, each with a `# why`."""
    libs = BaseLibs()
    for line in path.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] == "injected" and len(words) == 2:
            libs.injected.add(words[1])
        elif words[0] == "optional" and len(words) == 2:
            libs.optional.append(words[1])
        elif len(words) == 1:
            libs.provided.add(words[0])
        else:
            raise ValueError(f"{path}: cannot read {line!r}")
    return libs


def shared_objects(folder: Path) -> list[Path]:
    """ELF shared objects below a folder (by name and magic), symlinks skipped."""
    found = []
    for path in sorted(folder.rglob("*.so*")):
        if path.is_file() and not path.is_symlink() and (path.name.endswith(".so") or ".so." in path.name):
            with path.open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def main(argv: list[str]) -> int:
    """ldd every object; print the gaps; exit 1 on one."""
    libs = read_base_libs(Path(argv[0]))
    known = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    unknown = sorted(name for name in libs.provided if f"{name} (" not in known)
    gaps: dict[str, list[str]] = {}
    objects = [obj for folder in argv[1:] for obj in shared_objects(Path(folder))]
    checked = 0
    for obj in objects:
        if libs.is_optional(str(obj)):
            continue
        checked += 1
        out = subprocess.run(["ldd", str(obj)], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            name, _, where = line.strip().partition(" => ")
            if where.strip() == "not found" and name not in libs.injected:
                gaps.setdefault(name, []).append(str(obj))
    print(f"ldd: {checked} shared objects checked ({len(objects) - checked} optional skipped)")
    for name in unknown:
        print(f"base-libs lists {name}, but ldconfig does not know it", file=sys.stderr)
    for name, users in sorted(gaps.items()):
        print(f"not found: {name} <- {', '.join(users[:3])}", file=sys.stderr)
    return 1 if unknown or gaps else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
