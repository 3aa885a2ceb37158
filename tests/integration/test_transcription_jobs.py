"""Background transcriptions (``wait: false``): queue, progress, events, cancel, restart.

Everything runs against the simulated Spark with a generated two-hour recording
(8 kHz mono WAV: half the bytes of 16 kHz, which both backends accept; a spoken
sentence, then silence). WhisperX is left out of the entry so speakers go
through Parakeet + Sortformer, whose ~14 windows give the progress steps.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.auth.const import GROUP_ID_READ_ONLY
from homeassistant.auth.models import User
from homeassistant.config_entries import ConfigEntryDisabler
from homeassistant.core import Context, Event, HomeAssistant, ServiceCall, State, callback
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.spark_audio.const import DOMAIN, SparkService, conf_enabled
from custom_components.spark_audio.data import async_entry_device
from custom_components.spark_audio.transcription.jobs import JOBS_KEY, MEDIA_GONE, SPARK_GONE
from tests.integration.conftest import entry_data
from tests.integration.long_audio import (
    HOURS_2,
    collect_events,
    diarize_calls,
    make_recording,
    transcription_sensor,
    wait_until,
)
from tests.integration.test_translations import untranslated_attributes
from tests.spark_sim.faults import Fault
from tests.spark_sim.server import SparkSim


@pytest.fixture
async def recording(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A two-hour recording in a media folder HA may read."""
    return await make_recording(hass, tmp_path)


@pytest.fixture
async def entry(hass: HomeAssistant, spark_sim: SparkSim) -> MockConfigEntry:
    """The simulated Spark without WhisperX (speakers go to Parakeet + Sortformer), fast GPU."""
    return await set_up_spark(hass, spark_sim)


async def test_two_hour_job_reports_progress_and_writes_files(
    hass: HomeAssistant, spark_sim: SparkSim, entry: MockConfigEntry, recording: Path
) -> None:
    """Answered at once; progress from Sortformer's windows rises to 100; one done event."""
    hub = async_entry_device(hass, entry.entry_id, (DOMAIN, entry.entry_id))
    assert hub is not None
    calls: list[ServiceCall] = async_mock_service(hass, "test", "automation")
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "trigger": {
                    "platform": "device",
                    "domain": DOMAIN,
                    "device_id": hub.id,
                    "type": "transcription_done",
                },
                "action": {
                    "service": "test.automation",
                    "data_template": {"text": "{{ trigger.event.data.text }}"},
                },
            }
        },
    )
    spark_sim.states["parakeet"].transcript = " ".join(f"sentence {n}." for n in range(200))
    sensor = transcription_sensor(hass, entry)
    states: list[State] = []

    @callback
    def on_state(event: Event[Any]) -> None:
        if event.data["entity_id"] == sensor and event.data["new_state"] is not None:
            states.append(event.data["new_state"])

    hass.bus.async_listen("state_changed", on_state)
    done = collect_events(hass, "spark_audio_transcription_done")
    failed = collect_events(hass, "spark_audio_transcription_failed")

    response: Any = await hass.services.async_call(
        DOMAIN,
        "transcribe",
        {"media": str(recording), "speakers": True, "write": ["json", "srt"], "wait": False},
        blocking=True,
        return_response=True,
    )
    assert set(response) == {"job_id"}
    await wait_until(hass, lambda: bool(done or failed))
    assert failed == []
    assert len(done) == 1
    event = done[0]
    assert event["job_id"] == response["job_id"]
    assert event["device_id"] == hub.id
    assert event["duration"] == pytest.approx(HOURS_2, abs=1)
    assert event["speakers"]
    files = [Path(name) for name in event["files"]]
    assert files == [recording.with_suffix(".json"), recording.with_suffix(".srt")]
    written = json.loads(await hass.async_add_executor_job(files[0].read_text))
    assert event["speakers"] == written["speakers_detected"]
    assert event["text"] == " ".join(s["text"] for s in written["segments"])[:500]
    assert len(event["text"]) == 500  # two hours of speech: the text is cut
    assert all(await hass.async_add_executor_job(lambda: [f.stat().st_size > 0 for f in files]))
    assert not list(recording.parent.glob("*.part"))

    running = [s for s in states if s.state == "running"]
    percents = [s.attributes["percent"] for s in running]
    assert percents == sorted(percents)
    assert percents[-1] == 100
    assert len(set(percents)) >= 10  # one step per Sortformer window (14 for two hours)
    assert diarize_calls(spark_sim) >= 13
    assert running[0].attributes["media"] == str(recording)
    assert running[0].attributes["model"] == "parakeet"
    assert any(s.attributes["eta"] is not None for s in running)
    final = hass.states.get(sensor)
    assert final is not None
    assert final.state == "idle"
    assert final.attributes["queued"] == 0
    assert [c.data["text"] for c in calls] == [event["text"]]
    await hass.async_block_till_done()
    assert len(done) == 1


def job_calls(sim: SparkSim) -> int:
    """The jobs' unit and window requests (deep checks' probes are named otherwise)."""
    return sum(
        1
        for r in sim.states["parakeet"].requests
        if re.fullmatch(r"(unit|window)\d+\.wav", r.file_name or "")
    )


async def test_cancel_stops_the_backend_and_leaves_no_files(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    entry: MockConfigEntry,
    recording: Path,
    hass_read_only_user: User,
) -> None:
    """One job runs per backend, the next waits; both cancel cleanly (admins only).

    The simulated Parakeet is made slow (an hour per answer) so the first job is
    provably in flight at its first request (a transcription unit or a Sortformer
    window: they take turns) when it is cancelled.
    """
    sensor = transcription_sensor(hass, entry)
    failed = collect_events(hass, "spark_audio_transcription_failed")
    done = collect_events(hass, "spark_audio_transcription_done")
    parakeet = spark_sim.states["parakeet"]
    parakeet.slow_seconds = 3600
    parakeet.fault = Fault.SLOW
    parakeet.requests.clear()
    request = {"media": str(recording), "speakers": True, "write": ["vtt"], "wait": False}
    first: Any = await hass.services.async_call(
        DOMAIN, "transcribe", request, blocking=True, return_response=True
    )
    second: Any = await hass.services.async_call(
        DOMAIN, "transcribe", request, blocking=True, return_response=True
    )
    await wait_until(hass, lambda: job_calls(spark_sim) == 1)
    state = hass.states.get(sensor)
    assert state is not None
    assert state.state == "running"
    assert state.attributes["job_id"] == first["job_id"]
    assert state.attributes["queued"] == 1
    assert state.attributes["queue"] == [{"job_id": second["job_id"], "media": str(recording)}]
    assert untranslated_attributes(hass) == {}  # the running job's details have English text

    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN,
            "cancel_transcription",
            {"job_id": first["job_id"]},
            blocking=True,
            context=Context(user_id=hass_read_only_user.id),
        )
    await hass.services.async_call(
        DOMAIN, "cancel_transcription", {"job_id": second["job_id"]}, blocking=True
    )
    assert [e["job_id"] for e in failed] == [second["job_id"]]
    await hass.services.async_call(
        DOMAIN, "cancel_transcription", {"job_id": first["job_id"]}, blocking=True
    )
    await hass.async_block_till_done()
    assert [(e["job_id"], e["error"]) for e in failed] == [
        (second["job_id"], "Cancelled"),
        (first["job_id"], "Cancelled"),
    ]
    assert done == []
    # The first request only (a unit; the windows wait their turn); the queued job never ran.
    assert job_calls(spark_sim) == 1
    assert sorted(p.name for p in recording.parent.iterdir()) == ["meeting.wav"]
    state = hass.states.get(sensor)
    assert state is not None
    assert (state.state, state.attributes["queued"]) == ("idle", 0)
    parakeet.fault = Fault.NONE


def stored_job(job_id: str, media: Path) -> dict[str, Any]:
    """A job as the Store keeps it while it is queued or running (speakers, an SRT file)."""
    options = {"media": str(media), "speakers": True, "write": ["srt"], "model": "parakeet"}
    return {
        "job_id": job_id,
        "entry_id": "01SPARKENTRY",
        "backend": "parakeet",
        "path": str(media),
        "options": options,
    }


def restart_with(hass_storage: dict[str, Any], *jobs: dict[str, Any]) -> None:
    """What HA finds at start after a restart that cut these jobs short."""
    hass_storage[f"{DOMAIN}.jobs"] = {
        "version": 1,
        "key": f"{DOMAIN}.jobs",
        "data": {"jobs": list(jobs)},
    }


async def set_up_spark(hass: HomeAssistant, spark_sim: SparkSim) -> MockConfigEntry:
    """The Spark without WhisperX, set up (in a restart test: after the Store was written)."""
    spark_sim.states["parakeet"].rtf = 0.0
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="127.0.0.1",
        unique_id="127.0.0.1",
        data=entry_data(spark_sim, **{conf_enabled(SparkService.WHISPERX): False}),
        entry_id="01SPARKENTRY",
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def wait_for_no_stored_jobs(hass: HomeAssistant, hass_storage: dict[str, Any]) -> None:
    """Until the jobs Store (saved a second after each change) holds no job; times out if never."""

    def empty() -> bool:
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=5))
        return bool(hass_storage[f"{DOMAIN}.jobs"]["data"]["jobs"] == [])

    await wait_until(hass, empty)


async def test_a_job_cut_short_by_a_restart_runs_again(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    hass_storage: dict[str, Any],
    recording: Path,
) -> None:
    """The Store still holds a running job at start: its partial file goes, it runs again from
    the start once its Spark is set up, and its done event fires once."""
    partial = recording.with_suffix(".srt.0123456789ab.part")
    legacy = recording.with_suffix(".srt.part")  # the name versions before 0.3 wrote
    for part in (partial, legacy):
        await hass.async_add_executor_job(part.write_text, "1\n00:00:00,000 --> ")
    restart_with(hass_storage, stored_job("cut-short", recording))
    done = collect_events(hass, "spark_audio_transcription_done")
    failed = collect_events(hass, "spark_audio_transcription_failed")
    entry = await set_up_spark(hass, spark_sim)
    await wait_until(hass, lambda: bool(done or failed))
    assert failed == []
    assert [(e["job_id"], e["files"]) for e in done] == [
        ("cut-short", [str(recording.with_suffix(".srt"))])
    ]
    caption = await hass.async_add_executor_job(recording.with_suffix(".srt").read_text)
    assert caption.startswith("1\n00:00:00,000 --> ")
    assert not await hass.async_add_executor_job(partial.exists)
    assert not await hass.async_add_executor_job(legacy.exists)
    assert diarize_calls(spark_sim) >= 13  # the whole recording again, not a resumed tail
    await wait_for_no_stored_jobs(hass, hass_storage)
    assert len(done) == 1
    state = hass.states.get(transcription_sensor(hass, entry))
    assert state is not None
    assert state.state == "idle"


async def test_jobs_whose_media_or_spark_is_gone_are_reported_failed_once(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    hass_storage: dict[str, Any],
    recording: Path,
) -> None:
    gone = recording.with_name("deleted.wav")
    orphan = {**stored_job("orphan", recording), "entry_id": "01REMOVEDSPARK"}
    restart_with(hass_storage, stored_job("no-media", gone), orphan)
    done = collect_events(hass, "spark_audio_transcription_done")
    failed = collect_events(hass, "spark_audio_transcription_failed")
    await set_up_spark(hass, spark_sim)
    await wait_for_no_stored_jobs(hass, hass_storage)
    assert sorted((e["job_id"], e["media"], e["error"]) for e in failed) == [
        ("no-media", str(gone), MEDIA_GONE),
        ("orphan", str(recording), SPARK_GONE),
    ]
    assert done == []
    assert diarize_calls(spark_sim) == 0


async def test_cancel_of_an_unknown_job_is_a_clear_error(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """No traceback: a translated validation error naming the job id."""

    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN, "cancel_transcription", {"job_id": "nope"}, blocking=True
        )
    assert raised.value.translation_key == "unknown_job"


async def test_users_cancel_their_own_jobs_admins_any(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    entry: MockConfigEntry,
    recording: Path,
    hass_read_only_user: User,
    hass_admin_user: User,
) -> None:
    """A read-only user cancels what they queued, not someone else's; an admin cancels any."""
    parakeet = spark_sim.states["parakeet"]
    parakeet.slow_seconds = 3600
    parakeet.fault = Fault.SLOW
    request = {"media": str(recording), "speakers": True, "write": ["vtt"], "wait": False}
    reader = Context(user_id=hass_read_only_user.id)
    admin = Context(user_id=hass_admin_user.id)
    theirs: Any = await hass.services.async_call(
        DOMAIN, "transcribe", request, blocking=True, return_response=True, context=admin
    )
    mine: Any = await hass.services.async_call(
        DOMAIN, "transcribe", request, blocking=True, return_response=True, context=reader
    )
    failed = collect_events(hass, "spark_audio_transcription_failed")
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN,
            "cancel_transcription",
            {"job_id": theirs["job_id"]},
            blocking=True,
            context=reader,
        )
    await hass.services.async_call(
        DOMAIN, "cancel_transcription", {"job_id": mine["job_id"]}, blocking=True, context=reader
    )
    await hass.services.async_call(
        DOMAIN, "cancel_transcription", {"job_id": theirs["job_id"]}, blocking=True, context=admin
    )
    await hass.async_block_till_done()
    assert [e["job_id"] for e in failed] == [mine["job_id"], theirs["job_id"]]
    parakeet.fault = Fault.NONE


async def test_who_queued_a_job_is_kept_across_a_restart(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    recording: Path,
    hass_read_only_user: User,
) -> None:
    """A job the Store brought back still belongs to who queued it: they may cancel it,
    another (non-admin) user may not.

    Its Spark's entry is there but disabled, so the job stays queued while the test cancels it.
    """
    guest = await hass.auth.async_create_user("Guest", group_ids=[GROUP_ID_READ_ONLY])
    restart_with(
        hass_storage, {**stored_job("theirs", recording), "user_id": hass_read_only_user.id}
    )
    MockConfigEntry(
        domain=DOMAIN,
        unique_id="127.0.0.1",
        entry_id="01SPARKENTRY",
        disabled_by=ConfigEntryDisabler.USER,
    ).add_to_hass(hass)
    failed = collect_events(hass, "spark_audio_transcription_failed")
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    job = hass.data[JOBS_KEY].jobs["theirs"]
    assert (job.user_id, job.stored()["user_id"]) == (hass_read_only_user.id,) * 2
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN,
            "cancel_transcription",
            {"job_id": "theirs"},
            blocking=True,
            context=Context(user_id=guest.id),
        )
    await hass.services.async_call(
        DOMAIN,
        "cancel_transcription",
        {"job_id": "theirs"},
        blocking=True,
        context=Context(user_id=hass_read_only_user.id),
    )
    assert [e["job_id"] for e in failed] == ["theirs"]
    assert hass.data[JOBS_KEY].jobs == {}


async def test_the_queue_is_bounded_per_user_and_in_all(
    hass: HomeAssistant,
    spark_sim: SparkSim,
    entry: MockConfigEntry,
    recording: Path,
    hass_read_only_user: User,
) -> None:
    """Past the per-user cap that user is refused while others (and automations) are not;
    past the overall cap everyone is. Cancelling makes room again."""
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, "max_jobs": 3, "max_jobs_per_user": 2}
    )
    await hass.async_block_till_done()
    parakeet = spark_sim.states["parakeet"]
    parakeet.slow_seconds = 3600
    parakeet.fault = Fault.SLOW
    request = {"media": str(recording), "speakers": True, "write": ["vtt"], "wait": False}
    reader = Context(user_id=hass_read_only_user.id)

    async def submit(context: Context | None = None) -> Any:
        return await hass.services.async_call(
            DOMAIN, "transcribe", request, blocking=True, return_response=True, context=context
        )

    first = await submit(reader)
    await submit(reader)
    with pytest.raises(ServiceValidationError) as refused:
        await submit(reader)
    assert refused.value.translation_key == "too_many_jobs_user"
    await submit()  # an automation: only the total counts
    with pytest.raises(ServiceValidationError) as full:
        await submit()
    assert full.value.translation_key == "too_many_jobs"
    await hass.services.async_call(
        DOMAIN, "cancel_transcription", {"job_id": first["job_id"]}, blocking=True, context=reader
    )
    await submit(reader)  # room again
    for job_id in list(hass.data[JOBS_KEY].jobs):
        await hass.services.async_call(
            DOMAIN, "cancel_transcription", {"job_id": job_id}, blocking=True
        )
    parakeet.fault = Fault.NONE
