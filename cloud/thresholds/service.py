"""A patient's thresholds: read the rules in force, change them (a new version), replay them.

Keyword-only functions over a session; the router scopes, audits and commits. The rule book
is the ingest's (``Services.rulebook``): it is told about a change at once in this process,
and other processes notice the new version on their next batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.alerts.replay import burden_of
from cloud.alerts.rulebook import (
    PatientRules,
    RuleBook,
    RuleBookError,
    RuleLockedError,
    effective_rules,
    next_rule_versions,
    patient_rules,
)
from cloud.errors import ConflictError, InvalidRequestError
from cloud.store.models import Reading
from cloud.store.readings import wire_reading
from cloud.store.rules import PatientRuleSet
from cloud.store.tenancy import Patient
from cloud.thresholds.config import gateways_of_patient, issue_configs
from gateway.signal.findings import Finding
from gateway.signal.rules import Rule
from gateway.signal.series import SignalError

MAX_REPLAY_READINGS: Final = 500_000
"""About 6 days of a 1 Hz stream, or years of spot readings: bounded memory per request."""


def program_of(patient: Patient, rulebook: RuleBook) -> str:
    return patient.program_id or rulebook.program


def rules_in_force(session: Session, rulebook: RuleBook, patient: Patient) -> PatientRules:
    rulebook.refresh(session, [patient.id])
    return rulebook.patient(patient.id)


def latest_set(session: Session, patient_id: str) -> PatientRuleSet | None:
    return session.scalars(
        select(PatientRuleSet)
        .where(PatientRuleSet.patient_id == patient_id)
        .order_by(PatientRuleSet.version.desc())
        .limit(1)
    ).first()


def _candidate(
    rulebook: RuleBook, patient: Patient, overrides: Sequence[dict[str, Any]]
) -> PatientRules:
    try:
        return effective_rules(
            patient.id,
            program=program_of(patient, rulebook),
            rule_dicts=rulebook.rule_dicts,
            overrides=overrides,
        )
    except RuleLockedError as exc:
        raise ConflictError(str(exc)) from exc
    except RuleBookError as exc:
        raise InvalidRequestError(str(exc)) from exc


def update(
    session: Session,
    rulebook: RuleBook,
    *,
    patient: Patient,
    overrides: Sequence[dict[str, Any]],
    note: str | None,
    base_version: int | None,
    user_id: int | None,
    now: datetime,
) -> PatientRuleSet:
    """Store the overrides as the patient's next version and issue their gateways' configs.

    A locked rule is a conflict (409), a rule that cannot be built is invalid (422).
    """
    current = rules_in_force(session, rulebook, patient)
    if base_version is not None and base_version != current.version:
        raise ConflictError(
            f"the thresholds changed since version {base_version} (now {current.version}); "
            "reload them and make the change again"
        )
    candidate = _candidate(rulebook, patient, overrides)
    version = current.version + 1
    row = PatientRuleSet(
        patient_id=patient.id,
        organisation_id=patient.organisation_id,
        version=version,
        overrides=[dict(o) for o in overrides],
        rule_versions=next_rule_versions(current, candidate, version=version),
        note=note,
        created_at=now,
        created_by=user_id,
    )
    session.add(row)
    session.flush()
    rulebook.invalidate(patient.id)
    issue_configs(session, rulebook, gateways_of_patient(session, patient.id, now=now), now=now)
    return row


def history(session: Session, patient_id: str) -> list[PatientRuleSet]:
    return list(
        session.scalars(
            select(PatientRuleSet)
            .where(PatientRuleSet.patient_id == patient_id)
            .order_by(PatientRuleSet.version.desc())
        )
    )


@dataclass(frozen=True, slots=True)
class Replayed:
    since: datetime
    until: datetime
    readings: int
    findings: list[Finding]


def replay(
    session: Session,
    rulebook: RuleBook,
    *,
    patient: Patient,
    rule_dicts: Sequence[dict[str, Any]] | None,
    overrides: Sequence[dict[str, Any]] | None,
    since: datetime,
    until: datetime,
) -> Replayed:
    """What the candidate rules would have fired over the patient's readings in the window,
    with the same code as ``vitalgate-cloud replay`` (``cloud.alerts.replay``)."""
    if rule_dicts is not None and overrides is not None:
        raise InvalidRequestError("give either rules or overrides, not both")
    if rule_dicts is not None:
        try:
            rules: tuple[Rule, ...] = patient_rules(
                patient.id, program=program_of(patient, rulebook), rule_dicts=rule_dicts
            )
        except (RuleBookError, SignalError) as exc:
            raise InvalidRequestError(str(exc)) from exc
    elif overrides is not None:
        rules = _candidate(rulebook, patient, overrides).evaluable
    else:
        rules = rules_in_force(session, rulebook, patient).evaluable
    window = (Reading.patient_id == patient.id, Reading.ts >= since, Reading.ts < until)
    count = int(session.scalar(select(func.count()).where(*window)) or 0)
    if count > MAX_REPLAY_READINGS:
        raise InvalidRequestError(
            f"{count} readings in that window; at most {MAX_REPLAY_READINGS} are replayed at "
            "once: ask for fewer days"
        )
    rows = session.scalars(select(Reading).where(*window).order_by(Reading.ts)).all()
    readings = [wire_reading(r) for r in rows]
    findings = burden_of(readings, lambda _patient_id: rules)
    return Replayed(since, until, len(readings), findings)


def replay_window(until: datetime, days: int) -> tuple[datetime, datetime]:
    return until - timedelta(days=days), until
