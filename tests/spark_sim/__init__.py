"""A simulated NVIDIA DGX Spark: Parakeet, Magpie and WhisperX over HTTP.

Used by the test suite and by `scripts/develop` so the integration can be
exercised end to end without a GPU.
"""

from .audio import WavInfo, parse_wav, speak, speak_pcm, streaming_wav_header, wav_bytes
from .faults import DEFAULT_TRANSCRIPT, Fault, RecordedRequest, ServiceState
from .magpie import create_magpie_app
from .parakeet import create_parakeet_app
from .server import SparkSim
from .whisperx import create_whisperx_app

__all__ = [
    "DEFAULT_TRANSCRIPT",
    "Fault",
    "RecordedRequest",
    "ServiceState",
    "SparkSim",
    "WavInfo",
    "create_magpie_app",
    "create_parakeet_app",
    "create_whisperx_app",
    "parse_wav",
    "speak",
    "speak_pcm",
    "streaming_wav_header",
    "wav_bytes",
]
