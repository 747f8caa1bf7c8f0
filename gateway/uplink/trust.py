"""Whether the gateway trusts a downlink message: signature, freshness, replay; and the tally.

The signature itself is checked by ``gateway.signing`` (pure). Here live the policies that
need the gateway's state: a command's id runs at most once, also across restarts (the ids
seen are kept in ``data_dir/commands_seen.json`` until the command could no longer run),
and refusals are counted for the status message. Configs are versioned and judged by
``gateway.uplink.config.decide``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, Literal

import structlog

from gateway import wire

log = structlog.get_logger(__name__)

MAX_COMMAND_AGE: Final = timedelta(hours=24)
"""A signed command older than this (by ``issued_at``) is refused: the gateway remembers
command ids only this long, so an older one could otherwise be replayed."""
REMEMBERED_IDS: Final = 10_000
"""Upper bound on remembered command ids (the cloud issues far fewer in a day)."""
REASON_CHARS: Final = 256

Leaf = Literal["config", "commands", "acks"]


def command_refusal(
    cmd: wire.Command, *, seen: bool, now: datetime, max_age: timedelta = MAX_COMMAND_AGE
) -> str | None:
    """Why a signed command must not run (replayed or too old), or None (pure).

    An expired command is not refused here: it is answered with an honest "expired" result.
    """
    if seen:
        return f"command {cmd.command_id} was received before; replayed, not run again"
    if now - cmd.issued_at > max_age:
        return (
            f"command {cmd.command_id} was issued more than {max_age} ago; refused "
            "(check the gateway's clock if it was not)"
        )
    return None


def forget_after(cmd: wire.Command, *, max_age: timedelta = MAX_COMMAND_AGE) -> datetime:
    """Until when a command id must be remembered: past it, the age check refuses it."""
    limit = cmd.issued_at + max_age
    return limit if cmd.expires_at is None else min(limit, cmd.expires_at)


class SeenCommands:
    """Ids of signed commands received, until they could no longer run (JSON file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._until: dict[str, datetime] = self._load()

    def _load(self) -> dict[str, datetime]:
        try:
            raw = json.loads(self.path.read_text())
            return {str(k): datetime.fromisoformat(v) for k, v in raw.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.error(
                "trust.seen_commands_unreadable",
                path=str(self.path),
                reason=str(exc)[:200],
                advice="commands received before this restart could be replayed until they "
                "expire; check the data directory's disk",
            )
            return {}

    def __contains__(self, command_id: object) -> bool:
        return command_id in self._until

    def add(self, cmd: wire.Command, *, now: datetime) -> None:
        """Remember ``cmd``'s id (and forget the ids that can no longer run); durable."""
        self._until = {k: t for k, t in self._until.items() if t >= now}
        self._until[cmd.command_id] = forget_after(cmd)
        while len(self._until) > REMEMBERED_IDS:
            self._until.pop(min(self._until, key=self._until.__getitem__))
        tmp = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("w") as f:
                json.dump({k: t.isoformat() for k, t in self._until.items()}, f)
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            log.error(
                "trust.seen_commands_not_saved",
                path=str(self.path),
                reason=str(exc)[:200],
                advice="check the data directory's disk and permissions",
            )


class Refusals:
    """Downlink messages refused since start; thread-safe (paho's thread and the loop's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: wire.DownlinkRefusals | None = None

    def add(self, leaf: Leaf, reason: str, *, now: datetime) -> None:
        reason = reason[:REASON_CHARS]
        with self._lock:
            count = 1 if self._last is None else self._last.count + 1
            self._last = wire.DownlinkRefusals(
                count=count, last_reason=reason, last_leaf=leaf, last_at=now
            )
        log.warning("downlink.refused", leaf=leaf, reason=reason, refused=count)

    @property
    def summary(self) -> wire.DownlinkRefusals | None:
        with self._lock:
            return self._last
