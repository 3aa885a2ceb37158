"""The Spark as a remote machine: pinned-key SSH, docker over SSH, the image's own verification."""
