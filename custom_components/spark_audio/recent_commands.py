"""The last few Assist commands' audio per STT entity, in memory only, to enrol a voice from.

Opt-in per Spark (option ``keep_voice_commands``, off by default): people's
voice commands are sensitive. While on, each of the Spark's STT entities keeps
the audio of its last ``MAX_COMMANDS`` commands heard to their end in a bounded
ring in memory: never written to disk, never in diagnostics or logs. The ring
goes when the option is turned off (the entry reloads, the entities go), when
the entry unloads, and commands used for an enrolment leave it at once.

The ring keeps whatever the STT entity was sent, by Assist or by any HA user
posting to ``/api/stt/<entity>``: so each command notes when it was heard, and
enrolment takes only those of the last ``MAX_COMMAND_AGE``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import CONF_KEEP_VOICE_COMMANDS, DEFAULT_KEEP_VOICE_COMMANDS, DOMAIN

MAX_COMMANDS = 10
MAX_COMMAND_BYTES = 2 * 1024 * 1024
"""A command longer than this (about a minute of 16 kHz mono) is not kept: no command is."""
MAX_COMMAND_AGE = timedelta(minutes=10)
"""Enrolment uses only commands heard this recently: the admin enrols right after the person
spoke them, and the older a clip, the likelier it is someone else's (another user's post)."""
RECENT_COMMANDS_KEY: HassKey[dict[str, RecentCommands]] = HassKey(f"{DOMAIN}_recent_commands")


@dataclass(frozen=True, slots=True, eq=False)
class KeptCommand:
    """One command: the WAV bytes sent to be transcribed, and when it was heard to its end."""

    audio: bytes
    heard_at: datetime


class RecentCommands:
    """One STT entity's last commands, oldest first."""

    def __init__(self) -> None:
        """An empty ring of ``MAX_COMMANDS``."""
        self._audio: deque[KeptCommand] = deque(maxlen=MAX_COMMANDS)
        self.enrolling = asyncio.Lock()
        """Held by an enrolment from these commands, so two never use the same ones."""

    def __len__(self) -> int:
        """How many commands are kept now."""
        return len(self._audio)

    async def record(self, audio: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """Pass ``audio`` through; keep a copy once it has been heard to its end."""
        parts: list[bytes] | None = []
        size = 0
        async for chunk in audio:
            if parts is not None:
                size += len(chunk)
                if size > MAX_COMMAND_BYTES:
                    parts = None
                else:
                    parts.append(chunk)
            yield chunk
        if parts:
            self._audio.append(KeptCommand(b"".join(parts), dt_util.utcnow()))

    def last(
        self, count: int | None = None, *, heard_since: datetime | None = None
    ) -> list[KeptCommand]:
        """The newest ``count`` (all when None) heard since ``heard_since``, oldest first."""
        kept = [c for c in self._audio if heard_since is None or c.heard_at >= heard_since]
        return kept if count is None else kept[-count:]

    def discard(self, used: Sequence[KeptCommand]) -> None:
        """Drop ``used`` commands (the very objects ``last`` gave) from the ring."""
        gone = set(used)  # by identity: a command is equal only to itself
        remaining = [command for command in self._audio if command not in gone]
        self._audio.clear()
        self._audio.extend(remaining)

    def clear(self) -> None:
        """Drop every kept command."""
        self._audio.clear()


@callback
def async_keep_commands(
    hass: HomeAssistant, entry: ConfigEntry, stt_entity_id: str
) -> CALLBACK_TYPE:
    """Start keeping ``stt_entity_id``'s commands if the entry opted in; returns the stop."""
    if not entry.options.get(CONF_KEEP_VOICE_COMMANDS, DEFAULT_KEEP_VOICE_COMMANDS):
        return lambda: None
    rings = hass.data.setdefault(RECENT_COMMANDS_KEY, {})
    rings[stt_entity_id] = ring = RecentCommands()

    @callback
    def stop() -> None:
        ring.clear()
        if rings.get(stt_entity_id) is ring:
            del rings[stt_entity_id]

    return stop


def keep_command(
    hass: HomeAssistant, stt_entity_id: str, audio: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    """``audio`` as is, or through the STT entity's ring when it keeps commands."""
    ring = hass.data.get(RECENT_COMMANDS_KEY, {}).get(stt_entity_id)
    return audio if ring is None else ring.record(audio)


def recent_commands(hass: HomeAssistant, stt_entity_id: str) -> RecentCommands | None:
    """The STT entity's ring; None when it keeps no commands (option off, not ours, gone)."""
    return hass.data.get(RECENT_COMMANDS_KEY, {}).get(stt_entity_id)
