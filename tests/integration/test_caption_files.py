"""Caption files of the transcribe action: never written through a link, replaced on request."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.spark_audio.const import DOMAIN
from custom_components.spark_audio.transcription import caption_files
from custom_components.spark_audio.transcription.caption_files import (
    CaptionTargetError,
    remove_parts,
    write_captions,
)
from tests.spark_sim.audio import speak
from tests.spark_sim.server import SparkSim

OUTSIDE = "do not touch"


@pytest.fixture
async def media(hass: HomeAssistant, tmp_path: Path) -> Path:
    """``note.wav`` in a media folder HA may read; ``outside/secret.txt`` next to that folder."""
    folder = tmp_path / "media"
    folder.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text(OUTSIDE)
    hass.config.media_dirs = {"local": str(folder)}
    hass.config.allowlist_external_dirs = {str(folder)}
    path = folder / "note.wav"
    clip = await speak("good morning everyone", "en-US", 16000)
    await hass.async_add_executor_job(path.write_bytes, clip)
    return path


async def transcribe(hass: HomeAssistant, media: Path, **options: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        "transcribe",
        {"media": str(media), **options},
        blocking=True,
        return_response=True,
    )


def outside(media: Path) -> Path:
    return media.parent.parent / "outside" / "secret.txt"


async def test_a_planted_part_link_is_not_written_through(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, media: Path
) -> None:
    """``note.srt.part`` linking outside the media folder: the captions land in ``note.srt``."""
    planted = media.with_suffix(".srt.part")
    planted.symlink_to(outside(media))
    result = await transcribe(hass, media, write=["srt"])
    assert result["files"] == [str(media.with_suffix(".srt"))]
    written = media.with_suffix(".srt")
    assert not written.is_symlink()
    assert "-->" in written.read_text()
    assert outside(media).read_text() == OUTSIDE
    assert planted.is_symlink()  # not ours: left as it was
    assert sorted(p.name for p in media.parent.iterdir()) == [
        "note.srt",
        "note.srt.part",
        "note.wav",
    ]


@pytest.mark.parametrize("kind", ["symlink", "fifo", "dir"])
async def test_a_target_that_is_not_a_file_is_refused(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    media: Path,
    kind: str,
) -> None:
    """A link (to outside), a fifo or a folder named ``note.srt``: refused, even with overwrite.

    Refused before any transcription, and no other caption of the set is written.
    """
    target = media.with_suffix(".srt")
    if kind == "symlink":
        target.symlink_to(outside(media))
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    for overwrite in (False, True):
        with pytest.raises(ServiceValidationError) as err:
            await transcribe(hass, media, write=["json", "srt"], overwrite=overwrite)
        assert err.value.translation_key == "caption_not_a_file"
        assert err.value.translation_placeholders == {"file": str(target)}
    assert outside(media).read_text() == OUTSIDE
    assert not media.with_suffix(".json").exists()
    assert not [r for r in spark_sim.states["parakeet"].requests if r.path == "/v1/audio/diarize"]


async def test_an_existing_caption_is_replaced_only_with_overwrite(
    hass: HomeAssistant, spark_sim: SparkSim, init_integration: MockConfigEntry, media: Path
) -> None:
    """``note.json`` of the user's own: kept (translated error) unless ``overwrite: true``."""
    existing = media.with_suffix(".json")
    existing.write_text("mine")
    with pytest.raises(ServiceValidationError) as err:
        await transcribe(hass, media, write=["json"])
    assert err.value.translation_key == "caption_exists"
    assert existing.read_text() == "mine"
    with pytest.raises(ServiceValidationError) as err:
        await transcribe(hass, media, write=["json"], wait=False)
    assert err.value.translation_key == "caption_exists"

    result = await transcribe(hass, media, write=["json"], overwrite=True)
    assert result["files"] == [str(existing)]
    assert '"segments"' in existing.read_text()
    assert sorted(p.name for p in media.parent.iterdir()) == ["note.json", "note.wav"]


def test_a_caption_that_appears_while_writing_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check passed, then someone created the file (or a link) before the move: kept.

    Called directly: the window between the check and the move cannot be hit
    through the action, so the move itself must refuse to replace.
    """
    target = tmp_path / "note.srt"
    real_check = caption_files.check_targets

    def check_then_race(targets: list[Path], *, overwrite: bool) -> None:
        real_check(targets, overwrite=overwrite)
        target.symlink_to(tmp_path / "elsewhere")

    monkeypatch.setattr(caption_files, "check_targets", check_then_race)
    with pytest.raises(CaptionTargetError) as err:
        write_captions({target: "1\n"}, overwrite=False)
    assert err.value.key == "caption_exists"
    assert target.is_symlink()
    assert not (tmp_path / "elsewhere").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["note.srt"]


@pytest.mark.parametrize("kind", ["symlink", "hard link"])
def test_the_part_file_is_created_exclusively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A link already at the temporary file's name (its random part made predictable here) is
    never written through: the write fails with a translatable error and the linked file
    outside is untouched.

    A symbolic link is stopped by ``O_NOFOLLOW`` as well as ``O_EXCL``; a hard link to a
    file elsewhere on the same file system only by ``O_EXCL``.
    """
    victim = tmp_path / "victim.txt"
    victim.write_text(OUTSIDE)
    target = tmp_path / "media" / "note.srt"
    target.parent.mkdir()
    planted = target.with_name("note.srt.000000000000.part")
    if kind == "symlink":
        planted.symlink_to(victim)
    else:
        os.link(victim, planted)
    monkeypatch.setattr(caption_files, "secrets", SimpleNamespace(token_hex=lambda _: "0" * 12))
    with pytest.raises(CaptionTargetError) as err:
        write_captions({target: "1\n"}, overwrite=True)
    assert (err.value.key, err.value.target) == ("caption_write_failed", target)
    assert err.value.reason == "File exists"
    assert victim.read_text() == OUTSIDE
    assert sorted(p.name for p in target.parent.iterdir()) == [planted.name]


async def test_a_failed_write_is_a_translated_error(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    init_integration: MockConfigEntry,
    media: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The file system refusing the caption (here: the temporary name is taken) is an error
    naming the caption file and the reason, not an unexpected exception."""
    planted = media.with_name("note.srt.000000000000.part")
    planted.symlink_to(outside(media))
    monkeypatch.setattr(caption_files, "secrets", SimpleNamespace(token_hex=lambda _: "0" * 12))
    with pytest.raises(HomeAssistantError) as err:
        await transcribe(hass, media, write=["srt"])
    assert err.value.translation_key == "caption_write_failed"
    assert err.value.translation_placeholders == {
        "file": str(media.with_suffix(".srt")),
        "error": "File exists",
    }
    assert outside(media).read_text() == OUTSIDE
    assert sorted(p.name for p in media.parent.iterdir()) == [planted.name, "note.wav"]


def test_remove_parts_removes_links_not_their_targets(tmp_path: Path) -> None:
    """After a restart unfinished parts go; a part that is a link is unlinked, never followed."""
    target = tmp_path / "note.srt"
    victim = tmp_path / "victim.txt"
    victim.write_text(OUTSIDE)
    (tmp_path / "note.srt.0123456789ab.part").write_text("1\n")
    (tmp_path / "note.srt.ba9876543210.part").symlink_to(victim)
    remove_parts([target])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim.txt"]
    assert victim.read_text() == OUTSIDE
