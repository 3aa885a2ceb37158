"""The WhisperX install: build context, detached remote build, container run, progress and jobs."""
