"""The WhisperX image's shared-library graph is closed (issue 22 point 3).

`build/lib_closure.py` is the code both checks run: rehearse step e resolves every DT_NEEDED
of the locked wheels (``wheels``), the image build deletes what can never load there
(``prune``) and runs ldd on every object left (``ldd``), where only the driver's
libcuda.so.1 may be missing.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from custom_components.spark_audio.whisperx_container.build import lib_closure

CONTAINER = (
    Path(__file__).resolve().parent.parent / "custom_components/spark_audio/whisperx_container"
)


def _elf(needed: list[str], soname: str | None = None, rpath: str | None = None) -> bytes:
    """A minimal 64-bit ELF with a .dynamic section: DT_NEEDED, DT_SONAME and DT_RPATH."""
    names = [*needed, *([soname] if soname else []), *([rpath] if rpath else [])]
    strtab = b"\0" + b"".join(n.encode() + b"\0" for n in names)
    offsets = [1 + sum(len(n) + 1 for n in names[:i]) for i in range(len(names))]
    tags = [1] * len(needed) + ([14] if soname else []) + ([15] if rpath else [])
    dynamic = b"".join(struct.pack("<qQ", t, o) for t, o in zip(tags, offsets, strict=True))
    dynamic += struct.pack("<qQ", 0, 0)
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    shoff = 64 + len(strtab) + len(dynamic)
    struct.pack_into("<Q", header, 0x28, shoff)
    struct.pack_into("<HHH", header, 0x3A, 64, 3, 0)
    sections = bytes(64)  # the null section
    sections += struct.pack("<IIQQQQIIQQ", 0, 3, 0, 0, 64, len(strtab), 0, 0, 1, 0)
    sections += struct.pack("<IIQQQQIIQQ", 0, 6, 0, 0, 64 + len(strtab), len(dynamic), 1, 0, 8, 16)
    return bytes(header) + strtab + dynamic + sections


def test_library_graph_finds_a_missing_library_and_accepts_its_wheel() -> None:
    """torchcodec 0.11 aarch64 without an NPP wheel is a gap; with nvidia-npp's library it closes.

    Synthetic ELF objects stand in for the wheels' libraries (the real wheels are gigabytes;
    rehearse step e reads them): the graph logic is the same code rehearse runs. The core for
    another FFmpeg major is pruned (the image deletes it), so its missing FFmpeg is no gap.
    """
    base = lib_closure.read_base_libs(CONTAINER / "build" / "base-libs-spark.txt")
    core = ("t.whl:torchcodec/libtorchcodec_core6.so", _elf(["libnppicc.so.13", "libc.so.6"]))
    other_ffmpeg = ("t.whl:torchcodec/libtorchcodec_core7.so", _elf(["libavcodec.so.61"]))
    npp = ("n.whl:nvidia/cu13/lib/libnppicc.so.13", _elf(["libc.so.6"], "libnppicc.so.13"))
    driver = ("torch.whl:torch/lib/libcaffe2_nvrtc.so", _elf(["libcuda.so.1"]))

    assert lib_closure.gaps([core, other_ffmpeg, driver], base) == (
        2,
        {"libnppicc.so.13": ["t.whl:torchcodec/libtorchcodec_core6.so"]},
    )
    assert lib_closure.gaps([core, other_ffmpeg, driver, npp], base) == (3, {})


def test_library_graph_resolves_where_the_loader_looks() -> None:
    """A library resolves only from the folders the loader searches: RPATH ($ORIGIN), the
    nvidia/*/lib folders in ld.so.conf, and preloaded folders (torch/lib); elsewhere it is a gap.

    Synthetic ELF objects, as above.
    """
    base = lib_closure.read_base_libs(CONTAINER / "build" / "base-libs-x86_64.txt")
    libfoo = ("f.whl:foo.libs/libfoo.so.1", _elf([], "libfoo.so.1"))
    libtorch = ("torch.whl:torch/lib/libtorch.so", _elf([], "libtorch.so"))
    with_rpath = ("f.whl:foo/_ext.so", _elf(["libfoo.so.1"], rpath="$ORIGIN/../foo.libs"))
    without = ("g.whl:goo/_ext.so", _elf(["libfoo.so.1"]))
    vision = ("v.whl:torchvision/_C.so", _elf(["libtorch.so"]))

    checked, missing = lib_closure.gaps([libfoo, libtorch, with_rpath, without, vision], base)
    assert (checked, missing) == (5, {"libfoo.so.1": ["g.whl:goo/_ext.so"]})


def test_a_pruned_object_provides_nothing() -> None:
    """The image deletes pruned objects, so a library only a pruned object has is a gap.

    Synthetic ELF objects, as above.
    """
    base = lib_closure.read_base_libs(CONTAINER / "build" / "base-libs-spark.txt")
    core7 = ("t.whl:torchcodec/libtorchcodec_core7.so", _elf([], "libtorchcodec_core7.so"))
    ops7 = ("t.whl:torchcodec/libtorchcodec_custom_ops7.so", _elf(["libtorchcodec_core7.so"]))
    user = ("x.whl:x/_ext.so", _elf(["libtorchcodec_core7.so"]))

    assert lib_closure.gaps([core7, ops7, user], base) == (
        1,
        {"libtorchcodec_core7.so": ["x.whl:x/_ext.so"]},
    )


def test_only_the_driver_library_may_be_injected(tmp_path: Path) -> None:
    """The lists let exactly libcuda.so.1 be missing at build time; any other injected entry
    is refused, so the ldd check cannot grow an allowlist."""
    for target in ("spark", "x86_64"):
        base = lib_closure.read_base_libs(CONTAINER / "build" / f"base-libs-{target}.txt")
        assert base.injected == {"libcuda.so.1"}
    widened = tmp_path / "base-libs.txt"
    widened.write_text("libc.so.6\ninjected libcuda.so.1\ninjected libnppicc.so.13 # nope\n")
    with pytest.raises(ValueError, match=r"only the driver's libcuda\.so\.1"):
        lib_closure.read_base_libs(widened)


def _shared_object(cc: str, path: Path, *link: str, soname: str | None = None) -> None:
    """Compile a one-function shared object at `path`, linked as given (-L/-l)."""
    source = path.with_suffix(".c")
    source.write_text(
        f"int {path.stem.replace('.', '_').replace('-', '_')}(void) {{ return 1; }}\n"
    )
    flags = ["-Wl,--no-as-needed", *([f"-Wl,-soname,{soname}"] if soname else [])]
    subprocess.run(
        [cc, "-shared", "-fPIC", "-o", str(path), str(source), *flags, *link],
        check=True,
        capture_output=True,
    )
    source.unlink()


def test_image_check_prunes_then_fails_on_any_gap_but_the_driver(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The build's two steps on real objects: ``ldd`` fails on a "not found" anywhere (a core
    for another FFmpeg major too, until ``prune`` deletes it); the missing libcuda.so.1 alone
    passes.

    Real shared objects compiled here, linked to stand-in libraries that are then deleted, so
    ldd really answers "not found" for them.
    """
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or shutil.which("ldd") is None:
        pytest.skip("needs a C compiler and ldd")
    stubs, site = tmp_path / "stubs", tmp_path / "site-packages"
    for folder in (stubs, site / "torchcodec", site / "pkg"):
        folder.mkdir(parents=True)
    for soname in ("libcuda.so.1", "libavcodec.so.61", "libgone.so.2"):
        _shared_object(cc, stubs / soname, soname=soname)
        (stubs / soname.split(".so")[0]).with_suffix(".so").symlink_to(stubs / soname)
    _shared_object(cc, site / "pkg" / "uses_driver.so", f"-L{stubs}", "-lcuda")
    _shared_object(cc, site / "torchcodec" / "libtorchcodec_core7.so", f"-L{stubs}", "-lavcodec")
    _shared_object(cc, site / "pkg" / "broken.so", f"-L{stubs}", "-lgone")
    shutil.rmtree(stubs)
    base = tmp_path / "base-libs.txt"
    base.write_text(
        "libc.so.6\ninjected libcuda.so.1\npruned torchcodec/libtorchcodec_*[4578].so\n"
    )

    assert lib_closure.check_ldd([str(base), str(site)]) == 1
    err = capsys.readouterr().err
    assert "not found: libavcodec.so.61" in err
    assert "not found: libgone.so.2" in err
    assert "libcuda" not in err

    assert lib_closure.prune([str(base), str(site)]) == 0
    assert not (site / "torchcodec" / "libtorchcodec_core7.so").exists()
    assert lib_closure.check_ldd([str(base), str(site)]) == 1
    err = capsys.readouterr().err
    assert "libavcodec" not in err
    assert "not found: libgone.so.2" in err

    (site / "pkg" / "broken.so").unlink()
    assert lib_closure.check_ldd([str(base), str(site)]) == 0
    assert "ldd: 1 shared objects checked" in capsys.readouterr().out
