"""The job endpoints: diarized and OpenAI-style transcription, and a job's progress."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from . import forms
from .admission import SPEAKERS_PATH, TRANSCRIBE_PATH
from .engine import DIARIZATION_MODEL, Diarization, DiarizationUnavailable, Transcript
from .formats import CONTENT_TYPES, RESPONSE_FORMATS, render
from .gate import between_units
from .merge import normalise_speakers, speaker_blocks, speaker_names
from .progress import JOB_HEADER, job_id_of, tracked
from .service import Service, guarded, run_job, service_of

router = APIRouter()


@router.post(SPEAKERS_PATH, response_model=None)
async def transcribe_with_speakers(
    request: Request,
    file: Annotated[UploadFile | None, File()] = None,
    language: Annotated[str | None, Form()] = None,
    num_speakers: Annotated[str | None, Form()] = None,
    min_speakers: Annotated[str | None, Form()] = None,
    max_speakers: Annotated[str | None, Form()] = None,
    return_embeddings: Annotated[bool, Form()] = False,
    priority: Annotated[str | None, Form()] = None,
) -> Response:
    """Words grouped into speaker blocks (the predecessor's shape).

    ``return_embeddings`` adds ``speaker_embeddings``: each detected speaker's
    voice embedding (pyannote's cluster centroid), so a client can name them.
    ``priority=background`` runs it in units that let voice commands in between.
    """
    parsed: dict[str, Any] = {}
    svc = service_of(request)

    def validate() -> None:
        parsed["job_id"] = _job_id(request)
        parsed["language"] = forms.language(language)
        parsed["priority"] = forms.priority(priority)
        parsed["num"] = forms.optional_int("num_speakers", num_speakers)
        low = parsed["min"] = forms.optional_int("min_speakers", min_speakers)
        high = parsed["max"] = forms.optional_int("max_speakers", max_speakers)
        if low is not None and high is not None and low > high:
            raise forms.BadRequest("min_speakers must be <= max_speakers")
        if not svc.engine.diarizer_loaded:
            raise DiarizationUnavailable(svc.engine.diarizer_off_reason or "not loaded")

    async def work(svc: Service, path: Path) -> Response:
        def job() -> tuple[Transcript, Diarization]:
            transcript = svc.engine.transcribe(str(path), parsed["language"], words=True)
            between_units()  # diarization is one more unit of a background job
            counts = (str(path), parsed["num"], parsed["min"], parsed["max"])
            if return_embeddings:
                return transcript, svc.engine.diarize_with_embeddings(*counts)
            return transcript, Diarization(tuple(svc.engine.diarize(*counts)))

        with tracked(svc.jobs, parsed["job_id"]):
            transcript, diarization = await run_job(svc, job, parsed["priority"])
        names = speaker_names(diarization.turns)
        blocks = speaker_blocks(transcript.words, normalise_speakers(diarization.turns))
        detected = sorted({str(b["speaker"]) for b in blocks})
        body: dict[str, Any] = {
            "duration": round(transcript.duration, 3),
            "language": transcript.language,
            "speakers_detected": detected,
            "segments": blocks,
            "models": {
                "transcription": f"whisperx-{svc.engine.model}",
                "diarization": DIARIZATION_MODEL,
            },
        }
        if return_embeddings:
            body["speaker_embeddings"] = {
                names[label]: list(vector)
                for label, vector in diarization.embeddings.items()
                if names.get(label) in detected
            }
        return JSONResponse(body)

    return await guarded(svc, file, validate, work)


@router.post(TRANSCRIBE_PATH, response_model=None)
async def transcriptions(
    request: Request,
    file: Annotated[UploadFile | None, File()] = None,
    model: Annotated[str | None, Form()] = None,
    language: Annotated[str | None, Form()] = None,
    prompt: Annotated[str | None, Form()] = None,
    response_format: Annotated[str | None, Form()] = None,
    temperature: Annotated[str | None, Form()] = None,
    timestamp_granularities: Annotated[
        list[str] | None, Form(alias="timestamp_granularities[]")
    ] = None,
    priority: Annotated[str | None, Form()] = None,
) -> Response:
    """OpenAI-compatible; word timings (alignment) only when ``word`` granularity is asked.

    ``priority=background`` (ours, not OpenAI's) runs it in units that let voice
    commands in between.
    """
    parsed: dict[str, Any] = {}
    del model  # one model per container; the field is accepted for compatibility

    def validate() -> None:
        parsed["job_id"] = _job_id(request)
        parsed["language"] = forms.language(language)
        parsed["priority"] = forms.priority(priority)
        fmt = (response_format or "json").strip() or "json"
        if fmt not in RESPONSE_FORMATS:
            raise forms.BadRequest(
                f"Unsupported response_format {fmt[:20]!r}; use one of: "
                + ", ".join(RESPONSE_FORMATS)
            )
        parsed["format"] = fmt
        forms.temperature(temperature)
        granularity = forms.granularities(timestamp_granularities)
        parsed["words"] = fmt == "verbose_json" and "word" in granularity

    async def work(svc: Service, path: Path) -> Response:
        fmt = parsed["format"]
        with tracked(svc.jobs, parsed["job_id"]):
            transcript = await run_job(
                svc,
                lambda: svc.engine.transcribe(
                    str(path), parsed["language"], words=parsed["words"], prompt=prompt or None
                ),
                parsed["priority"],
            )
        body = render(fmt, transcript, f"whisperx-{svc.engine.model}", words=parsed["words"])
        if isinstance(body, dict):
            return JSONResponse(body)
        return Response(body, media_type=CONTENT_TYPES[fmt])

    return await guarded(service_of(request), file, validate, work)


@router.get("/v1/jobs/{job_id}", response_model=None)
async def job_progress(request: Request, job_id: str) -> Response:
    """Progress of a job the client started with an ``X-Job-Id`` header (404 when unknown)."""
    state = service_of(request).jobs.get(job_id)
    if state is None:
        return JSONResponse({"detail": "No such job (or it finished long ago)"}, status_code=404)
    return JSONResponse(state.as_json())


@router.delete("/v1/jobs/{job_id}", response_model=None)
async def cancel_job(request: Request, job_id: str) -> Response:
    """Cancel a job: it stops at its next progress report and answers 409 (404 when unknown)."""
    state = service_of(request).jobs.cancel(job_id)
    if state is None:
        return JSONResponse({"detail": "No such job (or it finished long ago)"}, status_code=404)
    return JSONResponse(state.as_json() | {"cancelled": True})


def _job_id(request: Request) -> str | None:
    try:
        return job_id_of(request.headers.get(JOB_HEADER))
    except ValueError as err:
        raise forms.BadRequest(str(err)) from err
