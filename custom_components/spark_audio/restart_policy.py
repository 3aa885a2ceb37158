"""How often a wedged service may be restarted automatically (pure, clock passed in)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

HISTORY = timedelta(hours=24)


@dataclass
class RestartPolicy:
    """At least ``min_spacing`` apart and at most ``max_per_hour`` automatic restarts.

    Every restart (automatic or from the button) is remembered for a day so
    the sensors can count them; only automatic ones are limited.
    """

    min_spacing: timedelta = timedelta(minutes=10)
    max_per_hour: int = 3
    _history: deque[datetime] = field(default_factory=deque)

    def allows(self, now: datetime) -> bool:
        """Whether an automatic restart may happen at ``now``."""
        last = self.last_restart
        if last is not None and now - last < self.min_spacing:
            return False
        return self.count_since(now - timedelta(hours=1)) < self.max_per_hour

    def record(self, now: datetime) -> None:
        """Remember a restart; forget those older than a day."""
        self._history.append(now)
        while self._history and now - self._history[0] > HISTORY:
            self._history.popleft()

    def count_since(self, since: datetime) -> int:
        """Restarts at or after ``since``."""
        return sum(1 for t in self._history if t >= since)

    @property
    def last_restart(self) -> datetime | None:
        """When the service was last restarted, if ever (since HA started)."""
        return self._history[-1] if self._history else None
