"""The cloud's retained ``config``: which version to apply, and keeping it across restarts.

The cloud publishes a versioned ``vg.config/1`` retained on ``…/config``. The gateway
applies a config only if it is for this gateway and newer than the one it runs (a retained
message is delivered again on every reconnect; an older version is a stale copy). It is
written to ``data_dir/config.json`` (write, fsync, rename) *before* it is applied, so a
gateway that restarts without a network runs on the last config it accepted.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import structlog

from gateway import wire
from gateway.uplink.errors import UplinkError

log = structlog.get_logger(__name__)


class Verdict(StrEnum):
    APPLY = "apply"
    SAME = "same"
    STALE = "stale"
    FOREIGN = "foreign"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str


def decide(
    current: wire.GatewayConfig | None, incoming: wire.GatewayConfig, *, gateway_id: str
) -> Decision:
    """Whether ``incoming`` replaces ``current`` on gateway ``gateway_id`` (pure)."""
    if incoming.gateway_id != gateway_id:
        return Decision(
            Verdict.FOREIGN,
            f"config is for gateway {incoming.gateway_id!r}, not {gateway_id!r}; "
            "check the broker ACL and the topic root",
        )
    if current is None or incoming.version > current.version:
        return Decision(Verdict.APPLY, f"version {incoming.version}")
    if incoming.version == current.version:
        return Decision(Verdict.SAME, f"version {incoming.version} already applied")
    return Decision(
        Verdict.STALE, f"version {incoming.version} is older than {current.version}; kept"
    )


class ConfigStore:
    """The last accepted config on disk (JSON, the wire form)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> wire.GatewayConfig | None:
        """The persisted config, or None if there is none (or it cannot be read)."""
        if not self.path.is_file():
            return None
        try:
            message = wire.decode(self.path.read_bytes(), expect="vg.config/1")
        except (OSError, wire.WireError) as exc:
            log.error(
                "config.unreadable",
                path=str(self.path),
                reason=str(exc)[:200],
                advice="running on the settings file until the cloud sends a config again",
            )
            return None
        assert isinstance(message, wire.GatewayConfig)
        return message

    def save(self, config: wire.GatewayConfig) -> None:
        """Replace the persisted config atomically and durably (tmp, fsync, rename, fsync dir)."""
        tmp = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as f:
                f.write(wire.encode(config))
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(self.path)
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise UplinkError(
                f"cannot persist config version {config.version} to {self.path}: {exc}; "
                "check the data directory's disk and permissions"
            ) from exc
