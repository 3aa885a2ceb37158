"""HA-free clients for the speech services on an NVIDIA DGX Spark.

Nothing in this package imports Home Assistant: it is written as if it were a
library on PyPI, so the integration stays a thin adapter and the clients can be
tested (and reused) on their own.
"""

from .errors import (
    ServiceNotReadyError,
    SparkBackendFaultError,
    SparkConnectionError,
    SparkError,
    SparkResponseError,
    SparkTimeoutError,
)
from .http import SparkServiceClient
from .magpie import MagpieClient
from .models import (
    Diarization,
    DiarizationSegment,
    ServiceHealth,
    ServiceStatus,
    SpeakerSegment,
    SpeakerTranscript,
    Transcription,
    Voice,
    VoiceCatalog,
    Word,
)
from .parakeet import ParakeetClient
from .whisperx import WhisperXClient

__all__ = [
    "Diarization",
    "DiarizationSegment",
    "MagpieClient",
    "ParakeetClient",
    "ServiceHealth",
    "ServiceNotReadyError",
    "ServiceStatus",
    "SparkBackendFaultError",
    "SparkConnectionError",
    "SparkError",
    "SparkResponseError",
    "SparkServiceClient",
    "SparkTimeoutError",
    "SpeakerSegment",
    "SpeakerTranscript",
    "Transcription",
    "Voice",
    "VoiceCatalog",
    "WhisperXClient",
    "Word",
]
