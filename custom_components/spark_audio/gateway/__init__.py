"""The OpenAI-compatible gateway: the HTTP edge of the transcription core and of Magpie.

HTTP only: streaming and bounding uploads, parsing forms, rendering OpenAI-shaped
answers and errors. What a transcription does lives in ``transcription/``.
"""

from __future__ import annotations

from .views import async_register_views

__all__ = ["async_register_views"]
