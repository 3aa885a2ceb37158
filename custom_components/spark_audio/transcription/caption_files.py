"""Writing caption files next to a media file without writing anywhere else.

Media folders can hold links planted by anyone with access to a share, so no
path here is ever followed: each caption is written to a fresh temporary file
created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` in the target's folder, then
moved into place in one step (a rename replaces a link, it never writes
through it). A target that exists but is not a regular file is refused; a
regular one only replaced when the caller asked to overwrite. Everything here
blocks: run it in the executor.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

PART_SUFFIX = ".part"
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class CaptionTargetError(Exception):
    """A caption file cannot be written where it belongs; ``key`` is the translation key."""

    def __init__(self, key: str, target: Path, reason: str = "") -> None:
        """``key``: ``caption_exists``, ``caption_not_a_file``, ``caption_write_failed`` (+ why)."""
        super().__init__(f"{key}: {target}" + (f" ({reason})" if reason else ""))
        self.key = key
        self.target = target
        self.reason = reason


def check_targets(targets: list[Path], *, overwrite: bool) -> None:
    """Refuse non-regular targets (links, fifos, folders); existing ones unless ``overwrite``."""
    for target in targets:
        try:
            mode = target.lstat().st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(mode):
            raise CaptionTargetError("caption_not_a_file", target)
        if not overwrite:
            raise CaptionTargetError("caption_exists", target)


def write_captions(contents: Mapping[Path, str], *, overwrite: bool) -> None:
    """Write every caption file, or none: all are checked and written before any is moved in."""
    targets = list(contents)
    check_targets(targets, overwrite=overwrite)
    parts: dict[Path, Path] = {}
    current = targets[0] if targets else Path()
    try:
        for current, text in contents.items():
            parts[current] = _write_part(current, text)
        for current, part in parts.items():
            _move_into_place(part, current, overwrite=overwrite)
    except OSError as err:  # a read-only folder, a full disk, a name already taken
        raise CaptionTargetError(
            "caption_write_failed", current, err.strerror or type(err).__name__
        ) from err
    finally:
        for part in parts.values():
            with contextlib.suppress(FileNotFoundError):
                part.unlink()


def remove_parts(targets: list[Path]) -> None:
    """Remove unfinished caption files of ``targets`` (a cancel or restart cut them short)."""
    for target in targets:
        pattern = f"{glob.escape(target.name)}.*{PART_SUFFIX}"
        # Also the fixed name ``<name>.part`` that versions before 0.3 wrote.
        legacy = target.with_name(f"{target.name}{PART_SUFFIX}")
        for part in [*target.parent.glob(pattern), legacy]:
            with contextlib.suppress(OSError):
                part.unlink()  # never follows: a planted link is removed, not its target


def _write_part(target: Path, text: str) -> Path:
    """A new file beside ``target`` holding ``text``; never an existing path or a link."""
    part = target.with_name(f"{target.name}.{secrets.token_hex(6)}{PART_SUFFIX}")
    fd = os.open(part, _CREATE, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return part


def _move_into_place(part: Path, target: Path, *, overwrite: bool) -> None:
    """Rename ``part`` to ``target``; without ``overwrite`` never replace what appeared meanwhile.

    The no-replace move is a hard link (fails if the name exists); file
    systems without hard links (some network shares) fall back to a check
    right before the rename.
    """
    if overwrite:
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise CaptionTargetError("caption_not_a_file", target)
        os.replace(part, target)
        return
    try:
        os.link(part, target, follow_symlinks=False)
    except FileExistsError:
        raise CaptionTargetError("caption_exists", target) from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
            raise
        if os.path.lexists(target):
            raise CaptionTargetError("caption_exists", target) from None
        os.replace(part, target)
        return
    part.unlink()
