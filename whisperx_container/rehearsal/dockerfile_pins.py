"""Every input of the Dockerfile is pinned by content, or this says which is not.

Base images by digest (``FROM name:tag@sha256:<64 hex>``; a FROM of an earlier stage needs
none), CTranslate2 by a 40-hex commit (no ``--branch``/tag clone), remote ``ADD`` only with
``--checksum=sha256:``, no curl/wget of a URL or downloader module in RUN (an unchecked
download), pip only from the hash locks (``--require-hashes``) or the locally built wheel,
and cuDNN off as upstream builds it.

Usage: dockerfile_pins.py DOCKERFILE   (exit 1 and one line per problem)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def instructions(text: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    return [line.strip() for line in joined.splitlines() if line.strip()]


def run_problems(command: str) -> list[str]:
    """What a RUN instruction fetches or builds unpinned."""
    found = []
    if re.search(
        r"\b(curl|wget)\b[^&;|]*(https?|ftp)://|nltk\.downloader|hf_hub_download", command
    ):
        found.append(f"unchecked download in RUN: {command[:80]}")
    if "git clone" in command or "--branch" in command:
        found.append("git clone by branch/tag: pin a commit")
    for pip in re.findall(r"pip install [^&;]*", command):
        if "--require-hashes" not in pip and "/wheels/" not in pip:
            found.append(f"pip install without hashes: {pip[:80]}")
    if "WITH_CUDNN=ON" in command:
        found.append("CTranslate2 built WITH_CUDNN=ON (upstream builds it OFF)")
    return found


def problems(text: str) -> list[str]:
    """What is not pinned by content (empty: everything is)."""
    found = []
    stages: set[str] = set()
    for line in instructions(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        words = rest.split()
        if keyword == "FROM":
            image = next(w for w in words if not w.startswith("--"))
            if " AS " in f" {rest.upper()} ":
                stages.add(words[-1].lower())
            if (
                image.split("-$")[0].lower() not in stages
                and "${" not in image
                and not DIGEST.search(image)
            ):
                found.append(f"base image without a digest: {image}")
        elif keyword == "ADD" and any(w.startswith(("http://", "https://", "git@")) for w in words):
            if not any(w.startswith("--checksum=sha256:") for w in words):
                found.append(f"remote ADD without --checksum=sha256: {rest[:80]}")
        elif keyword == "RUN":
            found += run_problems(rest)
    commits = re.findall(r"^ARG CT2_COMMIT=([0-9a-f]*)$", text, re.MULTILINE)
    if len(commits) != 1 or len(commits[0]) != 40:
        found.append("CTranslate2 is not pinned by a 40-hex commit (ARG CT2_COMMIT)")
    return found


def main(argv: list[str]) -> int:
    """Print the problems of one Dockerfile; exit 1 if there are any."""
    found = problems(Path(argv[0]).read_text())
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
