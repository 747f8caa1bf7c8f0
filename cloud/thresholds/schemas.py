"""Request and response models of a patient's thresholds (rules), their history and replays."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

MAX_RULES = 200


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


RuleDict = Annotated[dict[str, Any], Field(max_length=40)]
"""A rule or override in the ``gateway.signal.ruleset`` form (checked by the rule book)."""


class ThresholdsUpdate(_In):
    """The patient's overrides, replacing the previous ones (a new version each time).

    Each item: ``{"rule_id": …, "mode": "active" | "shadow", <fields>}``. A program rule's
    id with fields changes those fields (unless the program locks it); a new id with a
    ``kind`` adds a rule. An empty list returns to the program's defaults.
    """

    rules: Annotated[list[RuleDict], Field(max_length=MAX_RULES)]
    note: Annotated[str, Field(max_length=500)] | None = None
    """Why (kept with the version)."""
    base_version: Annotated[int, Field(ge=0)] | None = None
    """The version this change was made from; refused (409) if someone changed it since."""


class EffectiveRulePublic(BaseModel):
    rule_id: str
    kind: str
    metric: str
    mode: str
    """``active`` (notifies) or ``shadow`` (findings recorded only)."""
    locked: bool
    """The program does not allow this rule to be changed per patient."""
    source: str
    """``program`` (the default), ``override`` (changed for this patient) or ``custom``."""
    version: int
    definition: dict[str, Any]


class GatewayConfigState(BaseModel):
    gateway_id: str
    config_version: int | None
    """The newest config issued to the gateway."""
    published: bool
    """The broker holds it (retained) for the gateway."""
    applied_version: int | None
    """The config version the gateway reports running (from its status)."""
    applied: bool
    """The gateway runs the newest config: edge and cloud judge with the same rules."""


class ThresholdsPublic(BaseModel):
    patient_id: str
    program: str
    version: int
    """0: the program's defaults; each change of the overrides adds one."""
    updated_at: datetime | None
    updated_by: int | None
    note: str | None
    overrides: list[dict[str, Any]]
    rules: list[EffectiveRulePublic]
    gateways: list[GatewayConfigState]


class RuleSetVersionPublic(_Out):
    version: int
    overrides: list[dict[str, Any]]
    rule_versions: dict[str, Any]
    note: str | None
    created_at: datetime
    created_by: int | None


class ShadowFindingPublic(_Out):
    finding_id: str
    rule_id: str
    rule_version: int
    kind: str
    category: str
    priority: str
    metric: str
    value: float
    ts: datetime
    recorded_at: datetime


def _in_range(value: datetime) -> datetime:
    """A window end whose 400 days before are a real UTC time (the fuzz tries year 1)."""
    if not datetime(2000, 1, 1, tzinfo=UTC) <= value <= datetime(2999, 1, 1, tzinfo=UTC):
        raise ValueError("must be between the years 2000 and 2999")
    return value.astimezone(UTC)


class ReplayRequest(_In):
    """What to replay: candidate rules over the patient's stored readings.

    ``rules``: whole rules, used instead of the program's (as ``vitalgate-cloud replay
    --rules``); or ``overrides``: changes on top of the program, as a PUT would set them;
    neither: the rules in force now.
    """

    rules: Annotated[list[RuleDict], Field(max_length=MAX_RULES)] | None = None
    overrides: Annotated[list[RuleDict], Field(max_length=MAX_RULES)] | None = None
    days: Annotated[int, Field(ge=1, le=400)] = 30
    until: Annotated[AwareDatetime, AfterValidator(_in_range)] | None = None
    """End of the window (default: now)."""


class ReplayFinding(BaseModel):
    """One alert the rules would have fired (the row ``vitalgate-cloud replay`` prints)."""

    patient_id: str
    rule: str
    category: str
    priority: str
    ts: str
    metric: str
    value: float


class ReplayResult(BaseModel):
    since: datetime
    until: datetime
    readings: int
    findings: list[ReplayFinding]
