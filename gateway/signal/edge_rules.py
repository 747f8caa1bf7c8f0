"""The rule set a gateway config carries, and which of its rules the edge runs.

The cloud sends each patient's whole effective rule set (``wire.GatewayConfig.rules``, in
the ``gateway.signal.ruleset`` JSON form, form version ``wire.RULES_VERSION``). The gateway
reads it back with the same ``rule_from_dict`` the cloud's rule book uses, so a new rule kind
registered there travels and runs without a change here or in the wire contract.

Two kinds of rule stay in the cloud by design (docs/architecture.md, "Rules at the edge"),
each named by ``cloud_only``:

- missing-data rules (stale stream, missed daily measurement): they are decided by the clock
  over what reached the cloud, which also knows when the gateway itself went silent;
- rules over staged aggregates (``stages``: a daily resting heart rate, a daily median SpO2,
  fed to a 14-day CUSUM): they need days of a stream, and the edge's windows hold hours.

A rule of a kind this gateway's version does not know (a kind added to the cloud first) is
left to the cloud as well, and counted with them: the rest of the set still runs. A config
this gateway cannot read (a newer ``rules_version``, a bad value in a known kind) raises
``RuleSetError``; the caller keeps its last good rule set and reports the refusal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway import wire
from gateway.signal.rules import Rule
from gateway.signal.ruleset import KINDS, rule_from_dict, rule_to_dict
from gateway.signal.series import SignalError


class RuleSetError(SignalError):
    """A config's rule set this gateway cannot run; the message says why (for the status)."""


def cloud_only(rule: Rule | wire.ThresholdRule) -> str | None:
    """Why ``rule`` runs in the cloud only, or None when the edge runs it too."""
    if getattr(rule, "category", None) is wire.Category.MISSING_DATA:
        return "missing data is judged in the cloud, by the clock, over what reached it"
    if getattr(rule, "stages", None):
        return "judges daily aggregates of days of a stream; the edge holds hours"
    return None


@dataclass(frozen=True, slots=True)
class EdgeRuleSet:
    """The rules of one config: those the edge runs, and those it leaves to the cloud."""

    config_version: int | None
    rules_version: int | None
    """The form they came in; None for a thresholds-only config (an older cloud)."""
    rules: tuple[Rule | wire.ThresholdRule, ...]
    cloud_only: tuple[str, ...] = ()
    """Rule ids of the set that the edge does not run."""

    def status(self, *, refused: tuple[int, str] | None = None) -> wire.RuleSetStatus:
        """The ``rule_set`` member of the gateway's status."""
        return wire.RuleSetStatus(
            config_version=self.config_version,
            rules_version=self.rules_version,
            rules=len(self.rules),
            cloud_only=len(self.cloud_only),
            refused_version=refused[0] if refused else None,
            refused_reason=refused[1][:256] if refused else None,
        )


EMPTY = EdgeRuleSet(None, None, ())


def split(rules: Iterable[Rule]) -> tuple[tuple[Rule, ...], tuple[str, ...]]:
    """(the rules the edge runs, the ids of those it leaves to the cloud)."""
    edge: list[Rule] = []
    left: list[str] = []
    for rule in rules:
        if cloud_only(rule) is None:
            edge.append(rule)
        else:
            left.append(rule.rule_id)
    return tuple(edge), tuple(left)


def from_config(config: wire.GatewayConfig) -> EdgeRuleSet:
    """The rule set of ``config``; RuleSetError when this gateway cannot read it."""
    if config.rules_version is None:
        return EdgeRuleSet(config.version, None, tuple(config.thresholds))
    if config.rules_version > wire.RULES_VERSION:
        raise RuleSetError(
            f"rules_version {config.rules_version} is newer than this gateway reads "
            f"({wire.RULES_VERSION}); kept the last good rules: update the gateway"
        )
    unknown = [d for d in config.rules if d["kind"] not in KINDS]
    parsed = [_rule(data) for data in config.rules if data["kind"] in KINDS]
    foreign = sorted({r.patient_id for r in parsed} - set(config.patients))
    if foreign:
        raise RuleSetError(f"rules for patients not in the config: {', '.join(foreign[:5])}")
    edge, left = split(parsed)
    left += tuple(str(d["rule_id"]) for d in unknown)
    return EdgeRuleSet(config.version, config.rules_version, edge, left)


def _rule(data: Mapping[str, Any]) -> Rule:
    try:
        return rule_from_dict(data)
    except SignalError as exc:
        raise RuleSetError(f"cannot run rule {str(data.get('rule_id'))[:64]!r}: {exc}") from exc


def to_config(rules: Sequence[Rule]) -> tuple[dict[str, Any], ...]:
    """Rules in the form ``GatewayConfig.rules`` carries (``rules_version`` = RULES_VERSION)."""
    return tuple(rule_to_dict(r) for r in rules)


__all__ = [
    "EMPTY",
    "EdgeRuleSet",
    "RuleSetError",
    "cloud_only",
    "from_config",
    "split",
    "to_config",
]
