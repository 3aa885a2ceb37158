"""Clients for the speech services' HTTP APIs: Parakeet, Magpie and WhisperX, and their probes."""
