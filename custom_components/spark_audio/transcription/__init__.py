"""The transcription core: routing over Sparks, speakers, spooling, units, the action and jobs.

Nothing here speaks HTTP to a caller: ``gateway/`` parses requests into the core's terms and
renders its answers; the ``transcribe`` action and background jobs call the core directly.
"""
