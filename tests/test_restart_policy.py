"""The automatic-restart limit counts a sliding hour: not less, not more (pure, clock passed in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.spark_audio.restart_policy import RestartPolicy

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def policy_with_restarts_at(*minutes: float) -> RestartPolicy:
    """Three automatic restarts allowed per hour, 10 minutes apart at least."""
    policy = RestartPolicy(min_spacing=timedelta(minutes=10), max_per_hour=3)
    for minute in minutes:
        policy.record(T0 + timedelta(minutes=minute), "wedged", automatic=True)
    return policy


@pytest.mark.parametrize(
    ("now_minutes", "allowed"),
    [
        (40, False),  # three within the hour
        (59.9, False),  # the first is still 59.9 minutes old
        (60.1, True),  # the first has left the hour: two remain
        (300, True),  # hours later (a window of a day would still count all three)
    ],
)
def test_the_limit_counts_one_sliding_hour(now_minutes: float, *, allowed: bool) -> None:
    policy = policy_with_restarts_at(0, 15, 30)
    assert policy.allows(T0 + timedelta(minutes=now_minutes)) is allowed


def test_manual_restarts_do_not_count_against_the_limit() -> None:
    policy = policy_with_restarts_at(0, 15)
    policy.record(T0 + timedelta(minutes=30), "manual", automatic=False)
    assert policy.allows(T0 + timedelta(minutes=45))


def test_spacing_between_automatic_restarts() -> None:
    policy = policy_with_restarts_at(0)
    assert not policy.allows(T0 + timedelta(minutes=9))
    assert policy.allows(T0 + timedelta(minutes=10))
