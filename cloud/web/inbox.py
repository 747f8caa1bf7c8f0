"""The coordinators' alert inbox: open alerts by priority, kept current by a server-sent
event stream (``cloud.web.live``), with acknowledge / snooze / escalate / assign / resolve
on the list and on an alert's page, and beside it the worklist of patients' replies.

Every action is a CSRF-protected form that calls the lifecycle function the JSON API calls
(``cloud.alerts.lifecycle``, ``cloud.engagement.worklist``), so the alert's history records
who did it, when, and that it came from the web. The forms work without JavaScript; with it,
htmx posts them and swaps the list in place, and ``app.js`` adds the keyboard shortcuts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts import history, lifecycle
from cloud.api.deps import ClockDep, Principal, SessionDep, TransportsDep
from cloud.api.params import IntPath, no_nul
from cloud.auth.scope import audit_read, audit_write, get_alert, visible_patient_ids
from cloud.engagement import worklist
from cloud.errors import ConflictError, InvalidRequestError, NotFoundError
from cloud.store.models import Alert, AlertStatus, Message, Task
from cloud.store.tenancy import Role, User
from cloud.web import live
from cloud.web import session as web
from cloud.web.render import ago, render

WEB_CHANNEL: Final = "web"
PRIORITY_ORDER: Final = {"high": 0, "medium": 1, "low": 2}
INBOX_ROWS: Final = 500
TASKS_SHOWN: Final = 50
REASONS: Final = {"call_me": "Asked to be called", "read_reply": "Read their reply"}
INBOX: Final = "/alerts"

router = APIRouter(include_in_schema=False)


def _inbox(session: Session, user: web.WebUser) -> list[Alert]:
    rows = list(
        session.scalars(
            select(Alert)
            .where(
                Alert.status != AlertStatus.RESOLVED,
                Alert.patient_id.in_(visible_patient_ids(user.principal)),
            )
            .order_by(Alert.opened_at.desc())
            .limit(INBOX_ROWS)
        )
    )
    rows.sort(key=lambda a: (PRIORITY_ORDER.get(a.priority, 3), a.status != AlertStatus.OPEN))
    return rows


def _tasks(session: Session, user: web.WebUser) -> list[tuple[Task, str | None]]:
    """Open tasks, oldest first, with the patient's words when a reply opened them."""
    tasks = worklist.tasks_for(user.principal).order_by(Task.created_at, Task.id).limit(TASKS_SHOWN)
    rows = session.execute(
        select(Task, Message.body)
        .outerjoin(Message, Message.id == Task.message_id)
        .where(Task.id.in_(select(tasks.subquery().c.id)))
        .order_by(Task.created_at, Task.id)
    ).all()
    return [(row[0], row[1]) for row in rows]


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    found = session.execute(select(User.id, User.email).where(User.id.in_(ids))).all()
    return {row.id: row.email for row in found}


def _care_team(session: Session, principal: Principal) -> list[User]:
    """The organisation's active care-team members, to assign an alert to."""
    return list(
        session.scalars(
            select(User)
            .where(
                User.organisation_id == principal.organisation_id,
                User.role != Role.PATIENT,
                User.is_active.is_(True),
            )
            .order_by(User.email)
        )
    )


@router.get(INBOX)
def inbox_page(
    user: web.StaffPage,
    *,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    partial: bool = False,
    notice: Annotated[str | None, Query(max_length=300)] = None,
) -> HTMLResponse:
    # The marker before the lists: a change between the two is announced, never lost.
    since = None if partial else live.read_marker(session, user.principal).tag
    alerts = _inbox(session, user)
    tasks = [] if partial else _tasks(session, user)
    names = _names(session, {a.assigned_to for a in alerts if a.assigned_to is not None})
    audit_read(session, user.principal, request, patient_id=None, rows=len(alerts) + len(tasks))
    name = "inbox_list.html.j2" if partial else "inbox.html.j2"
    return render(
        name, user=user, alerts=alerts, tasks=tasks, reasons=REASONS, names=names, now=clock(),
        ago=ago, notice=notice, since=since,
    )  # fmt: skip


@router.get("/worklist")
def worklist_part(
    user: web.StaffPage, session: SessionDep, request: Request, clock: ClockDep
) -> HTMLResponse:
    """The worklist beside the inbox (an htmx part)."""
    tasks = _tasks(session, user)
    audit_read(session, user.principal, request, patient_id=None, rows=len(tasks))
    return render("worklist.html.j2", user=user, tasks=tasks, reasons=REASONS, now=clock(), ago=ago)


def stream_user(request: Request) -> Principal:
    """The staff member of a stream, checked in a session closed before streaming starts."""
    services = request.app.state.services
    with services.sessions() as session:
        return web.get_staff_user(web.get_web_user(request, session, services.settings)).principal


@router.get(f"{INBOX}/stream", response_class=EventSourceResponse)
async def inbox_stream(
    request: Request,
    principal: Annotated[Principal, Depends(stream_user)],
    since: Annotated[str | None, Query(max_length=40, pattern=r"^[0-9a-f]+\.[0-9a-f]+$")] = None,
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
) -> AsyncIterator[ServerSentEvent]:
    """``alerts`` and ``worklist`` events when the caller's alerts or tasks change (since the
    page's marker, or the last event the browser saw before it reconnected)."""
    async for change in live.changes(request, principal, since=last_event_id or since):
        yield change


@router.get("/alerts/{alert_id}")
def alert_page(
    alert_id: IntPath,
    *,
    user: web.StaffPage,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    notice: Annotated[str | None, Query(max_length=300)] = None,
) -> HTMLResponse:
    alert = get_alert(session, user.principal, alert_id)
    events = list(history.entries(session, alert.id))
    people = {e.actor_user_id for e in events if e.actor_user_id is not None}
    people |= {e.detail["user_id"] for e in events if isinstance(e.detail.get("user_id"), int)}
    if alert.assigned_to is not None:
        people.add(alert.assigned_to)
    names = _names(session, people)
    team = _care_team(session, user.principal) if alert.status != AlertStatus.RESOLVED else []
    audit_read(session, user.principal, request, patient_id=alert.patient_id, rows=1 + len(events))
    return render(
        "alert.html.j2", user=user, alert=alert, events=events, names=names, team=team,
        now=clock(), ago=ago, notice=notice,
    )  # fmt: skip


# ------------------------------------------------------------------ actions

NextField = Annotated[str | None, Form(max_length=2000)]


def _back(request: Request, alert_id: int, next_path: str | None, notice: str | None) -> Response:
    """Back where the form was (the alert's page by default); htmx gets the list part."""
    target = web.safe_next(next_path or f"/alerts/{alert_id}")
    if target == INBOX and request.headers.get("hx-request") == "true":
        target = f"{INBOX}?partial=true"
    if notice:
        target += ("&" if "?" in target else "?") + f"notice={quote(notice)}"
    return RedirectResponse(target, status_code=303)


def _done(
    session: Session, user: web.WebUser, request: Request, alert: Alert, next_path: str | None
) -> Response:
    audit_write(session, user.principal, request, patient_id=alert.patient_id, rows=1)
    session.commit()
    return _back(request, alert.id, next_path, None)


def _refused(
    session: Session, request: Request, alert_id: int, next_path: str | None, exc: Exception
) -> Response:
    """A conflict a person can cause (already resolved, end of the chain): say so, change
    nothing."""
    session.rollback()
    return _back(request, alert_id, next_path, str(exc))


Refusal = (ConflictError, InvalidRequestError)


def _act(
    session: Session,
    user: web.WebUser,
    request: Request,
    alert_id: int,
    next_path: str | None,
    *,
    change: Callable[[Alert], object],
    refusals: tuple[type[Exception], ...] = Refusal,
) -> Response:
    """One alert action from a form: the alert in the caller's scope, the lifecycle's
    ``change`` to it, then audit and commit, or the refusal said and nothing changed."""
    alert = get_alert(session, user.principal, alert_id)
    try:
        change(alert)
    except refusals as exc:
        return _refused(session, request, alert_id, next_path, exc)
    return _done(session, user, request, alert, next_path)


@router.post("/alerts/{alert_id}/ack")
def acknowledge(
    alert_id: IntPath,
    *,
    user: web.StaffAction,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    next: NextField = None,
) -> Response:
    actor = user.principal.user_id
    return _act(session, user, request, alert_id, next, change=lambda alert: lifecycle.acknowledge(
        session, alert, actor=actor, channel=WEB_CHANNEL, now=clock(),
    ))  # fmt: skip


@router.post("/alerts/{alert_id}/resolve")
def resolve(
    alert_id: IntPath,
    *,
    user: web.StaffAction,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    note: Annotated[str | None, Form(max_length=2000)] = None,
    next: NextField = None,
) -> Response:
    actor, text = user.principal.user_id, no_nul(note) if note else None
    return _act(session, user, request, alert_id, next, change=lambda alert: lifecycle.resolve(
        session, alert, actor=actor, channel=WEB_CHANNEL, now=clock(), note=text,
    ))  # fmt: skip


@router.post("/alerts/{alert_id}/snooze")
def snooze(
    alert_id: IntPath,
    *,
    user: web.StaffAction,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    minutes: Annotated[int, Form(ge=5, le=24 * 60)] = 60,
    next: NextField = None,
) -> Response:
    now, actor = clock(), user.principal.user_id
    return _act(session, user, request, alert_id, next, change=lambda alert: lifecycle.snooze(
        session, alert, until=now + timedelta(minutes=minutes), actor=actor,
        channel=WEB_CHANNEL, now=now,
    ))  # fmt: skip


@router.post("/alerts/{alert_id}/escalate")
def escalate(
    alert_id: IntPath,
    *,
    user: web.StaffAction,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    transports: TransportsDep,
    next: NextField = None,
) -> Response:
    """Notify the next step of the escalation chain now (the API's ``…/escalate``)."""
    me = user.principal
    response = _act(session, user, request, alert_id, next, change=lambda alert: lifecycle.escalate(
        session, alert, organisation_id=me.organisation_id, actor=me.user_id,
        channel=WEB_CHANNEL, now=clock(), transports=transports,
    ))  # fmt: skip
    request.app.state.services.notifier.wake()
    return response


@router.post("/alerts/{alert_id}/assign")
def assign(
    alert_id: IntPath,
    *,
    user: web.StaffAction,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    user_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    next: NextField = None,
) -> Response:
    """Make a care-team member (often oneself) responsible for the alert."""
    me = user.principal
    return _act(session, user, request, alert_id, next, change=lambda alert: lifecycle.assign(
        session, alert, user_id=user_id, organisation_id=me.organisation_id, actor=me.user_id,
        channel=WEB_CHANNEL, now=clock(),
    ), refusals=(*Refusal, NotFoundError))  # fmt: skip


@router.post("/worklist/{task_id}/done")
def task_done(
    task_id: IntPath,
    *,
    user: web.StaffAction,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    note: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Mark a worklist task done (the API's ``POST /worklist/{id}/complete``)."""
    try:
        task = worklist.complete(
            session, user.principal, task_id=task_id, note=no_nul(note) if note else None,
            now=clock(),
        )  # fmt: skip
    except ConflictError as exc:
        session.rollback()
        return RedirectResponse(f"{INBOX}?notice={quote(str(exc))}", status_code=303)
    audit_write(session, user.principal, request, patient_id=task.patient_id, rows=1)
    session.commit()
    if request.headers.get("hx-request") == "true":
        return RedirectResponse("/worklist", status_code=303)
    return RedirectResponse(INBOX, status_code=303)
