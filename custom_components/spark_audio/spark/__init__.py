"""HA-free clients for the speech services on an NVIDIA DGX Spark.

Nothing in this package imports Home Assistant: it is written as if it were a
library on PyPI, so the integration stays a thin adapter and the clients can be
tested (and reused) on their own. Its one reach outside is to the two standard-library
modules it shares with the WhisperX image (the speaker merge and the caption writer,
in the image's build context, so the two cannot drift). Subpackages by subject: ``clients`` (the
services' HTTP APIs), ``transcripts`` (pure transcript functions), ``remote``
(SSH and docker on the Spark) and ``installer`` (the WhisperX install).
"""

from .clients.http import SparkServiceClient
from .clients.magpie import MagpieClient
from .clients.parakeet import ParakeetClient
from .clients.whisperx import WhisperXClient
from .errors import (
    ServiceNotReadyError,
    SparkBackendFaultError,
    SparkConnectionError,
    SparkError,
    SparkResponseError,
    SparkTimeoutError,
)
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
