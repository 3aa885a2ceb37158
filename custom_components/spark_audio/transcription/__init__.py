"""The transcription core: the typed request, routing over Sparks, speakers, spooling, units, jobs.

Nothing here speaks HTTP: the entry points (``plain.transcribe_audio`` for
OpenAI's formats, ``speakers.transcribe_with_speakers``) take audio (an
``AudioInput``: the gateway's upload, or a local ``FileAudio``), a filename, a
content type and a ``TranscriptionRequest``, and raise ``TranscriptionError``.
``gateway/`` parses a form into the request and renders the errors in OpenAI's
shape; the ``transcribe`` action and background jobs build the request from
their data and raise translated errors.
"""
