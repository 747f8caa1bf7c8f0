"""Per-patient rules: each change a new version (history kept), and shadow findings.

A patient's effective rules are their program's defaults plus the clinician's overrides
(``cloud.alerts.rulebook.effective_rules``). Each change of the overrides is a new
``PatientRuleSet`` row; the newest is in force. A rule in shadow mode is evaluated like any
other, but its findings land in ``shadow_findings`` and notify no one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.store.base import WIRE_ID, Base


class PatientRuleSet(Base):
    """One version of a patient's rule overrides."""

    __tablename__ = "patient_rule_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    organisation_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    """1, 2, 3… per patient; 0 means "the program's defaults" and is never stored."""
    overrides: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """What the clinician set: changed fields of program rules, their own rules, modes."""
    rule_versions: Mapped[dict[str, Any]]
    """rule id → the version of that rule in force (bumped only when the rule changed)."""
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(Integer)
    """The user's id, kept as a plain number like the audit log: history outlives accounts."""

    __table_args__ = (UniqueConstraint("patient_id", "version", name="uq_rule_sets_version"),)


class ShadowFinding(Base):
    """A fire or all-clear of a rule in shadow mode: recorded to judge the rule, never sent."""

    __tablename__ = "shadow_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    finding_id: Mapped[str] = mapped_column(String(160), unique=True)
    """``gateway.signal`` finding id: the same finding seen twice is stored once."""
    patient_id: Mapped[str] = mapped_column(WIRE_ID)
    rule_id: Mapped[str] = mapped_column(String(128))
    rule_version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(8))
    metric: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    ts: Mapped[datetime]
    recorded_at: Mapped[datetime]
    evidence: Mapped[dict[str, Any]]

    __table_args__ = (Index("ix_shadow_patient_ts", "patient_id", "ts"),)


class GatewayConfigRecord(Base):
    """The newest config issued to a gateway (retained on its ``…/config``) and its delivery."""

    __tablename__ = "gateway_configs"

    gateway_id: Mapped[str] = mapped_column(
        ForeignKey("gateways.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]]
    """The ``vg.config/1`` message as published."""
    issued_at: Mapped[datetime]
    published_version: Mapped[int] = mapped_column(Integer, default=0)
    """The last version the broker acknowledged (PUBACK); behind ``version`` until then."""
    published_at: Mapped[datetime | None]
