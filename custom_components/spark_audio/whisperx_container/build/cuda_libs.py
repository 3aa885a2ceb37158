"""Print the lib folders of the pip-installed NVIDIA packages, for /etc/ld.so.conf.d.

torch finds its CUDA libraries itself; ctranslate2 (built without cuDNN) dlopens
libcublas by soname, so the loader must know the same folders (one copy of each
library: the one torch's lock brought).
"""

import importlib
import sys
from pathlib import Path

# importlib: the image has the nvidia namespace package, the type checker does not.
roots = [Path(p) for p in importlib.import_module("nvidia").__path__]
folders = sorted({so.parent for root in roots for so in root.glob("**/lib/*.so*")})
if not folders:
    sys.exit("no NVIDIA libraries found under " + ", ".join(map(str, roots)))
print("\n".join(map(str, folders)))
