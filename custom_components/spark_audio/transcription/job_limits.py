"""How many background transcriptions may wait at once, in all and per user, from the options.

Jobs are shared by every configured Spark, so the strictest value over the loaded entries
applies (as the gateway's limits do); with no entry loaded the defaults do.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.core import HomeAssistant

from ..const import (
    CONF_MAX_JOBS,
    CONF_MAX_JOBS_PER_USER,
    DEFAULT_MAX_JOBS,
    DEFAULT_MAX_JOBS_PER_USER,
)
from ..data import strictest_option


@dataclass(frozen=True, slots=True)
class JobLimits:
    """Queued and running jobs at most: in all, and of one user."""

    max_jobs: int
    max_jobs_per_user: int


def job_limits(hass: HomeAssistant) -> JobLimits:
    """The strictest configured caps over every loaded Spark."""
    return JobLimits(
        strictest_option(hass, CONF_MAX_JOBS, DEFAULT_MAX_JOBS),
        strictest_option(hass, CONF_MAX_JOBS_PER_USER, DEFAULT_MAX_JOBS_PER_USER),
    )
