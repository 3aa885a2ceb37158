"""Background transcription jobs: a queue per Spark and backend, progress, events, a Store.

``spark_audio.transcribe`` with ``wait: false`` lands here. A job is an HA
background task (not the caller's), so it outlives the browser or automation
that started it. One job runs per Spark and backend at a time: the GPU is the
limit, and a second long file would only slow the first. Queued and running
jobs are kept in a ``Store``: after an HA restart they run again (a running one
from the start, its unfinished caption files removed first), unless their media
is gone, which is reported as a failure. Either way each job's done or failed
event fires once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Context, HomeAssistant, ServiceCall, ServiceResponse, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError, Unauthorized
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from ..const import DOMAIN, EVENT_TRANSCRIPTION_DONE, EVENT_TRANSCRIPTION_FAILED, SparkService
from ..data import PARAKEET_SLOT, WHISPERX_SLOT, ServiceSlot, async_entry_device
from ..spark.clients.transcription import OpenAITranscriptionClient
from ..spark.clients.whisperx import background_work
from .action import (
    MODELS,
    caption_targets,
    check_caption_targets,
    done_event_data,
    resolve_media_path,
    run_transcription,
)
from .caption_files import remove_parts
from .job_limits import job_limits
from .progress import current_progress
from .routing import offering, pinned_spark
from .speakers import whisperx_ready

_LOGGER = logging.getLogger(__name__)
JOBS_KEY: HassKey[TranscriptionJobs] = HassKey(f"{DOMAIN}_transcription_jobs")
STORAGE_VERSION = 1
SAVE_DELAY_S = 1.0
MEDIA_GONE = "The media file was removed while Home Assistant restarted"
SPARK_GONE = "The Spark of this job was removed while Home Assistant restarted"
CANCELLED = "Cancelled"


def jobs_signal(entry_id: str) -> str:
    """Dispatcher signal: the jobs of this Spark changed (the sensor rewrites its state)."""
    return f"{DOMAIN}_transcription_jobs_{entry_id}"


@dataclass
class Job:
    """One queued or running transcription."""

    job_id: str
    entry_id: str
    backend: SparkService
    path: Path
    options: dict[str, Any]
    queued_at: datetime = field(default_factory=dt_util.utcnow)
    started_at: datetime | None = None
    phase: str = "queued"
    percent: float = 0.0
    cancelled: bool = False
    user_id: str | None = None  # who queued it (None: an automation or the system)
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def media(self) -> str:
        """The media as the caller named it (a path or a media-source id)."""
        return str(self.options["media"])

    @property
    def targets(self) -> list[Path]:
        """The caption files this job writes."""
        return caption_targets(self.options, self.path)

    def stored(self) -> dict[str, Any]:
        """What the Store keeps: enough to report and clean up after a restart."""
        return {
            "job_id": self.job_id,
            "entry_id": self.entry_id,
            "backend": str(self.backend),
            "path": str(self.path),
            "options": self.options,
            "user_id": self.user_id,
        }


class TranscriptionJobs:
    """Every job of this HA instance, queued per (Spark, backend)."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Empty until ``async_load`` reports what a restart interrupted."""
        self.hass = hass
        self.jobs: dict[str, Job] = {}
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, f"{DOMAIN}.jobs")

    async def async_load(self) -> None:
        """Take back the jobs a restart cut short; they run again once HA has started.

        Their unfinished caption files are removed now. They are queued again
        when Home Assistant has started, so the Sparks' entries are set up and
        automations listening for the events (or the device triggers) are attached.
        """
        stored = await self._store.async_load() or {}
        cut_short = [
            Job(
                raw["job_id"],
                raw["entry_id"],
                SparkService(raw["backend"]),
                Path(raw["path"]),
                raw["options"],
                user_id=raw.get("user_id"),
            )
            for raw in stored.get("jobs", [])
        ]
        if not cut_short:
            return
        for job in cut_short:
            await self.hass.async_add_executor_job(remove_parts, job.targets)

        async def resume(hass: HomeAssistant) -> None:
            for job in cut_short:
                if hass.config_entries.async_get_entry(job.entry_id) is None:
                    self._fire_failed(job, SPARK_GONE)
                elif not await hass.async_add_executor_job(job.path.is_file):
                    self._fire_failed(job, MEDIA_GONE)
                else:
                    self.jobs[job.job_id] = job
            self._save()
            for job in cut_short:
                self._start_next(job.entry_id, job.backend)
                self._changed(job)

        async_at_started(self.hass, resume)

    @callback
    def async_spark_ready(self, entry_id: str) -> None:
        """The Spark's entry is set up: start its queued jobs (those a restart brought back)."""
        for backend in {job.backend for job in self.jobs.values() if job.entry_id == entry_id}:
            self._start_next(entry_id, backend)

    def for_entry(self, entry_id: str) -> list[Job]:
        """The jobs of one Spark, running first, then in queue order."""
        found = [job for job in self.jobs.values() if job.entry_id == entry_id]
        return sorted(found, key=lambda job: job.started_at is None)

    async def async_submit(self, call: ServiceCall) -> ServiceResponse:
        """Queue the call's transcription; answer its job id at once."""
        path = await resolve_media_path(self.hass, call.data["media"])
        await check_caption_targets(self.hass, call.data, path)
        slot = self._backend(call.data)
        backend = slot.service
        coordinators = offering(self.hass, slot)
        if not coordinators:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="transcription_no_spark",
                translation_placeholders={"service": str(backend)},
            )
        self._check_room(call.context.user_id)
        options = {key: value for key, value in call.data.items() if key != "wait"}
        options["media"] = call.data["media"]
        # A healthy Spark with the fewest jobs of this backend; then the shortest queue now.
        chosen = min(
            coordinators,
            key=lambda c: (
                not c.last_update_success,
                self._queued(c.config_entry.entry_id, backend),
            ),
        )
        entry_id = chosen.config_entry.entry_id
        job = Job(uuid4().hex, entry_id, backend, path, options, user_id=call.context.user_id)
        self.jobs[job.job_id] = job
        self._save()
        self._start_next(entry_id, backend)
        self._changed(job)
        return {"job_id": job.job_id}

    def _queued(self, entry_id: str, backend: SparkService) -> int:
        """How many jobs of ``backend`` this Spark holds, queued or running."""
        return sum(1 for j in self.jobs.values() if (j.entry_id, j.backend) == (entry_id, backend))

    def _check_room(self, user_id: str | None) -> None:
        """Refuse a job past the queue caps: in all, and for the calling user."""
        limits = job_limits(self.hass)
        if len(self.jobs) >= limits.max_jobs:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="too_many_jobs",
                translation_placeholders={"limit": str(limits.max_jobs)},
            )
        if user_id is not None:
            mine = sum(1 for job in self.jobs.values() if job.user_id == user_id)
            if mine >= limits.max_jobs_per_user:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="too_many_jobs_user",
                    translation_placeholders={"limit": str(limits.max_jobs_per_user)},
                )

    async def async_cancel(self, job_id: str, context: Context) -> None:
        """Stop a queued or running job; returns once its backend calls and files are gone.

        Users may cancel the jobs they queued, administrators (and automations) any job.
        """
        job = self.jobs.get(job_id)
        if job is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_job",
                translation_placeholders={"job_id": job_id},
            )
        if context.user_id is not None and context.user_id != job.user_id:
            user = await self.hass.auth.async_get_user(context.user_id)
            if user is None or not user.is_admin:
                raise Unauthorized(context=context)
        job.cancelled = True
        if job.task is None:  # still queued
            self._finish(job)
            self._fire_failed(job, CANCELLED)
            return
        job.task.cancel()
        await asyncio.wait([job.task])

    def _backend(self, data: Any) -> ServiceSlot[OpenAITranscriptionClient]:
        """The backend the call will use: speakers go to WhisperX when it is ready."""
        if data["speakers"] or data["write"]:
            return WHISPERX_SLOT if whisperx_ready(self.hass) else PARAKEET_SLOT
        return MODELS[data["model"]]

    def _start_next(self, entry_id: str, backend: SparkService) -> None:
        """Start the oldest queued job of this Spark and backend, unless one runs."""
        mine = [j for j in self.jobs.values() if (j.entry_id, j.backend) == (entry_id, backend)]
        if not mine or any(job.task is not None for job in mine):
            return
        entry = self.hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return  # not set up (yet): async_spark_ready starts the queue when it is
        job = mine[0]
        job.started_at = dt_util.utcnow()
        job.phase = "transcribing"
        job.task = self.hass.async_create_background_task(
            self._run(job), f"spark_audio transcription {job.job_id}"
        )

    async def _run(self, job: Job) -> None:
        """Run the job; report done or failed; start the next one."""
        current_progress.set(lambda fraction, phase: self._progress(job, fraction, phase))
        background_work.set(True)  # WhisperX lets voice commands in between its units
        try:
            with pinned_spark(job.entry_id):  # its own Spark's GPU; the others only as failover
                result = await run_transcription(self.hass, job.options, job.path)
        except asyncio.CancelledError:
            # No part files to remove here: the caption writer removes its own whatever
            # happens, and a process killed mid-write leaves them to the restart's clean-up.
            if not job.cancelled:
                raise  # HA is stopping: the Store keeps the job; it runs again after the restart
            self._fire_failed(job, CANCELLED)
        except HomeAssistantError as err:
            self._fire_failed(job, str(err))
        except Exception as err:
            _LOGGER.exception("Transcription job %s failed", job.job_id)
            self._fire_failed(job, repr(err))
        else:
            job.percent, job.phase = 100.0, "done"
            self._changed(job)
            event = done_event_data(job.media, job.path, result, job.job_id)
            self._fire(EVENT_TRANSCRIPTION_DONE, job, event)
        self._finish(job)

    def _progress(self, job: Job, fraction: float | None, phase: str | None) -> None:
        """Take progress from the backend; write the sensor on a new whole percent or phase."""
        before = (int(job.percent), job.phase)
        if fraction is not None:
            job.percent = max(job.percent, round(min(fraction, 1.0) * 100, 1))
        if phase is not None:
            job.phase = phase
        if (int(job.percent), job.phase) != before:
            self._changed(job)

    def _finish(self, job: Job) -> None:
        """Forget the job and start the next one of its queue."""
        self.jobs.pop(job.job_id, None)
        self._save()
        self._changed(job)
        self._start_next(job.entry_id, job.backend)

    def _changed(self, job: Job) -> None:
        async_dispatcher_send(self.hass, jobs_signal(job.entry_id))

    def _save(self) -> None:
        jobs = [job.stored() for job in self.jobs.values()]
        self._store.async_delay_save(lambda: {"jobs": jobs}, SAVE_DELAY_S)

    def _fire_failed(self, job: Job, error: str) -> None:
        self._fire(
            EVENT_TRANSCRIPTION_FAILED,
            job,
            {"job_id": job.job_id, "media": job.media, "error": error},
        )

    def _fire(self, event_type: str, job: Job, data: dict[str, Any]) -> None:
        """Fire with the Spark's hub device id, which the device triggers match."""
        device = async_entry_device(self.hass, job.entry_id, (DOMAIN, job.entry_id))
        data["device_id"] = device.id if device is not None else None
        data["entry_id"] = job.entry_id
        self.hass.bus.async_fire(event_type, data)
