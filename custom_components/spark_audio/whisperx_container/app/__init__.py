"""WhisperX speech service: FastAPI app with the ML engine behind one seam."""
