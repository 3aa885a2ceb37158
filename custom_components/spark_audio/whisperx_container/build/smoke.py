"""Build-time smoke test of the image: the real imports, CUDA code present, no GPU needed.

A `docker build` has no GPU, so CUDA *use* cannot be tested here; what can be is
that every module the app loads imports, that torch is a CUDA build, and that
ctranslate2's library carries CUDA kernels (an ELF ``.nv_fatbin`` section) - a
CPU-only ctranslate2 would import fine and only fail on the Spark.
"""

from __future__ import annotations

import importlib
import struct
import sys
from pathlib import Path

MODULES = ("whisperx", "whisperx.asr", "whisperx.alignment", "whisperx.diarize", "torchaudio")


def elf_sections(path: Path) -> set[str]:
    """Section names of a 64-bit little-endian ELF file."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path} is not a 64-bit little-endian ELF file")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab_offset = headers[shstrndx][4]
    names = set()
    for name_offset, *_ in headers:
        start = strtab_offset + name_offset
        names.add(data[start : data.index(b"\0", start)].decode())
    return names


def main() -> int:
    """Print what was checked; a non-zero exit fails the build."""
    # importlib: the image has these, the repository's type checker does not.
    ctranslate2 = importlib.import_module("ctranslate2")
    torch = importlib.import_module("torch")
    for name in MODULES:
        importlib.import_module(name)
    print("imports ok:", ", ".join(MODULES))
    cudnn = torch.backends.cudnn.version()
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {cudnn}")
    if torch.version.cuda is None:
        print("torch is not a CUDA build", file=sys.stderr)
        return 1
    package = Path(str(ctranslate2.__file__)).parent
    # Built from source: /opt/ct2/lib; PyPI's wheel: ctranslate2.libs/ (auditwheel).
    libs = sorted(Path("/opt/ct2/lib").glob("libctranslate2.so*"))
    libs += sorted((package.parent / "ctranslate2.libs").glob("libctranslate2*.so*"))
    with_cuda = [lib for lib in libs if ".nv_fatbin" in elf_sections(lib)]
    print(f"ctranslate2 {ctranslate2.__version__}: CUDA kernels in {[p.name for p in with_cuda]}")
    if not with_cuda:
        print(f"ctranslate2 has no CUDA code (looked at {libs})", file=sys.stderr)
        return 1
    try:
        types = ctranslate2.get_supported_compute_types("cuda")
        print("ctranslate2 CUDA compute types:", sorted(types))
    except (RuntimeError, ValueError) as err:  # no GPU while building
        print(f"ctranslate2 CUDA compute types: no GPU at build time ({err})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
