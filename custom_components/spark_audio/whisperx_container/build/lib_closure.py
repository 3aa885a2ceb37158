"""The image's shared-library graph is closed: every library an object needs is found.

Three modes, one list (base-libs-<target>.txt: what the base image provides, the one
``injected`` soname the NVIDIA container runtime mounts at run time, ``pruned`` objects the
image deletes because they can never load in it and are never loaded by this service):

- ``wheels`` (rehearse, no image): read every ELF shared object inside each locked wheel (and
  any extra built library), less the pruned ones, and resolve each DT_NEEDED against the
  sonames the wheels ship plus the list. A gap is a library the image's loader could not find
  (torchcodec 0.11 aarch64 needing libnppicc.so.13 was one).
- ``prune`` (the image build): delete the pruned objects under the given folders, so nothing
  is left that ldd must be told to ignore.
- ``ldd`` (the image build, after prune): every ELF shared object under the given folders goes
  through ldd; a "not found" fails the build unless it is the injected driver library
  (libcuda.so.1), the only exception. Each plain soname of the list must be known to
  ldconfig, so the list ``wheels`` trusts is proven by the real image.

Usage: lib_closure.py wheels BASE_LIST WHEEL_DIR_OR_FILE... [--lib EXTRA.so ...]
       lib_closure.py prune BASE_LIST DIR...
       lib_closure.py ldd BASE_LIST DIR...
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import struct
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import NamedTuple

# The only library the image may lack at build time: the driver's, which the NVIDIA container
# runtime mounts into the running container.
DRIVER_LIBS = frozenset({"libcuda.so.1"})


@dataclass
class BaseLibs:
    """A parsed base-libs-<target>.txt."""

    provided: set[str] = field(default_factory=set)
    injected: set[str] = field(default_factory=set)
    pruned: list[str] = field(default_factory=list)
    preloaded: list[str] = field(default_factory=list)

    def is_pruned(self, path: str) -> bool:
        """Whether the image deletes an object (a path ending in its in-wheel path)."""
        return any(
            fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, "*/" + pattern)
            for pattern in self.pruned
        )


def read_base_libs(path: Path) -> BaseLibs:
    """Parse the list: `soname`, `injected soname`, `pruned glob` or `preloaded folder`.

    Each entry has a `# why`. A preloaded folder (relative to site-packages) holds libraries its
    package loads before the objects that link them by bare soname, without a path.
    """
    libs = BaseLibs()
    for line in path.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] == "injected" and len(words) == 2:
            if words[1] not in DRIVER_LIBS:
                raise ValueError(
                    f"{path}: only the driver's libcuda.so.1 may be injected: {line!r}"
                )
            libs.injected.add(words[1])
        elif words[0] == "pruned" and len(words) == 2:
            libs.pruned.append(words[1])
        elif words[0] == "preloaded" and len(words) == 2:
            libs.preloaded.append(words[1])
        elif len(words) == 1:
            libs.provided.add(words[0])
        else:
            raise ValueError(f"{path}: cannot read {line!r}")
    return libs


def shared_objects(folder: Path) -> list[Path]:
    """ELF shared objects below a folder (by name and magic), symlinks skipped."""
    found = []
    for path in sorted(folder.rglob("*.so*")):
        if (
            path.is_file()
            and not path.is_symlink()
            and (path.name.endswith(".so") or ".so." in path.name)
        ):
            with path.open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def prune(argv: list[str]) -> int:
    """Image mode, before ldd: delete the list's pruned objects below the folders."""
    libs = read_base_libs(Path(argv[0]))
    doomed = [obj for folder in argv[1:] for obj in shared_objects(Path(folder))]
    doomed = [obj for obj in doomed if libs.is_pruned(str(obj))]
    for obj in doomed:
        obj.unlink()
    print(f"pruned {len(doomed)} shared objects that cannot load in this image")
    return 0


def check_ldd(argv: list[str]) -> int:
    """Image mode: run ldd on every object below the folders; exit 1 on a gap.

    Only the injected driver library may be missing; every other object is checked
    (pruned ones must be gone by now: `prune` runs first).
    """
    libs = read_base_libs(Path(argv[0]))
    known = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    unknown = sorted(name for name in libs.provided if f"{name} (" not in known)
    gaps: dict[str, list[str]] = {}
    objects = [obj for folder in argv[1:] for obj in shared_objects(Path(folder))]
    # What the packages load first is on the path, as it is in the process.
    preloaded = [
        str(Path(f) / d) for f in argv[1:] for d in libs.preloaded if (Path(f) / d).is_dir()
    ]
    inherited = os.environ.get("LD_LIBRARY_PATH", "")  # the base image's, kept at run time too
    env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": ":".join([*preloaded, inherited])}
    for obj in objects:
        out = subprocess.run(
            ["ldd", str(obj)], capture_output=True, text=True, check=False, env=env
        ).stdout
        for line in out.splitlines():
            name, _, where = line.strip().partition(" => ")
            if where.strip() == "not found" and name not in libs.injected:
                gaps.setdefault(name, []).append(str(obj))
    print(f"ldd: {len(objects)} shared objects checked")
    for name in unknown:
        print(f"base-libs lists {name}, but ldconfig does not know it", file=sys.stderr)
    for name, users in sorted(gaps.items()):
        print(f"not found: {name} <- {', '.join(users[:3])}", file=sys.stderr)
    return 1 if unknown or gaps else 0


SHT_DYNAMIC = 6
DT_NEEDED = 1
DT_SONAME = 14
DT_RPATH = 15
DT_RUNPATH = 29


class Dynamic(NamedTuple):
    """What the loader reads from an object's dynamic section."""

    soname: str | None
    needed: list[str]
    search: list[str]  # DT_RPATH and DT_RUNPATH entries, $ORIGIN unexpanded


def dynamic_entries(data: bytes) -> Dynamic:
    """DT_SONAME, DT_NEEDED and the search paths of a 64-bit little-endian ELF image."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQII", data, shoff + i * shentsize) for i in range(shnum)]
    found = Dynamic(None, [], [])
    for _name, sh_type, _flags, _addr, offset, size, link, _info in headers:
        if sh_type != SHT_DYNAMIC:
            continue
        strtab = headers[link][4]
        for pos in range(offset, offset + size, 16):
            tag, value = struct.unpack_from("<qQ", data, pos)
            if tag == 0:
                break
            if tag not in (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH):
                continue
            start = strtab + value
            text = data[start : data.index(b"\0", start)].decode()
            if tag == DT_NEEDED:
                found.needed.append(text)
            elif tag == DT_SONAME:
                found = found._replace(soname=text)
            else:
                found.search.extend(text.split(":"))
    return found


def is_shared_object(name: str) -> bool:
    """A file name that looks like a shared object (foo.so, libfoo.so.13, x.cpython-312-....so)."""
    base = PurePosixPath(name).name
    return base.endswith(".so") or ".so." in base


def wheel_objects(wheel: Path) -> Iterator[tuple[str, bytes]]:
    """(path inside the wheel, contents) of each ELF shared object in a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir() or not is_shared_object(info.filename):
                continue
            data = archive.read(info)
            if data[:4] == b"\x7fELF":
                yield f"{wheel.name}:{info.filename}", data


def gaps(objects: Iterable[tuple[str, bytes]], base: BaseLibs) -> tuple[int, dict[str, list[str]]]:
    """(objects checked, {missing soname: [objects needing it]}), resolved as the loader would.

    An object finds a library in its RPATH/RUNPATH folders ($ORIGIN = its own folder), in the
    folders build/cuda_libs.py gives ld.so.conf (every nvidia/.../lib), in the list's preloaded
    folders, or in the base image. Objects are placed by their path inside the wheel (their
    site-packages path); pruned objects are gone in the image: neither checked nor found.
    """
    read = [
        (where, inner, dynamic_entries(data))
        for where, data in objects
        if not base.is_pruned(inner := where.split(":", 1)[-1])
    ]
    folders: dict[str, set[str]] = {}
    for _where, inner, dynamic in read:
        path = PurePosixPath(inner)
        names = folders.setdefault(str(path.parent), set())
        names.add(path.name)
        if dynamic.soname:
            names.add(dynamic.soname)
    ld_conf = [f for f in folders if f.startswith("nvidia/") and PurePosixPath(f).name == "lib"]
    system = base.provided | base.injected
    missing: dict[str, list[str]] = {}
    for where, inner, dynamic in read:
        origin = str(PurePosixPath(inner).parent)
        own = [
            posixpath.normpath(p.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
            for p in dynamic.search
        ]
        search = own + ld_conf + base.preloaded
        for name in dynamic.needed:
            if name not in system and not any(name in folders.get(f, ()) for f in search):
                missing.setdefault(name, []).append(where)
    return len(read), dict(sorted(missing.items()))


def check_wheels(argv: list[str]) -> int:
    """Wheels mode (rehearse): resolve DT_NEEDED inside the wheels; exit 1 on a gap."""
    base_list, *rest = argv
    extra = [Path(rest[i + 1]) for i, arg in enumerate(rest) if arg == "--lib"]
    sources = [
        Path(arg)
        for i, arg in enumerate(rest)
        if arg != "--lib" and (i == 0 or rest[i - 1] != "--lib")
    ]
    wheels = sorted(w for src in sources for w in ([src] if src.is_file() else src.glob("*.whl")))
    objects: list[tuple[str, bytes]] = [obj for wheel in wheels for obj in wheel_objects(wheel)]
    objects += [(str(lib), lib.read_bytes()) for lib in extra]
    count, missing = gaps(objects, read_base_libs(Path(base_list)))
    print(f"{count} shared objects checked in {len(wheels)} wheels (+{len(extra)} built): ", end="")
    if not missing:
        print("every DT_NEEDED resolves")
        return 0
    print(f"{len(missing)} sonames resolve nowhere:")
    for name, users in missing.items():
        print(f"  {name}  <- {', '.join(users[:3])}{' ...' if len(users) > 3 else ''}")
    return 1


MODES = {"wheels": check_wheels, "prune": prune, "ldd": check_ldd}

if __name__ == "__main__":
    sys.exit(MODES[sys.argv[1]](sys.argv[2:]))
