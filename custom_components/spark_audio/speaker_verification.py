"""Action ``verify_speakers``: how well the household's own voices are told apart (leave-one-out).

Each kept enrolment sample is matched as a voice command would be, against the
voiceprints built without it, and once more as a stranger (its own person left
out). The embeddings were computed by the user's own Spark when enrolling; the
answer is counts and rates only, never a vector. Administrators only.
"""

from __future__ import annotations

import voluptuous as vol
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse
from homeassistant.util.json import JsonValueType

from .spark.transcripts.voiceprints import DEFAULT_THRESHOLD, LeaveOneOutTally, leave_one_out
from .voiceprint_store import VOICEPRINTS_KEY, person_name

SERVICE_VERIFY_SPEAKERS = "verify_speakers"
VERIFY_SCHEMA = vol.Schema({})


async def async_verify_speakers(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    """Leave-one-out figures over every enrolled person, at the threshold the matching uses.

    Administrators only: ``services`` registers it through its admin check.
    """
    result = leave_one_out(hass.data[VOICEPRINTS_KEY].voiceprints, DEFAULT_THRESHOLD)
    untested: list[JsonValueType] = [
        person for person, tally in sorted(result.persons.items()) if not tally.samples
    ]
    return {
        "threshold": result.threshold,
        **_figures(result.total),
        "persons_without_samples": untested,
        "persons": {
            person: {"name": person_name(hass, person), **_figures(tally)}
            for person, tally in result.persons.items()
        },
    }


def _figures(tally: LeaveOneOutTally) -> dict[str, int | float | None]:
    """Counts and rates (rounded; None where there was no trial of that kind)."""
    return {
        "samples": tally.samples,
        "enrolled_trials": tally.enrolled_trials,
        "identified": tally.identified,
        "misidentified": tally.misidentified,
        "missed": tally.missed,
        "accuracy": _rounded(tally.accuracy),
        "unknown_trials": tally.unknown_trials,
        "false_accepts": tally.false_accepts,
        "false_accept_rate": _rounded(tally.false_accept_rate),
    }


def _rounded(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 3)
