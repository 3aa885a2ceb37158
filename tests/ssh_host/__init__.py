"""A real OpenSSH server on loopback, with a stand-in `docker`, for the SSH tests."""

from .server import PASSWORD_USER, SSHTestHost

__all__ = ["PASSWORD_USER", "SSHTestHost"]
