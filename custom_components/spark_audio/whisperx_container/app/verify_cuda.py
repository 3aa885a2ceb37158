"""Child process of the ``cuda_kernels`` check: CTranslate2 on the GPU with ``CT2_VERBOSE=1``.

CTranslate2 reads ``CT2_VERBOSE`` once, when its library loads, so this runs in
a fresh interpreter (``python -m app.verify_cuda MODEL_DIR``) whose stderr is
CTranslate2's log. It converts to float16 on the GPU (CTranslate2's own CUDA
kernels), runs the Whisper encoder in float16 (cuBLAS GEMMs), then prints one
JSON line: the GPU count, whether the conversion was right, the encoder's
output shape and the cuBLAS libraries mapped into this process
(``/proc/self/maps``: the truth about which cuBLAS the loader found).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from .whisperx_engine import ctranslate2_check


def loaded_libraries(fragment: str, maps: Path = Path("/proc/self/maps")) -> list[str]:
    """The paths of mapped shared objects whose file name contains `fragment`."""
    try:
        lines = maps.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    paths = {line.split()[-1] for line in lines if "/" in line}
    return sorted(p for p in paths if fragment in Path(p).name)


def probe(model_dir: str) -> dict[str, Any]:
    """The facts the parent reports (no GPU: only the count, zero)."""
    ctranslate2 = importlib.import_module("ctranslate2")
    numpy = importlib.import_module("numpy")
    gpus = int(ctranslate2.get_cuda_device_count())
    if gpus == 0:
        return {"gpus": 0}
    conversion_ok = ctranslate2_check("cuda")
    whisper = ctranslate2.models.Whisper(model_dir, device="cuda", compute_type="float16")
    features = numpy.zeros((1, whisper.n_mels, 3000), dtype=numpy.float32)
    encoded = whisper.encode(ctranslate2.StorageView.from_array(features))
    return {
        "gpus": gpus,
        "compute_types": sorted(ctranslate2.get_supported_compute_types("cuda")),
        "float16_conversion_ok": conversion_ok,
        "encoder_output": list(encoded.shape),
        "cublas": loaded_libraries("libcublas"),
    }


def verdict(stdout: str, log: str) -> str:
    """What the parent reports from the child's JSON line and CTranslate2's log; raises on a fault.

    The verbose log's lines about the GPU and cuBLAS are quoted (the ones CTranslate2
    writes at load with ``CT2_VERBOSE=1``), beside the cuBLAS files really mapped.
    """
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(f"the CUDA child printed nothing; its log ends: {log[-300:]}")
    facts = json.loads(lines[-1])
    if facts.get("gpus", 0) == 0:
        raise RuntimeError("CTranslate2 sees no CUDA device (is its library a CUDA build?)")
    if not facts.get("float16_conversion_ok"):
        raise RuntimeError("CTranslate2's float16 conversion on the GPU gave a wrong answer")
    if not facts.get("cublas"):
        raise RuntimeError("the float16 encoder ran but no libcublas is mapped")
    if "float16" not in facts.get("compute_types", []):
        raise RuntimeError(f"no float16 on the GPU: {facts.get('compute_types')}")
    quoted = [
        line.split("]")[-1].strip()
        for line in log.splitlines()
        if "[ctranslate2]" in line and any(k in line.lower() for k in ("gpu", "cublas", "cuda"))
    ]
    names = ", ".join(Path(path).name for path in facts["cublas"])
    return (
        f"{facts['gpus']} GPU(s), compute types {', '.join(facts['compute_types'])}; "
        f"float16 encoder output {facts['encoder_output']}; cuBLAS loaded: {names} "
        f"({', '.join(facts['cublas'])})" + (f"; CT2 log: {' | '.join(quoted)}" if quoted else "")
    )


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1])), flush=True)
