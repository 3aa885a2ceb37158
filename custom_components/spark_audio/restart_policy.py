"""How often a wedged service may be restarted automatically (pure, clock passed in)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

HISTORY = timedelta(hours=24)
REASON_MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class RestartRecord:
    """One restart: when, why, and whether recovery (not a person) asked for it."""

    at: datetime
    reason: str
    automatic: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the history store."""
        return {"at": self.at.isoformat(), "reason": self.reason, "automatic": self.automatic}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RestartRecord:
        """Inverse of `as_dict`; raises on malformed input."""
        return cls(
            at=datetime.fromisoformat(raw["at"]),
            reason=str(raw["reason"]),
            automatic=bool(raw["automatic"]),
        )


@dataclass
class RestartPolicy:
    """At least ``min_spacing`` apart and at most ``max_per_hour`` automatic restarts.

    Every restart (automatic or manual) is remembered for a day so the sensors
    count them; only automatic ones count against the limit: a person who
    restarts a service by hand has decided, and must not lock recovery out.
    """

    min_spacing: timedelta = timedelta(minutes=10)
    max_per_hour: int = 3
    history: deque[RestartRecord] = field(default_factory=deque)

    def allows(self, now: datetime) -> bool:
        """Whether an automatic restart may happen at ``now``."""
        automatic = [r.at for r in self.history if r.automatic]
        if automatic and now - automatic[-1] < self.min_spacing:
            return False
        return sum(1 for at in automatic if at >= now - timedelta(hours=1)) < self.max_per_hour

    def record(self, now: datetime, reason: str, *, automatic: bool) -> RestartRecord:
        """Remember a restart; forget those older than a day."""
        record = RestartRecord(now, reason, automatic)
        self.history.append(record)
        self.forget_before(now - HISTORY)
        return record

    def forget_before(self, since: datetime) -> None:
        """Drop restarts older than ``since``."""
        while self.history and self.history[0].at < since:
            self.history.popleft()

    def count_since(self, since: datetime) -> int:
        """Restarts (automatic and manual) at or after ``since``."""
        return sum(1 for r in self.history if r.at >= since)

    @property
    def last(self) -> RestartRecord | None:
        """The latest restart, if any in the last day (kept across HA restarts)."""
        return self.history[-1] if self.history else None

    @property
    def last_restart(self) -> datetime | None:
        """When the service was last restarted, if any in the last day."""
        return self.history[-1].at if self.history else None
