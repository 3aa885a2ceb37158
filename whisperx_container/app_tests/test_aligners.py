"""The alignment-model cache: retried with backoff after a failed load, CUDA faults raised."""

from __future__ import annotations

import pytest

from app.aligners import AlignerCache
from app.engine import CudaFault
from app.whisperx_engine import WhisperXEngine, parse_align_models


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Loader:
    """Fails with the queued errors first, then loads."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[str] = []

    def __call__(self, language: str) -> str:
        self.calls.append(language)
        if self.errors:
            raise self.errors.pop(0)
        return f"aligner-{language}"


def test_failed_load_is_retried_with_backoff() -> None:
    clock = Clock()
    loader = Loader(OSError("hub unreachable"), OSError("hub unreachable"))
    cache = AlignerCache(loader, lambda lang: lang != "xx", clock=clock, first_backoff_s=5)
    assert cache.get("en") is None
    assert cache.failures["en"].count == 1
    clock.now += 4.9
    assert cache.get("en") is None  # still backing off: no new load
    assert loader.calls == ["en"]
    clock.now += 0.2
    assert cache.get("en") is None  # second failure: the wait doubles
    assert cache.failures["en"].retry_at == pytest.approx(clock.now + 10)
    clock.now += 10
    assert cache.get("en") == "aligner-en"
    assert "en" not in cache.failures
    assert cache.get("en") == "aligner-en"
    assert loader.calls == ["en", "en", "en"]


def test_backoff_is_capped() -> None:
    clock = Clock()
    loader = Loader(*(OSError("down") for _ in range(20)))
    cache = AlignerCache(loader, lambda _: True, clock=clock, max_backoff_s=60)
    for _ in range(10):
        cache.get("de")
        clock.now = cache.failures["de"].retry_at
    assert cache.failures["de"].retry_at - clock.now <= 60


def test_unsupported_language_is_not_a_failure() -> None:
    loader = Loader()
    cache = AlignerCache(loader, lambda lang: lang == "en")
    assert cache.get("sw") is None
    assert loader.calls == []
    assert cache.failures == {}


def test_cuda_fault_is_raised_not_cached() -> None:
    loader = Loader(RuntimeError("CUDA error: an illegal memory access was encountered"))
    cache = AlignerCache(loader, lambda _: True)
    with pytest.raises(RuntimeError, match="CUDA"):
        cache.get("en")
    assert cache.failures == {}
    loader = Loader(CudaFault("wedged"))
    with pytest.raises(CudaFault):
        AlignerCache(loader, lambda _: True).get("en")


def test_align_models_setting() -> None:
    assert parse_align_models("") == {}
    assert parse_align_models("EN=/models/en, de = org/name ,") == {
        "en": "/models/en",
        "de": "org/name",
    }
    with pytest.raises(ValueError, match="language=model"):
        parse_align_models("en")
    with pytest.raises(ValueError, match="language=model"):
        WhisperXEngine("tiny", None, {"WHISPERX_ALIGN_MODELS": "=x"})
