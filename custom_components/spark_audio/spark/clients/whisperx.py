"""Client for our WhisperX container (faster-whisper + pyannote + wav2vec2)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import aiohttp

from ..errors import SparkBackendFaultError, SparkResponseError
from ..models import (
    ServiceHealth,
    ServiceStatus,
    SpeakerSegment,
    SpeakerTranscript,
    load_fields,
)
from .http import HEALTH_TIMEOUT, MAX_STATUS_BYTES, read_json
from .multipart import AudioSource, multipart_form
from .transcription import OpenAITranscriptionClient

DEFAULT_PORT = 8002

# Languages Whisper was trained on (ISO 639-1 where one exists).
LANGUAGES: tuple[str, ...] = (
    "af", "am", "ar", "as", "az", "ba", "be", "bg", "bn", "bo", "br", "bs", "ca",
    "cs", "cy", "da", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fo", "fr",
    "gl", "gu", "ha", "haw", "he", "hi", "hr", "ht", "hu", "hy", "id", "is", "it",
    "ja", "jw", "ka", "kk", "km", "kn", "ko", "la", "lb", "ln", "lo", "lt", "lv",
    "mg", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "ne", "nl", "nn", "no",
    "oc", "pa", "pl", "ps", "pt", "ro", "ru", "sa", "sd", "si", "sk", "sl", "sn",
    "so", "sq", "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tk", "tl", "tr",
    "tt", "uk", "ur", "uz", "vi", "yi", "yo", "yue", "zh",
)  # fmt: skip


background_work: ContextVar[bool] = ContextVar("spark_audio_background_work", default=False)
"""Set by the background job runner: this task's WhisperX jobs are ``priority=background``.

The container then runs them in units and serves voice commands between units,
so an Assist command waits for at most one unit of a long job, never all of it.
A context variable, like the job's progress: every call a job makes inherits it,
and nothing between the runner and this client grows a parameter. Containers
before 0.3.0 ignore the field.
"""


def priority_fields() -> list[tuple[str, str | None]]:
    """``priority=background`` inside a background job; nothing (interactive) elsewhere."""
    return [("priority", "background")] if background_work.get() else []


class WhisperXClient(OpenAITranscriptionClient):
    """Talks to one WhisperX service; transcription comes from the shared base.

    ``api_key`` goes out as ``Authorization: Bearer`` on every request. Without
    one no header is sent: containers installed before keys existed run open.
    """

    accepts_prompt = True
    """The container hands ``prompt`` to faster-whisper as ``initial_prompt``."""

    def _request_fields(self) -> list[tuple[str, str | None]]:
        """A background job's requests say so (`background_work`)."""
        return priority_fields()

    async def status(self) -> ServiceStatus:
        """The health endpoint's answer; this service has nothing else to report."""
        return ServiceStatus(await self.health())

    async def health(self) -> ServiceHealth:
        """``GET /health``: ready once the Whisper model is loaded; busy/queue, device, self-test.

        A 503 with the container's health body (CUDA expected and missing) is a
        not-ready health whose ``problem`` says why; any other 503 is a fault.
        """
        async with self._request(
            "GET", "/health", timeout=HEALTH_TIMEOUT, answered=(HTTPStatus.SERVICE_UNAVAILABLE,)
        ) as response:
            unavailable = response.status == HTTPStatus.SERVICE_UNAVAILABLE
            try:
                data = await read_json(response, MAX_STATUS_BYTES)
            except SparkResponseError as err:
                if unavailable:
                    raise _unavailable("not the service's health") from err
                raise
        problem = data.get("device_error")
        if unavailable and not isinstance(problem, str):
            raise _unavailable(data.get("detail") or "Service Unavailable")
        if "whisper_loaded" not in data:
            raise SparkResponseError("health has no whisper_loaded field", status=200)
        model = data.get("model")
        version = data.get("version")
        return ServiceHealth(
            ready=bool(data["whisper_loaded"]) and not unavailable,
            model=f"whisperx-{model}" if model else None,
            version=str(version) if version else None,
            details=data,
            problem=problem if isinstance(problem, str) else None,
            **load_fields(data),
        )

    async def transcribe_with_speakers(
        self,
        audio: AudioSource,
        *,
        language: str | None = None,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        filename: str = "audio.wav",
        content_type: str = "audio/wav",
        timeout: float | None = None,
        job_id: str | None = None,
        return_embeddings: bool = False,
    ) -> SpeakerTranscript:
        """``POST /v1/audio/transcribe-with-speakers``: words grouped by speaker.

        With ``job_id`` the container tracks the job's progress under that id
        (``job_progress``). With ``return_embeddings`` it also answers one voice
        embedding per detected speaker (``speaker_embeddings``), to name them.
        """
        fields = {
            "language": language,
            "num_speakers": _opt(num_speakers),
            "min_speakers": _opt(min_speakers),
            "max_speakers": _opt(max_speakers),
            "return_embeddings": "true" if return_embeddings else None,
            **dict(priority_fields()),
        }
        form = multipart_form(fields, audio=audio, filename=filename, content_type=content_type)
        async with self._request(
            "POST",
            "/v1/audio/transcribe-with-speakers",
            data=form,
            timeout=timeout,
            headers={JOB_HEADER: job_id} if job_id else None,
        ) as response:
            data = await read_json(response)
        return parse_speaker_transcript(data)

    async def embedding(
        self,
        audio: AudioSource,
        *,
        filename: str = "audio.wav",
        content_type: str = "audio/wav",
        timeout: float | None = None,
    ) -> ClipEmbedding:
        """``POST /v1/audio/embeddings``: the voice embedding of one clip (the diarizer's model).

        A container without its diarization pipeline answers 503 (a SparkResponseError).
        """
        form = multipart_form({}, audio=audio, filename=filename, content_type=content_type)
        async with self._request(
            "POST", "/v1/audio/embeddings", data=form, timeout=timeout
        ) as response:
            data = await read_json(response)
        try:
            vector = _vector(data["embedding"])
            duration = float(data.get("duration") or 0.0)
        except (KeyError, TypeError, ValueError) as err:
            raise SparkResponseError(f"malformed embedding: {err}", status=200) from err
        return ClipEmbedding(vector=vector, duration=duration)

    async def job_progress(self, job_id: str) -> JobProgress | None:
        """``GET /v1/jobs/{id}``: the phase and percent of a job; None when not known.

        Containers from before progress existed answer 404: no progress then.
        """
        try:
            data = await self._get_json(f"/v1/jobs/{job_id}", timeout=HEALTH_TIMEOUT)
        except SparkResponseError as err:
            if err.status == HTTPStatus.NOT_FOUND:
                return None
            raise
        return JobProgress(
            phase=str(data.get("phase") or ""), percent=float(data.get("percent") or 0)
        )

    async def cancel_job(self, job_id: str) -> None:
        """``DELETE /v1/jobs/{id}``: the container stops the job at its next progress report.

        A job it no longer knows (finished, or a container without jobs) is fine.
        """
        try:
            async with self._request("DELETE", f"/v1/jobs/{job_id}", timeout=HEALTH_TIMEOUT):
                pass
        except SparkResponseError as err:
            if err.status != HTTPStatus.NOT_FOUND:
                raise


JOB_HEADER = "X-Job-Id"


def _unavailable(detail: object) -> SparkBackendFaultError:
    """A 503 from /health that is not the container's own health body (a proxy, say)."""
    return SparkBackendFaultError(f"GET /health -> 503: {detail}", status=503)


@dataclass(frozen=True, slots=True)
class WhisperXDevice:
    """Where WhisperX runs, as its /health says; containers before 0.3.0 report the device only."""

    device: str | None
    compute_type: str | None
    self_test: str | None
    error: str | None
    """Why it refuses to run: CUDA expected and missing (the 503's reason)."""

    @classmethod
    def of(cls, health: ServiceHealth) -> WhisperXDevice:
        """Read the device fields of a WhisperX health answer."""
        details = health.details
        device, compute = details.get("device"), details.get("compute_type")
        return cls(
            device=device if isinstance(device, str) else None,
            compute_type=compute if isinstance(compute, str) else None,
            self_test=health.self_test,
            error=health.problem,
        )

    @property
    def off_gpu(self) -> bool:
        """It runs on the CPU, or would have but for the missing CUDA (on a Spark: wrong)."""
        return self.device == "cpu" or self.error is not None

    @property
    def on_gpu(self) -> bool:
        """It runs on CUDA, as it should on a Spark."""
        return self.device == "cuda" and self.error is None


@dataclass(frozen=True, slots=True)
class JobProgress:
    """How far a WhisperX job is: its phase and overall percent."""

    phase: str
    percent: float


@dataclass(frozen=True, slots=True)
class ClipEmbedding:
    """The voice embedding of one clip, and how long the clip was (seconds)."""

    vector: tuple[float, ...]
    duration: float


def _vector(raw: Any) -> tuple[float, ...]:
    """A non-empty list of finite numbers, else ValueError/TypeError."""
    if not isinstance(raw, list) or not raw:
        raise ValueError("embedding is not a non-empty list")
    vector = tuple(float(v) for v in raw)
    if not all(math.isfinite(v) for v in vector):
        raise ValueError("embedding has non-finite values")
    return vector


def _opt(value: int | None) -> str | None:
    return None if value is None else str(value)


def parse_speaker_transcript(data: dict[str, Any]) -> SpeakerTranscript:
    """Read the predecessor's diarized-transcript shape."""
    try:
        segments = tuple(
            SpeakerSegment(
                start_ms=int(s["start_ms"]),
                end_ms=int(s["end_ms"]),
                speaker=str(s["speaker"]),
                text=str(s["text"]),
            )
            for s in data["segments"]
        )
        duration = float(data.get("duration") or 0.0)
    except (KeyError, TypeError, ValueError) as err:
        raise SparkResponseError(f"malformed speaker transcript: {err}", status=200) from err
    models = data.get("models")
    language = data.get("language")
    raw_embeddings = data.get("speaker_embeddings")
    try:
        embeddings = (
            {str(label): _vector(v) for label, v in raw_embeddings.items()}
            if isinstance(raw_embeddings, dict)
            else {}
        )
    except (TypeError, ValueError) as err:
        raise SparkResponseError(f"malformed speaker embeddings: {err}", status=200) from err
    return SpeakerTranscript(
        duration=duration,
        language=language if isinstance(language, str) else None,
        speakers_detected=tuple(str(s) for s in data.get("speakers_detected") or ()),
        segments=segments,
        models={str(k): str(v) for k, v in models.items()} if isinstance(models, dict) else {},
        speaker_embeddings=embeddings,
    )


type HealthCheck = Callable[[], Awaitable[bool]]
"""``async () -> bool``: True once a (new) service reports its models loaded."""


def whisperx_health_check(
    session: aiohttp.ClientSession, host: str, port: int, *, require_diarizer: bool
) -> HealthCheck:
    """The default readiness test: WhisperX ``/health`` says whisper (and diarizer) loaded."""
    client = WhisperXClient(session, host, port)

    async def check() -> bool:
        health = await client.health()
        if not health.ready:
            return False
        return not require_diarizer or bool(health.details.get("diarizer_loaded"))

    return check
