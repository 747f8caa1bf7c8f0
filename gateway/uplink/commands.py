"""Commands from the cloud (``vg.commands/1``) and their honest results.

Each command name maps to a small pure handler in ``HANDLERS``; a command this gateway
cannot carry out yet says so (``ok=false`` and why) rather than pretending. Expired
commands are refused without running. Results go back on ``…/command_results``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from gateway import wire


@dataclass(frozen=True, slots=True)
class GatewayFacts:
    """What a command may report about the gateway, taken at the moment it runs."""

    gateway_id: str
    version: str
    now: datetime
    """The gateway's wall clock (aware, UTC)."""
    config_version: int | None
    outbox_depth: int
    devices: tuple[str, ...]


Outcome = tuple[bool, str | None, dict[str, Any]]
Handler = Callable[[wire.Command, GatewayFacts], Outcome]


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _ping(_cmd: wire.Command, facts: GatewayFacts) -> Outcome:
    return (
        True,
        None,
        {
            "version": facts.version,
            "gateway_time": _iso(facts.now),
            "config_version": facts.config_version,
            "outbox_depth": facts.outbox_depth,
            "devices": list(facts.devices),
        },
    )


def _sync_clocks(cmd: wire.Command, facts: GatewayFacts) -> Outcome:
    # The gateway's own clock belongs to NTP/systemd-timesyncd; setting device clocks
    # (Current Time 0x2A2B) needs per-profile support that no paired device has yet.
    offset = (facts.now - cmd.issued_at).total_seconds()
    return (
        False,
        "setting device clocks is not supported yet; the gateway's time is reported so the "
        "cloud can measure its drift (offset_s includes transit time)",
        {"gateway_time": _iso(facts.now), "offset_s": round(offset, 3)},
    )


def _not_yet(what: str) -> Handler:
    def handler(_cmd: wire.Command, _facts: GatewayFacts) -> Outcome:
        return False, f"{what} is not supported by this gateway yet", {}

    return handler


HANDLERS: Final[dict[wire.CommandName, Handler]] = {
    wire.CommandName.PING: _ping,
    wire.CommandName.SYNC_CLOCKS: _sync_clocks,
    wire.CommandName.START_PAIRING: _not_yet(
        "pairing from the cloud (pair devices through the gateway's config instead)"
    ),
    wire.CommandName.DOWNLOAD_RECORDS: _not_yet("downloading stored device records"),
}


def execute(cmd: wire.Command, facts: GatewayFacts) -> wire.CommandResult:
    """Run one command (or refuse it, if expired) and describe the outcome."""
    outcome: Outcome
    if cmd.expires_at is not None and facts.now > cmd.expires_at:
        outcome = (False, f"expired at {_iso(cmd.expires_at)}; not executed", {})
    else:
        outcome = HANDLERS[cmd.name](cmd, facts)
    ok, detail, result = outcome
    return wire.CommandResult(
        gateway_id=facts.gateway_id,
        command_id=cmd.command_id,
        ok=ok,
        ts=facts.now,
        detail=detail,
        result=result,
    )
