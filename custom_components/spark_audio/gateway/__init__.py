"""The OpenAI-compatible gateway: HTTP views that route speech requests to a healthy Spark.

A subsystem of its own, not a platform: upload streaming, speech, speakers,
routing and failover, and the transcribe action live here, behind one door.
"""

from __future__ import annotations

from .views import async_register_views

__all__ = ["async_register_views"]
