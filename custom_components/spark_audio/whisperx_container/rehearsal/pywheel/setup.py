"""Stand-in for CTranslate2's python/setup.py: same shape, same build trap.

Like the real one it has no pyproject.toml, imports pybind11 at module level and
finds the C++ library through CTRANSLATE2_ROOT; so `pip wheel .` fails under
build isolation and needs --no-build-isolation with pybind11 installed.
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
