"""Stand-in for CTranslate2's python/setup.py: same shape, same build inputs.

Like the real one (v4.8.1) it imports pybind11 at module level, finds the C++ library
through CTRANSLATE2_ROOT, and its pyproject.toml (upstream's build-system table, verbatim)
pins pybind11==2.11.1; the Dockerfile builds it with --no-build-isolation on the
hash-locked copy of exactly that pin (requirements-build.lock).
"""

import importlib
import os

# The import that breaks isolated builds (importlib: the type checker has no pybind11).
Pybind11Extension = importlib.import_module("pybind11.setup_helpers").Pybind11Extension
setup = importlib.import_module("setuptools").setup

root = os.environ["CTRANSLATE2_ROOT"]
setup(
    name="ct2-rehearsal",
    version="0.0.0",
    ext_modules=[
        Pybind11Extension(
            "ct2_rehearsal",
            ["module.cc"],
            include_dirs=[os.path.join(root, "include")],
            library_dirs=[os.path.join(root, "lib")],
            libraries=["ct2_rehearsal"],
            cxx_std=17,
        )
    ],
)
