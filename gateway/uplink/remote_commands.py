"""Gateway-wide commands from the cloud (``vg.commands/1``) and their honest results.

Each command name the gateway answers from its own facts maps to a small pure handler in
``HANDLERS`` (``ping``); the device commands (``start_pairing``, ``sync_clocks``,
``download_records``) belong to the BLE stage (``gateway.ble.manager``). Expired commands
are refused without running. Results go back on ``…/command_results``.
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
    rule_set: wire.RuleSetStatus | None = None
    """The rule set the edge monitor runs (and a refused one), as in the status."""


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
            **(
                {"rule_set": facts.rule_set.model_dump(mode="json", exclude_none=True)}
                if facts.rule_set is not None
                else {}
            ),
        },
    )


def clock_report(cmd: wire.Command, *, now: datetime) -> dict[str, Any]:
    """The gateway's own time with a ``sync_clocks`` result, so the cloud can measure the
    gateway's drift (``offset_s`` includes transit time). The gateway's clock itself
    belongs to NTP / systemd-timesyncd; device clocks are set by the BLE stage."""
    return {"gateway_time": _iso(now), "offset_s": round((now - cmd.issued_at).total_seconds(), 3)}


HANDLERS: Final[dict[wire.CommandName, Handler]] = {
    wire.CommandName.PING: _ping,
}
"""Commands answered here; every other command name goes to the BLE stage."""


def execute(cmd: wire.Command, facts: GatewayFacts) -> wire.CommandResult:
    """Run one command (or refuse it, if expired) and describe the outcome."""
    outcome: Outcome
    if cmd.expires_at is not None and cmd.expired(now=facts.now):  # not None: for mypy
        outcome = (False, f"expired at {_iso(cmd.expires_at)}; not executed", {})
    else:
        outcome = HANDLERS[cmd.name](cmd, facts)  # KeyError: a BLE command, not routed there
    ok, detail, result = outcome
    return wire.CommandResult(
        gateway_id=facts.gateway_id,
        command_id=cmd.command_id,
        ok=ok,
        ts=facts.now,
        detail=detail,
        result=result,
    )
