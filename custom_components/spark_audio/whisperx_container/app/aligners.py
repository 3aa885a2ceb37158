"""Alignment models per language, loaded on first use and retried after a failure.

A load that fails (network, disk, a hub hiccup) is retried after a backoff
that doubles up to a cap, instead of being cached as "no aligner" until a
restart; a CUDA fault is raised so the app exits for a fresh CUDA context.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .engine import is_cuda_fault

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")
FIRST_BACKOFF_S = 5.0
MAX_BACKOFF_S = 300.0


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """The last failed load of one language's aligner."""

    count: int
    retry_at: float
    error: str


class AlignerCache(Generic[T]):  # noqa: UP046 - the engine lane runs Python 3.11
    """`get(language)`: the aligner, or None (no model for it, or backing off)."""

    def __init__(
        self,
        load: Callable[[str], T],
        supported: Callable[[str], bool],
        *,
        clock: Callable[[], float] = time.monotonic,
        first_backoff_s: float = FIRST_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
    ) -> None:
        """`load` may raise; `supported` says whether a model exists for a language."""
        self._load = load
        self._supported = supported
        self._clock = clock
        self._first = first_backoff_s
        self._max = max_backoff_s
        self._loaded: dict[str, T] = {}
        self.failures: dict[str, LoadFailure] = {}

    def get(self, language: str) -> T | None:
        """The language's aligner; loads it, or retries a failed load once the backoff passed."""
        if language in self._loaded:
            return self._loaded[language]
        if not self._supported(language):
            return None
        failure = self.failures.get(language)
        if failure is not None and self._clock() < failure.retry_at:
            return None
        try:
            aligner = self._load(language)
        except Exception as err:
            if is_cuda_fault(err):
                raise
            count = 1 if failure is None else failure.count + 1
            delay = min(self._max, self._first * 2 ** (count - 1))
            self.failures[language] = LoadFailure(count, self._clock() + delay, str(err))
            _LOGGER.warning(
                "Alignment model for %r failed to load (attempt %d, retry in %.0f s): %s; "
                "words get segment timing meanwhile",
                language,
                count,
                delay,
                err,
            )
            return None
        self.failures.pop(language, None)
        self._loaded[language] = aligner
        return aligner
