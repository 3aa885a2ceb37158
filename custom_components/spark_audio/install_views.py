"""Admin-only HTTP endpoints for the WhisperX install: status, start, job, cancel, live SSE."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from homeassistant.components.http.decorators import require_admin
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.http import HomeAssistantView

from .const import SparkService
from .data import SparkAudioConfigEntry, loaded_entries
from .spark.installer.job import InstallJob
from .whisperx_install import async_start_install, install_state, manager

BASE = "/api/spark_audio/whisperx"


def async_register_install_views(hass: HomeAssistant) -> None:
    """Register the install endpoints (once per HA start)."""
    for view in (StatusView, InstallView, JobView, JobStreamView):
        hass.http.register_view(view())


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _entry_status(hass: HomeAssistant, entry: SparkAudioConfigEntry) -> dict[str, Any]:
    whisperx = entry.runtime_data.coordinators.get(SparkService.WHISPERX)
    job = install_state(hass, entry.entry_id).job
    health = whisperx.data.health if whisperx and whisperx.data else None
    return {
        "entry_id": entry.entry_id,
        "host": entry.runtime_data.host,
        "ssh_configured": entry.runtime_data.ssh is not None,
        "installed": whisperx is not None,
        "healthy": bool(whisperx and whisperx.last_update_success),
        "version": health.version if health else None,
        "whisper_loaded": bool(health and health.details.get("whisper_loaded")),
        "diarizer_loaded": bool(health and health.details.get("diarizer_loaded")),
        "job": job.as_dict() if job is not None else None,
    }


class StatusView(HomeAssistantView):
    """``GET /status``: WhisperX and install state of every loaded Spark."""

    url = f"{BASE}/status"
    name = "api:spark_audio:whisperx:status"

    @require_admin
    async def get(self, request: web.Request) -> web.Response:
        """Status per Spark."""
        hass: HomeAssistant = request.app["hass"]
        return self.json({"sparks": [_entry_status(hass, e) for e in loaded_entries(hass)]})


class InstallView(HomeAssistantView):
    """``POST /install``: start an install (body ``{"entry_id": ...}``, optional with one Spark)."""

    url = f"{BASE}/install"
    name = "api:spark_audio:whisperx:install"

    @require_admin
    async def post(self, request: web.Request) -> web.Response:
        """202 with the job id; 409 while one runs on that Spark (from any HA)."""
        hass: HomeAssistant = request.app["hass"]
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return _error(400, "The body must be JSON")
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object")
        entries = loaded_entries(hass)
        entry_id = body.get("entry_id")
        if entry_id is None and len(entries) == 1:
            entry_id = entries[0].entry_id
        entry = next((e for e in entries if e.entry_id == entry_id), None)
        if entry is None:
            return _error(404 if entry_id else 400, "Name a loaded Spark entry as entry_id")
        running = manager(hass).active(entry.entry_id)
        if running is not None and not running.done:
            return web.json_response(
                {"error": "An install is already running", "job_id": running.id}, status=409
            )
        try:
            job = await async_start_install(hass, entry)
        except HomeAssistantError as err:
            # Translated (e.g. an unusable stored HF token): the caller can act on it.
            body = {"error": str(err), "code": err.translation_key}
            if err.translation_key == "install_in_progress":
                placeholders = err.translation_placeholders or {}
                return web.json_response({**body, "job_id": placeholders.get("job_id")}, status=409)
            return web.json_response(body, status=400)
        return web.json_response(job.as_dict(), status=202)


def _job(hass: HomeAssistant, job_id: str) -> InstallJob | None:
    return manager(hass).get(job_id)


class JobView(HomeAssistantView):
    """``GET /install/{job_id}``: the job's phase, percent, elapsed time and log."""

    url = f"{BASE}/install/{{job_id}}"
    name = "api:spark_audio:whisperx:job"

    @require_admin
    async def get(self, request: web.Request, job_id: str) -> web.Response:
        """The job, or 404."""
        job = _job(request.app["hass"], job_id)
        if job is None:
            return _error(404, f"No install job {job_id}")
        return self.json({**job.as_dict(), "log": job.lines})

    @require_admin
    async def delete(self, request: web.Request, job_id: str) -> web.Response:
        """Cancel the job: its build on the Spark is stopped; 409 once it has ended."""
        job = _job(request.app["hass"], job_id)
        if job is None:
            return _error(404, f"No install job {job_id}")
        if not job.cancel():
            return _error(409, f"Install job {job_id} has already ended")
        await job.wait()
        return self.json(job.as_dict())


class JobStreamView(HomeAssistantView):
    """``GET /install/{job_id}/stream``: Server-Sent Events, one per phase change or log line."""

    url = f"{BASE}/install/{{job_id}}/stream"
    name = "api:spark_audio:whisperx:job_stream"

    @require_admin
    async def get(self, request: web.Request, job_id: str) -> web.StreamResponse:
        """Replay the log so far, then follow live; the last event is the final state."""
        job = _job(request.app["hass"], job_id)
        if job is None:
            return _error(404, f"No install job {job_id}")
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        async for update in job.updates(replay=True):
            event = "final" if update.final else ("log" if update.line is not None else "phase")
            payload = {
                "phase": str(update.phase),
                "percent": round(update.percent, 1),
                "elapsed": round(update.elapsed, 1),
                "line": update.line,
                "error": update.error,
            }
            await response.write(f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode())
        await response.write_eof()
        return response
