"""The care team's web app: sign-in, the population, a patient's trends (the alert inbox is
``cloud.web.inbox``).

Server-rendered (Jinja2) with htmx for partial updates and uPlot for charts, both vendored
under ``static/vendor`` (no CDN, no build step). Each page is one more client of the
services the API uses — ``population``, ``trends``, ``alerts.lifecycle``, ``auth.scope`` —
with the same scope and the same audit of every read of patient data.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Final
from urllib.parse import quote, quote_plus

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select

from cloud.api.deps import ClockDep, SessionDep, SettingsDep, TransportsDep
from cloud.api.params import IdPath, no_nul
from cloud.auth import service as auth
from cloud.auth.scope import (
    audit_read,
    audit_write,
    get_patient,
)
from cloud.engagement import care_messages
from cloud.engagement.billing import DAYS_99454
from cloud.errors import (
    AccountLockedError,
    InvalidRequestError,
    NotAuthenticatedError,
    TooManyRequestsError,
)
from cloud.population import service as population
from cloud.reports import service as reports
from cloud.settings import CloudSettings
from cloud.store.models import Alert, GatewayRecord, Message
from cloud.store.tenancy import Device, Pairing, User
from cloud.tenancy import service as tenancy
from cloud.thresholds import service as thresholds
from cloud.thresholds.router import RuleBookDep
from cloud.trends import service as trends
from cloud.trends.glucose import glucose_report
from cloud.trends.router import glucose_public
from cloud.web import session as web
from cloud.web.admin_pages import router as admin_pages
from cloud.web.charts import chart_panels, levels_by_panel
from cloud.web.glucose_pdf import router as glucose_pdf_pages
from cloud.web.inbox import router as inbox_pages
from cloud.web.patient_page import router as patient_pages
from cloud.web.render import ago as _ago
from cloud.web.render import render
from cloud.web.reports_pages import router as reports_pages
from cloud.web.thresholds_page import replay_part
from cloud.web.thresholds_page import router as thresholds_page
from gateway.signal.ruleset import rule_to_dict

STATIC_DIR: Final = Path(__file__).parent / "static"
SPANS: Final = {"1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30),
                "90d": timedelta(days=90), "1y": timedelta(days=365)}  # fmt: skip
DEFAULT_SPAN: Final = "30d"
CHART_POINTS: Final = 600
"""Points per chart: about one per horizontal pixel of a tablet."""
THREAD_SHOWN: Final = 20

router = APIRouter(include_in_schema=False)


# ------------------------------------------------------------------ sign-in


def _login_form(
    request: Request,
    settings: CloudSettings,
    next_path: str | None,
    error: str | None,
    *,
    status: int = 200,
) -> Response:
    token = web.login_csrf_token(request)
    response = render(
        "login.html.j2", status=status, next=web.safe_next(next_path), error=error, csrf=token
    )
    web.set_login_csrf(response, token, settings)
    return response


@router.get("/login")
def login_page(request: Request, settings: SettingsDep, next: str | None = None) -> Response:
    return _login_form(request, settings, next, None)


@router.post("/login")
def login(
    request: Request,
    *,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    if not web.login_csrf_ok(request, csrf_token):
        return _login_form(
            request, settings, next, "The form expired. Please sign in again.", status=403
        )
    now = datetime.now(UTC)  # sessions expire in real time, whatever the app's clock
    try:
        user = auth.sign_in(
            session, throttle=request.app.state.services.login_throttle,
            client=request.client.host if request.client else "unknown",
            email=email, password=password, now=now,
        )  # fmt: skip
    except TooManyRequestsError as exc:
        response = _login_form(request, settings, next, str(exc), status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except AccountLockedError as exc:
        session.commit()
        return _login_form(request, settings, next, str(exc), status=423)
    except NotAuthenticatedError:
        session.commit()  # keep the failure count
        return _login_form(
            request, settings, next, "That email and password do not match.", status=401
        )
    session.commit()
    response = RedirectResponse(web.safe_next(next), status_code=303)
    web.start(response, user=user, settings=settings, now=now)
    return response


@router.post("/logout")
def logout(user: web.StaffAction, session: SessionDep, clock: ClockDep) -> Response:
    """Sign out: like the API's logout, every session of this account ends."""
    account = session.get(User, user.principal.user_id)
    if account is not None:
        auth.revoke_all(session, user=account, now=clock())
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    web.end(response)
    return response


# ------------------------------------------------------------------ population


@router.get("/")
def population_page(
    user: web.StaffPage,
    *,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    program: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    mine: bool = False,
) -> HTMLResponse:
    now = clock()
    filters = population.Filters(
        program=program or None,
        search=q or None,
        care_team_user=user.principal.user_id if mine else None,
        tag=tag or None,
    )
    rows = population.population(session, principal=user.principal, now=now, filters=filters)
    audit_read(session, user.principal, request, patient_id=None, rows=len(rows))
    return render(
        "population.html.j2", user=user, rows=rows, now=now, ago=_ago, program=program or "",
        q=q or "", mine=mine, programs=("heart_failure", "copd", "hypertension", "diabetes", "general"),
        tag=tag or "", tags=tenancy.organisation_tags(session, organisation_id=user.principal.organisation_id),
        need_days=DAYS_99454,
    )  # fmt: skip


# ------------------------------------------------------------------ patient


@router.get("/patients/{patient_id}")
def patient_page(
    patient_id: IdPath,
    *,
    user: web.StaffPage,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    rulebook: RuleBookDep,
    span: Annotated[str, Query(pattern="^(1d|7d|30d|90d|1y)$")] = DEFAULT_SPAN,
    notice: Annotated[str | None, Query(max_length=300)] = None,
) -> HTMLResponse:
    now = clock()
    patient = get_patient(session, user.principal, patient_id)
    since = now - SPANS[span]
    series = trends.patient_trends(
        session, patient_id=patient.id, since=since, until=now, points=CHART_POINTS
    )
    alerts = list(
        session.scalars(
            select(Alert)
            .where(Alert.patient_id == patient.id, Alert.opened_at >= since)
            .order_by(Alert.opened_at.desc())
            .limit(50)
        )
    )
    devices = session.execute(
        select(Device, GatewayRecord)
        .join(Pairing, Pairing.device_id == Device.id)
        .outerjoin(GatewayRecord, GatewayRecord.id == Device.gateway_id)
        .where(Pairing.patient_id == patient.id, Pairing.valid_to.is_(None))
        .order_by(Device.id)
    ).all()
    hrv = trends.hrv_trend(
        session, patient_id=patient.id, since=since, until=now, points=CHART_POINTS
    )
    if hrv.points:
        series = {**series, "hrv_rmssd": hrv}
    rules = thresholds.rules_in_force(session, rulebook, patient)
    panels = chart_panels(series, alerts, levels_by_panel(rules))
    thread = list(
        session.scalars(
            select(Message)
            .where(Message.patient_id == patient.id)
            .order_by(Message.at.desc(), Message.id.desc())
            .limit(THREAD_SHOWN)
        )
    )[::-1]
    report = glucose_report(session, patient_id=patient.id, now=now)
    cgm = glucose_public(patient.id, report) if report is not None else None
    rows = sum(len(t.points) for t in series.values()) + len(thread)
    audit_read(session, user.principal, request, patient_id=patient.id, rows=rows)
    return render(
        "patient.html.j2", user=user, patient=patient, panels=panels, alerts=alerts,
        devices=devices, span=span, spans=list(SPANS), now=now, ago=_ago, json=json,
        thread=thread, rules=rules, rule_to_dict=rule_to_dict, notice=notice, cgm=cgm,
        tags=tenancy.tags_of(session, [patient.id])[patient.id],
    )  # fmt: skip


@router.get("/patients/{patient_id}/replay")
def replay_preview(
    patient_id: IdPath,
    user: web.StaffPage,
    session: SessionDep,
    request: Request,
    *,
    clock: ClockDep,
    rulebook: RuleBookDep,
) -> HTMLResponse:
    """How many alerts the rules in force would have fired in the last 30 days (htmx part)."""
    patient = get_patient(session, user.principal, patient_id)
    return replay_part(session, rulebook, user=user, request=request, patient=patient,
                       overrides=None, now=clock())  # fmt: skip


@router.post("/patients/{patient_id}/messages")
def message_patient(
    patient_id: IdPath,
    *,
    user: web.StaffAction,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    transports: TransportsDep,
    body: Annotated[str, Form(min_length=1, max_length=1600)],
) -> Response:
    """Write to the patient from their page (the API's ``POST …/messages``, as a form)."""
    patient = get_patient(session, user.principal, patient_id)
    try:
        care_messages.send(
            session, patient=patient, user_id=user.principal.user_id, body=no_nul(body),
            transports=transports, now=clock(),
        )  # fmt: skip
    except (care_messages.OptedOutError, care_messages.NoContactError) as exc:
        session.rollback()
        return RedirectResponse(f"/patients/{patient.id}?notice={quote(str(exc))}", status_code=303)
    audit_write(session, user.principal, request, patient_id=patient.id, rows=1)
    session.commit()
    request.app.state.services.notifier.wake()
    return RedirectResponse(f"/patients/{patient.id}?notice=Message+queued", status_code=303)


@router.post("/patients/{patient_id}/time")
def log_time(
    patient_id: IdPath,
    *,
    user: web.StaffAction,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    minutes: Annotated[int, Form(ge=1, le=240)],
    interactive: Annotated[bool, Form()] = False,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Log minutes toward billing (the API's ``POST …/time``, as a form)."""
    patient = get_patient(session, user.principal, patient_id)
    reports.log_time(
        session, patient=patient, user_id=user.principal.user_id, minutes=minutes,
        interactive=interactive, note=no_nul(note) or None, at=None, now=clock(),
    )  # fmt: skip
    audit_write(session, user.principal, request, patient_id=patient.id, rows=1)
    session.commit()
    return RedirectResponse(f"/patients/{patient.id}?notice=Time+logged", status_code=303)


@router.post("/patients/{patient_id}/tags")
def set_tags(
    patient_id: IdPath,
    *,
    user: web.StaffAction,
    session: SessionDep,
    request: Request,
    tags: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Replace the patient's tags from a comma-separated field (the API's ``PUT …/tags``)."""
    patient = get_patient(session, user.principal, patient_id)
    try:
        saved = tenancy.set_tags(session, patient=patient, tags=no_nul(tags).split(","))
    except InvalidRequestError as exc:
        session.rollback()
        return RedirectResponse(
            f"/patients/{patient.id}?notice={quote_plus(str(exc))}", status_code=303
        )
    audit_write(session, user.principal, request, patient_id=patient.id, rows=len(saved))
    session.commit()
    return RedirectResponse(f"/patients/{patient.id}?notice=Tags+saved", status_code=303)


# ------------------------------------------------------------------ wiring


def install(app: FastAPI) -> None:
    """Add the pages, their static files, and the redirect to sign-in for a page without a
    session (API routes keep their JSON 401)."""
    app.include_router(router)
    app.include_router(inbox_pages)
    app.include_router(patient_pages)
    app.include_router(glucose_pdf_pages)
    app.include_router(admin_pages)
    app.include_router(thresholds_page)
    app.include_router(reports_pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(web.SignInRequiredError)
    async def sign_in(request: Request, _exc: web.SignInRequiredError) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        return RedirectResponse(web.sign_in_url(target), status_code=303)

    @app.exception_handler(web.BadCsrfError)
    async def bad_csrf(_request: Request, exc: web.BadCsrfError) -> Response:
        return render(
            "message.html.j2", status=403, title="Please reload the page", text=str(exc), user=None
        )
