"""The WhisperX container's secrets as files on the Spark, mounted read-only, never env values.

``docker inspect`` shows a container's whole environment however it was
passed (``-e NAME=value`` or a bare ``-e NAME``), so the HF token and the API
key are written to files instead: a 0700 folder beside the build folder, one
file per secret readable only by the container's user, each bind-mounted
read-only under ``/run/secrets`` and named to the app by a ``*_FILE``
variable. The values travel on stdin, never on a command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from ..errors import InstallError
from ..remote.ssh import SparkSSH

__all__ = ["CONTAINER_SECRETS_DIR", "CONTAINER_UID", "SecretFile", "write_secret_files"]

CONTAINER_SECRETS_DIR: Final = "/run/secrets"
CONTAINER_UID: Final = 1000
"""The image's ``whisperx`` user (build/create_user.sh)."""

# $1 folder, $2 the container's UID, then the file names; one value per stdin line.
# The files are owned by the container's user with mode 0600 when the login is that
# user or root; any other login keeps them 0640 in its own group, which the
# container joins (``--group-add``). Prints "<mode> <gid>".
_WRITE_SCRIPT: Final = """set -eu
umask 077
dir=$1; uid=$2; shift 2
mkdir -p -- "$dir"
chmod 700 -- "$dir"
me=$(id -u)
mode=600
if [ "$me" != "$uid" ] && [ "$me" != 0 ]; then mode=640; fi
for name in "$@"; do
  IFS= read -r value
  tmp="$dir/.$name.tmp"
  rm -f -- "$tmp"
  printf '%s\\n' "$value" > "$tmp"
  chmod "$mode" -- "$tmp"
  if [ "$me" = 0 ]; then chown "$uid" -- "$tmp"; fi
  mv -f -- "$tmp" "$dir/$name"
done
printf '%s %s\\n' "$mode" "$(id -g)"
"""


@dataclass(frozen=True, slots=True)
class SecretFile:
    """One secret: its file name, the variable that names it to the app, its value."""

    name: str
    env: str
    value: str = field(repr=False)

    @property
    def container_path(self) -> str:
        """Where the app finds it."""
        return f"{CONTAINER_SECRETS_DIR}/{self.name}"

    def run_options(self, folder: str) -> tuple[str, ...]:
        """The read-only mount and the ``*_FILE`` variable for ``docker run``."""
        return (
            *("-v", f"{folder}/{self.name}:{self.container_path}:ro"),
            *("-e", f"{self.env}={self.container_path}"),
        )


async def write_secret_files(
    ssh: SparkSSH,
    folder: str,
    secrets: Sequence[SecretFile],
    *,
    container_uid: int = CONTAINER_UID,
    timeout: float | None = None,
) -> tuple[str, ...]:
    """Write ``secrets`` into ``folder`` on the Spark; the ``docker run`` options that use them.

    Secrets not in ``secrets`` (turned off since the last install) are
    removed, so an old token is never left behind.
    """
    if any(c in folder for c in ":,\n\0"):
        raise InstallError("the secrets folder must not contain ':', ',' or line breaks")
    await ssh.run(["rm", "-rf", "--", folder], timeout=timeout)
    if not secrets:
        return ()
    result = await ssh.run(
        ["sh", "-c", _WRITE_SCRIPT, "sh", folder, str(container_uid), *(s.name for s in secrets)],
        input="".join(f"{secret.value}\n" for secret in secrets).encode(),
        timeout=timeout,
    )
    mode, _, gid = result.stdout.strip().partition(" ")
    options: list[str] = []
    if mode == "640":
        if not gid.isdigit():
            raise InstallError(f"cannot read the login's group id: {result.stdout[-100:]!r}")
        options += ["--group-add", gid]
    for secret in secrets:
        options += secret.run_options(folder)
    return tuple(options)
