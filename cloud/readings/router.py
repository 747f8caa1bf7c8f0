"""``/api/v1``: readings, the edge's rollups, the quarantine and the dead-letter table,
scoped to the caller.

A ``patient_id`` filter outside the caller's scope is "not found"; without one, a list
holds only the patients the caller may see. Each read of patient data is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import and_, func, literal, select
from sqlalchemy.orm import Session

from cloud.api.deps import AdminUser, CurrentUser, Principal, SessionDep, SettingsDep
from cloud.api.pagination import PageDep, paginate
from cloud.api.params import IdQuery, UtcQuery
from cloud.auth.scope import audit_read, get_patient, visible_patient_ids
from cloud.readings.schemas import (
    DeadLetterPublic,
    EdgeRollupPublic,
    QuarantinedReadingPublic,
    ReadingPublic,
)
from cloud.store.models import DeadLetter, EdgeRollup, GatewayRecord, QuarantinedReading, Reading
from cloud.store.readings import readings_query
from gateway.wire import Metric

router = APIRouter()


def _patient_filter(
    session: Session, principal: Principal, patient_id: str | None
) -> tuple[str | None, bool]:
    """(the one patient asked for, or None; whether to scope by the visible set)."""
    if patient_id is None:
        return None, True
    return get_patient(session, principal, patient_id).id, False


@router.get("/readings", response_model=list[ReadingPublic], tags=["readings"])
def list_readings(
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    *,
    patient_id: IdQuery | None = None,
    metric: Metric | None = None,
    since: UtcQuery | None = None,
    until: UtcQuery | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[Reading]:
    """Raw readings by time range, newest first."""
    one, scope_all = _patient_filter(session, principal, patient_id)
    stmt = readings_query(
        patient_id=one, metric=metric.value if metric else None, since=since, until=until
    )
    if scope_all:
        stmt = stmt.where(Reading.patient_id.in_(visible_patient_ids(principal)))
    rows = list(session.scalars(stmt.order_by(Reading.ts.desc()).limit(limit)))
    audit_read(session, principal, request, patient_id=one, rows=len(rows))
    return rows


@router.get("/rollups", response_model=list[EdgeRollupPublic], tags=["readings"])
def list_rollups(
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    *,
    patient_id: IdQuery | None = None,
    metric: Metric | None = None,
    since: UtcQuery | None = None,
    until: UtcQuery | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[EdgeRollup]:
    """The gateways' per-minute rollups of continuous streams (with HRV where a strap sent
    RR intervals), by start time, newest first."""
    one, scope_all = _patient_filter(session, principal, patient_id)
    stmt = select(EdgeRollup)
    if one is not None:
        stmt = stmt.where(EdgeRollup.patient_id == one)
    if scope_all:
        stmt = stmt.where(EdgeRollup.patient_id.in_(visible_patient_ids(principal)))
    if metric is not None:
        stmt = stmt.where(EdgeRollup.metric == metric.value)
    if since is not None:
        stmt = stmt.where(EdgeRollup.start >= since)
    if until is not None:
        stmt = stmt.where(EdgeRollup.start < until)
    rows = list(session.scalars(stmt.order_by(EdgeRollup.start.desc()).limit(limit)))
    audit_read(session, principal, request, patient_id=one, rows=len(rows))
    return rows


@router.get("/quarantine", response_model=list[QuarantinedReadingPublic], tags=["readings"])
def list_quarantine(
    admin: AdminUser,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
) -> list[QuarantinedReading]:
    """Readings from the organisation's gateways kept aside, newest first, with the reason."""
    stmt = (
        select(QuarantinedReading)
        .where(QuarantinedReading.organisation_id == admin.organisation_id)
        .order_by(QuarantinedReading.received_at.desc(), QuarantinedReading.id)
    )
    rows = paginate(session, stmt, page, response)
    audit_read(session, admin, request, patient_id=None, rows=len(rows))
    return rows


@router.get("/dead-letters", response_model=list[DeadLetterPublic], tags=["ops"])
def list_dead_letters(
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetterPublic]:
    """Refused messages of the organisation's gateways with the reason, newest first
    (payloads stay in the database; a reason may quote one, so the read is audited).

    A dead letter belongs to the gateway its topic names (``vg/v1/<gateway>/…``). Those
    of unknown gateways, or with topics outside the root, belong to no organisation and
    are shown to no admin: there is no platform-operator role; operators read them in
    the database.
    """
    prefix = settings.mqtt.topic_root.rstrip("/") + "/"
    own_topic = literal(prefix) + GatewayRecord.id + "/"
    rows = session.execute(
        select(
            DeadLetter.id,
            DeadLetter.received_at,
            DeadLetter.topic,
            DeadLetter.reason,
            func.length(DeadLetter.payload),
        )
        .join(
            GatewayRecord,
            and_(
                GatewayRecord.organisation_id == admin.organisation_id,
                func.substr(DeadLetter.topic, 1, func.length(own_topic)) == own_topic,
            ),
        )
        .order_by(DeadLetter.id.desc())
        .limit(limit)
    ).all()
    audit_read(session, admin, request, patient_id=None, rows=len(rows))
    return [
        DeadLetterPublic(id=i, received_at=at, topic=t, reason=r, size=n or 0)
        for i, at, t, r, n in rows
    ]
