"""A patient's thresholds editor: the program's defaults beside the levels in force, locks
shown, a preview of what proposed levels would have fired in the last 30 days, then save.

A thin client of ``cloud.thresholds.service``: the form becomes the same overrides the API's
``PUT …/thresholds`` takes (a level equal to the program's is no override), the preview is
``service.replay`` with those overrides, and saving is ``service.update`` (a new version,
configs issued to the patient's gateways). Staff may read; clinicians and admins change, as
in the API. A value that is not a number is shown next to its field; a refusal of the rule
book (a locked rule, levels that contradict each other) next to the rule it names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.alerts.rulebook import PatientRules, RuleBook, base_rule_dicts
from cloud.api.deps import ClockDep, SessionDep
from cloud.api.params import IdPath
from cloud.auth.scope import audit_read, audit_write, get_patient
from cloud.errors import CloudError, ForbiddenError
from cloud.store.tenancy import Patient, Role
from cloud.thresholds import service
from cloud.thresholds.router import RuleBookDep
from cloud.web import session as web
from cloud.web.render import render
from gateway.signal.ruleset import rule_to_dict

LEVELS: Final = (
    "fire_low", "fire_high", "clear_low", "clear_high", "urgent_low", "urgent_high", "rise", "fall",
)  # fmt: skip
"""The numbers a person edits; a rule shows those its kind has."""
EDITORS: Final = frozenset({Role.ADMIN, Role.CLINICIAN})
REPLAY_DAYS: Final = 30
SEP: Final = "@"
"""Form fields are ``<level>@<rule_id>`` (a rule id never holds ``@``)."""

router = APIRouter(include_in_schema=False)


@dataclass
class Row:
    """One rule of the editor: its levels in force, the program's, and what the form said."""

    rule_id: str
    metric: str
    kind: str
    mode: str
    locked: bool
    source: str
    levels: dict[str, Any]
    defaults: dict[str, Any]
    given: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def _rows(rulebook: RuleBook, patient: Patient, rules: PatientRules) -> list[Row]:
    program = service.program_of(patient, rulebook)
    base = {
        d["rule_id"]: d
        for d in base_rule_dicts(patient.id, program=program, rule_dicts=rulebook.rule_dicts)
    }
    rows = []
    for r in rules.rules:
        d = rule_to_dict(r.rule)
        names = [n for n in LEVELS if n in d]
        rows.append(
            Row(
                rule_id=r.rule.rule_id, metric=str(d["metric"]), kind=str(d["kind"]),
                mode=r.mode.value, locked=r.locked, source=r.source,
                levels={n: d[n] for n in names},
                defaults={n: base[r.rule.rule_id].get(n) for n in names} if r.rule.rule_id in base else {},
            )
        )  # fmt: skip
    return rows


def _number(text: str) -> float | None:
    """A level typed in the form: empty is "no level"; ValueError for anything not finite."""
    text = text.strip()
    if not text:
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _read_form(rows: list[Row], form: Any) -> bool:
    """Put the form's values and per-field errors on the rows; True when all are numbers."""
    ok = True
    for row in rows:
        if row.locked:
            continue
        for name in row.levels:
            text = str(form.get(f"{name}{SEP}{row.rule_id}", ""))[:40]
            row.given[name] = text
            try:
                _number(text)
            except ValueError:
                row.errors[name] = "Enter a number (like 140 or 37.5), or leave it empty"
                ok = False
    return ok


def _overrides(rows: list[Row], current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The overrides the form asks for: the current ones, with each edited level set where
    it differs from the program's and dropped where it equals it (modes are kept)."""
    by_id = {str(o["rule_id"]): dict(o) for o in current}
    for row in rows:
        if row.locked or not row.given:
            continue
        item = by_id.get(row.rule_id, {"rule_id": row.rule_id})
        for name, text in row.given.items():
            value = _number(text)
            if row.source != "custom" and value == row.defaults.get(name):
                item.pop(name, None)
            else:
                item[name] = value
        if len(item) > 1 or row.rule_id in by_id:
            by_id[row.rule_id] = item
    return [o for o in by_id.values() if len(o) > 1 or o.get("kind")]


def _blame(rows: list[Row], message: str) -> bool:
    """Show a refusal of the rule book next to the rule it names; False if it names none."""
    for row in rows:
        if repr(row.rule_id) in message or f"rule {row.rule_id}" in message:
            row.error = message
            return True
    return False


def _page(
    *, user: web.WebUser, patient: Patient, rules: PatientRules, rows: list[Row],
    error: str | None = None, notice: str | None = None, status: int = 200,
) -> HTMLResponse:  # fmt: skip
    return render(
        "thresholds.html.j2", status=status, user=user, active="population", patient=patient,
        rules=rules, rows=rows, error=error, notice=notice, sep=SEP,
        can_edit=user.principal.role in EDITORS, days=REPLAY_DAYS,
    )  # fmt: skip


@router.get("/patients/{patient_id}/thresholds")
def thresholds_page(
    patient_id: IdPath,
    *,
    user: web.StaffPage,
    session: SessionDep,
    request: Request,
    rulebook: RuleBookDep,
    notice: Annotated[str | None, Query(max_length=300)] = None,
) -> HTMLResponse:
    patient = get_patient(session, user.principal, patient_id)
    rules = service.rules_in_force(session, rulebook, patient)
    rows = _rows(rulebook, patient, rules)
    audit_read(session, user.principal, request, patient_id=patient.id, rows=len(rows))
    return _page(user=user, patient=patient, rules=rules, rows=rows, notice=notice)


def _current(session: Session, patient: Patient, rules: PatientRules) -> list[dict[str, Any]]:
    row = service.latest_set(session, patient.id) if rules.version else None
    return [dict(o) for o in row.overrides] if row else []


@router.post("/patients/{patient_id}/thresholds/preview")
async def preview(
    patient_id: IdPath,
    *,
    user: web.StaffAction,
    session: SessionDep,
    request: Request,
    rulebook: RuleBookDep,
    clock: ClockDep,
) -> HTMLResponse:
    """What the proposed levels would have fired in the last 30 days (an htmx part; nothing
    is stored), as ``POST /api/v1/patients/{id}/thresholds/replay`` with overrides."""
    patient = get_patient(session, user.principal, patient_id)
    rules = service.rules_in_force(session, rulebook, patient)
    rows = _rows(rulebook, patient, rules)
    if not _read_form(rows, await request.form()):
        return render("replay.html.j2", error="Correct the levels marked first.", findings=[],
                      readings=0, days=REPLAY_DAYS)  # fmt: skip
    overrides = _overrides(rows, _current(session, patient, rules))
    return replay_part(session, rulebook, user=user, request=request, patient=patient,
                       overrides=overrides, now=clock())  # fmt: skip


def replay_part(
    session: Session,
    rulebook: RuleBook,
    *,
    user: web.WebUser,
    request: Request,
    patient: Patient,
    overrides: list[dict[str, Any]] | None,
    now: datetime,
) -> HTMLResponse:
    """What the rules in force (``overrides=None``) or proposed ones would have fired over
    the last ``REPLAY_DAYS``: the htmx part of the patient page and of the editor."""
    since, until = service.replay_window(now, REPLAY_DAYS)
    try:
        done = service.replay(
            session, rulebook, patient=patient, rule_dicts=None, overrides=overrides,
            since=since, until=until,
        )  # fmt: skip
    except CloudError as exc:
        return render("replay.html.j2", error=str(exc), findings=[], readings=0, days=REPLAY_DAYS)
    audit_read(session, user.principal, request, patient_id=patient.id, rows=done.readings)
    return render(
        "replay.html.j2", error=None, findings=done.findings, readings=done.readings,
        days=REPLAY_DAYS,
    )  # fmt: skip


@router.post("/patients/{patient_id}/thresholds")
async def save(
    patient_id: IdPath,
    *,
    user: web.StaffAction,
    session: SessionDep,
    request: Request,
    rulebook: RuleBookDep,
    clock: ClockDep,
) -> Response:
    """Save the levels as the patient's next version (``PUT …/thresholds``)."""
    if user.principal.role not in EDITORS:
        raise ForbiddenError("only clinicians and admins change thresholds")
    patient = get_patient(session, user.principal, patient_id)
    rules = service.rules_in_force(session, rulebook, patient)
    rows = _rows(rulebook, patient, rules)
    form = await request.form()
    if not _read_form(rows, form):
        return _page(user=user, patient=patient, rules=rules, rows=rows, status=422,
                     error="Some levels are not numbers: see the fields marked.")  # fmt: skip
    note = str(form.get("note", "")).replace("\x00", "")[:500] or None
    base = str(form.get("base_version", ""))
    overrides = _overrides(rows, _current(session, patient, rules))
    try:
        saved = service.update(
            session, rulebook, patient=patient, overrides=overrides, note=note,
            base_version=int(base) if base.isdigit() else None, user_id=user.principal.user_id,
            now=clock(),
        )  # fmt: skip
        audit_write(session, user.principal, request, patient_id=patient.id, rows=len(overrides))
        session.commit()
    except (CloudError, IntegrityError) as exc:
        session.rollback()
        rulebook.invalidate(patient.id)
        message = str(exc) if isinstance(exc, CloudError) else "someone saved at the same moment"
        status = 409 if getattr(exc, "status", 409) == 409 else 422
        general = None if _blame(rows, message) else message
        return _page(user=user, patient=patient, rules=rules, rows=rows, status=status,
                     error=general or "Not saved: see the rule marked.")  # fmt: skip
    rulebook.invalidate(patient.id)
    request.app.state.services.wake_downlink()
    notice = quote(f"Saved as version {saved.version}")
    return RedirectResponse(f"/patients/{patient.id}/thresholds?notice={notice}", status_code=303)
