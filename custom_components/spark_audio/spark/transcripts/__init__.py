"""Pure functions on transcripts: word-speaker merge, long-audio windows, formats, voiceprints."""
