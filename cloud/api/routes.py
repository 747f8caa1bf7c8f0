"""``/api/v1`` endpoints: readings, alerts, gateways and the dead-letter table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.api.schemas import AlertPublic, DeadLetterPublic, GatewayPublic, ReadingPublic
from cloud.store.models import Alert, DeadLetter, GatewayRecord, Reading
from cloud.store.readings import readings_query
from gateway.wire import Metric

router = APIRouter()


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.services.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
IdParam = Annotated[str, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]


@router.get("/readings", response_model=list[ReadingPublic], tags=["readings"])
def list_readings(
    session: SessionDep,
    *,
    patient_id: IdParam | None = None,
    metric: Metric | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[Reading]:
    """Raw readings by time range, newest first."""
    stmt = readings_query(
        patient_id=patient_id,
        metric=metric.value if metric else None,
        since=since,
        until=until,
    )
    return list(session.scalars(stmt.order_by(Reading.ts.desc()).limit(limit)))


@router.get("/alerts", response_model=list[AlertPublic], tags=["alerts"])
def list_alerts(
    session: SessionDep,
    *,
    status: Annotated[str | None, Query(pattern="^(open|acknowledged|resolved)$")] = None,
    patient_id: IdParam | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Alert]:
    """Alerts, newest first, with their explanation."""
    stmt = select(Alert)
    if status is not None:
        stmt = stmt.where(Alert.status == status)
    if patient_id is not None:
        stmt = stmt.where(Alert.patient_id == patient_id)
    return list(session.scalars(stmt.order_by(Alert.id.desc()).limit(limit)))


@router.get("/alerts/{alert_id}", response_model=AlertPublic, tags=["alerts"])
def get_alert(alert_id: int, session: SessionDep) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise HTTPException(404, detail=f"no alert {alert_id}")
    return alert


@router.get("/gateways", response_model=list[GatewayPublic], tags=["gateways"])
def list_gateways(session: SessionDep) -> list[GatewayRecord]:
    """Each gateway's last published status (``offline`` when its last will fired)."""
    return list(session.scalars(select(GatewayRecord).order_by(GatewayRecord.id)))


@router.get("/dead-letters", response_model=list[DeadLetterPublic], tags=["ops"])
def list_dead_letters(
    session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[DeadLetterPublic]:
    """Refused messages with the reason (payloads stay in the database)."""
    rows = session.execute(
        select(
            DeadLetter.id,
            DeadLetter.received_at,
            DeadLetter.topic,
            DeadLetter.reason,
            func.length(DeadLetter.payload),
        )
        .order_by(DeadLetter.id.desc())
        .limit(limit)
    ).all()
    return [
        DeadLetterPublic(id=i, received_at=at, topic=t, reason=r, size=n or 0)
        for i, at, t, r, n in rows
    ]
