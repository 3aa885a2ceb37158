"""Close the image's shared-library graph without the image: every DT_NEEDED resolves.

Reads every ELF shared object inside each wheel of a lock (and any extra library, e.g.
the built CTranslate2) and checks each DT_NEEDED soname against the sonames the wheels
ship themselves plus a checked-in list of what the base image provides (apt packages and
what the NVIDIA container runtime injects). A gap fails: it is a library the image's
loader could not find (torchcodec 0.11 aarch64 needing libnppicc.so.13 was one).

The list's ``injected`` sonames count as provided and its ``optional`` objects (only ever
dlopened on demand) are skipped, as in the image's own ldd check (build/lib_closure.py).

Usage: lib_graph.py BASE_LIST WHEEL_DIR_OR_FILES... [--lib EXTRA.so ...]
"""

from __future__ import annotations

import struct
import sys
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "build"))
from lib_closure import BaseLibs, read_base_libs  # noqa: E402

SHT_DYNAMIC = 6
DT_NEEDED = 1
DT_SONAME = 14


def dynamic_entries(data: bytes) -> tuple[str | None, list[str]]:
    """(DT_SONAME, [DT_NEEDED...]) of a 64-bit little-endian ELF image."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQII", data, shoff + i * shentsize) for i in range(shnum)]
    soname: str | None = None
    needed: list[str] = []
    for _name, sh_type, _flags, _addr, offset, size, link, _info in headers:
        if sh_type != SHT_DYNAMIC:
            continue
        strtab = headers[link][4]
        for pos in range(offset, offset + size, 16):
            tag, value = struct.unpack_from("<qQ", data, pos)
            if tag == 0:
                break
            if tag in (DT_NEEDED, DT_SONAME):
                start = strtab + value
                text = data[start : data.index(b"\0", start)].decode()
                if tag == DT_NEEDED:
                    needed.append(text)
                else:
                    soname = text
    return soname, needed


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
    """(objects checked, {missing soname: [objects needing it]}); optional objects still provide."""
    provided = base.provided | base.injected
    needs: dict[str, list[str]] = {}
    count = 0
    for where, data in objects:
        soname, needed = dynamic_entries(data)
        inner = where.split(":", 1)[-1]
        provided.add(PurePosixPath(inner).name)
        if soname:
            provided.add(soname)
        if base.is_optional(inner):
            continue
        count += 1
        for name in needed:
            needs.setdefault(name, []).append(where)
    return count, {name: users for name, users in sorted(needs.items()) if name not in provided}


def main(argv: list[str]) -> int:
    """Print the graph's size and its gaps; exit 1 on a gap."""
    base_list, *rest = argv
    extra = [Path(rest[i + 1]) for i, arg in enumerate(rest) if arg == "--lib"]
    sources = [Path(arg) for i, arg in enumerate(rest) if arg != "--lib" and (i == 0 or rest[i - 1] != "--lib")]
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
