"""The patient's own page, opened by a signed, expiring link (``/p/{token}``): their week in
large type and plain words, their messages with a reply box, and how they want to be
contacted — in their language (English or Spanish, like the message templates).

It calls the same services as the care team's pages and the API: the rollups ingest keeps,
``engagement.inbound`` for a reply (so "2" asks for a call, as by SMS), and
``engagement.preferences``; every read is audited as the patient's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.api.deps import ClockDep, SessionDep, SettingsDep, TransportsDep
from cloud.engagement import inbound, patient_link, preferences
from cloud.errors import ForbiddenError, NotFoundError
from cloud.store.models import AuditEvent, Message
from cloud.store.rollups import Period, Rollup
from cloud.store.tenancy import Patient
from cloud.web.render import render

WEEK: Final = timedelta(days=7)
MESSAGES_SHOWN: Final = 20
TEXT: Final[dict[str, dict[str, str]]] = {
    "en": {
        "title": "Your readings", "hello": "Hello", "week": "Your week",
        "none": "No readings this week yet. Your devices send them on their own.",
        "avg": "on average", "readings": "readings", "latest": "latest",
        "messages": "Messages", "you": "You", "team": "Your care team",
        "reply": "Write to your care team", "reply_hint": "Reply 1 if you feel fine, 2 if you would like a call.",
        "send": "Send", "sent": "Thank you. Your care team will read your message.",
        "prefs": "How we contact you", "language": "Language", "quiet": "Quiet hours (no messages)",
        "from": "From", "to": "To", "stop": "Stop all messages from VitalGate", "save": "Save",
        "saved": "Your choices are saved.", "no_messages": "No messages yet.",
    },
    "es": {
        "title": "Sus mediciones", "hello": "Hola", "week": "Su semana",
        "none": "Todavía no hay mediciones esta semana. Sus aparatos las envían solos.",
        "avg": "en promedio", "readings": "mediciones", "latest": "la última",
        "messages": "Mensajes", "you": "Usted", "team": "Su equipo de cuidado",
        "reply": "Escriba a su equipo de cuidado", "reply_hint": "Responda 1 si se siente bien, 2 si desea una llamada.",
        "send": "Enviar", "sent": "Gracias. Su equipo de cuidado leerá su mensaje.",
        "prefs": "Cómo le contactamos", "language": "Idioma", "quiet": "Horas de silencio (sin mensajes)",
        "from": "Desde", "to": "Hasta", "stop": "No recibir más mensajes de VitalGate", "save": "Guardar",
        "saved": "Sus preferencias están guardadas.", "no_messages": "Todavía no hay mensajes.",
    },
}  # fmt: skip
LABELS: Final[dict[str, dict[str, str]]] = {
    "en": {"blood_pressure": "Your blood pressure this week", "body_weight": "Your weight",
           "blood_glucose": "Your blood sugar this week", "spo2": "Your oxygen level this week",
           "heart_rate": "Your heart rate this week", "pulse_rate": "Your pulse this week",
           "body_temperature": "Your temperature this week"},
    "es": {"blood_pressure": "Su presión arterial esta semana", "body_weight": "Su peso",
           "blood_glucose": "Su azúcar en sangre esta semana", "spo2": "Su nivel de oxígeno esta semana",
           "heart_rate": "Su ritmo cardíaco esta semana", "pulse_rate": "Su pulso esta semana",
           "body_temperature": "Su temperatura esta semana"},
}  # fmt: skip
UNITS: Final = {"blood_pressure": "mmHg", "body_weight": "kg", "blood_glucose": "mg/dL",
                "spo2": "%", "heart_rate": "/min", "pulse_rate": "/min", "body_temperature": "°C"}  # fmt: skip
ORDER: Final = tuple(UNITS)

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    value: str
    unit: str
    count: int


def _week(session: Session, patient_id: str, *, now: datetime, language: str) -> list[Line]:
    """Averages of the last 7 days from the daily rollups; blood pressure as 128/82."""
    rows = session.execute(
        select(Rollup.metric, func.sum(Rollup.total), func.sum(Rollup.count))
        .where(
            Rollup.patient_id == patient_id,
            Rollup.period == Period.DAY.value,
            Rollup.start >= (now - WEEK).replace(hour=0, minute=0, second=0, microsecond=0),
        )
        .group_by(Rollup.metric)
    ).all()
    mean = {m: (float(total) / int(n), int(n)) for m, total, n in rows if n}
    if "systolic_bp" in mean and "diastolic_bp" in mean:
        (sys, count), (dia, _) = mean.pop("systolic_bp"), mean.pop("diastolic_bp")
        mean["blood_pressure"] = (sys, count)
        mean["_diastolic"] = (dia, count)
    labels = LABELS.get(language, LABELS["en"])
    lines = []
    for key in ORDER:
        if key not in mean:
            continue
        value, count = mean[key]
        shown = f"{value:.0f}/{mean['_diastolic'][0]:.0f}" if key == "blood_pressure" else (
            f"{value:.1f}" if key in ("body_weight", "body_temperature") else f"{value:.0f}")  # fmt: skip
        lines.append(Line(labels[key], shown, UNITS[key], count))
    return lines


def _patient(session: Session, token: str, key: str, now: datetime) -> Patient:
    patient = session.get(Patient, patient_link.read(token, key=key, now=now))
    if patient is None:
        raise NotFoundError("this link is no longer valid; ask your care team for a new one")
    return patient


def _audit(
    session: Session, request: Request, patient: Patient, now: datetime, action: str
) -> None:
    session.add(
        AuditEvent(
            at=now, user_id=None, organisation_id=patient.organisation_id, role="patient_link",
            action=action, resource=f"{request.method} /p/…"[:200], patient_id=patient.id,
            query="", client=request.client.host if request.client else None, outcome=1,
        )
    )  # fmt: skip


@router.get("/p/{token}")
def patient_home(
    token: str, *, request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep,
    transports: TransportsDep, done: str | None = None,
) -> HTMLResponse:  # fmt: skip
    now, key = clock(), settings.secret_key.get_secret_value()
    patient = _patient(session, token, key, now)
    prefs = preferences.load(session, patient.id, transports)
    language = prefs.language if prefs.language in TEXT else "en"
    messages = list(
        session.scalars(
            select(Message)
            .where(Message.patient_id == patient.id)
            .order_by(Message.at.desc(), Message.id.desc())
            .limit(MESSAGES_SHOWN)
        )
    )[::-1]
    lines = _week(session, patient.id, now=now, language=language)
    _audit(session, request, patient, now, "read")
    session.commit()
    response = render(
        "patient_self.html.j2", user=None, patient=patient, t=TEXT[language], lines=lines,
        messages=messages, prefs=prefs, language=language, languages=list(TEXT),
        form=patient_link.form_token(token, key=key), done=done, token=token,
    )  # fmt: skip
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _check_form(token: str, given: str, key: str) -> None:
    if not given or given != patient_link.form_token(token, key=key):
        raise ForbiddenError("this form has expired; open your link again")


@router.post("/p/{token}/reply")
def patient_reply(
    token: str, *, request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep,
    body: Annotated[str, Form(min_length=1, max_length=1600)],
    form: Annotated[str, Form(max_length=200)] = "",
) -> Response:  # fmt: skip
    now, key = clock(), settings.secret_key.get_secret_value()
    _check_form(token, form, key)
    patient = _patient(session, token, key, now)
    if "\x00" in body:
        raise ForbiddenError("the message has characters that cannot be sent")
    inbound.from_patient_page(session, patient=patient, body=body, now=now)
    _audit(session, request, patient, now, "write")
    session.commit()
    return RedirectResponse(f"/p/{token}?done=sent", status_code=303)


@router.post("/p/{token}/preferences")
def patient_preferences(
    token: str, *, request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep,
    transports: TransportsDep,
    language: Annotated[str, Form(max_length=8)],
    quiet_start: Annotated[time, Form()],
    quiet_end: Annotated[time, Form()],
    stop: Annotated[bool, Form()] = False,
    form: Annotated[str, Form(max_length=200)] = "",
) -> Response:  # fmt: skip
    now, key = clock(), settings.secret_key.get_secret_value()
    _check_form(token, form, key)
    patient = _patient(session, token, key, now)
    current = preferences.load(session, patient.id, transports)
    try:
        preferences.save(
            session, patient.id, language=language, timezone=current.timezone,
            quiet_start=quiet_start, quiet_end=quiet_end, daily_cap=current.daily_cap,
            actor=None, now=now,
        )  # fmt: skip
    except preferences.BadPreferenceError as exc:
        raise ForbiddenError(str(exc)) from exc
    inbound.set_opt_out(session, patient_id=patient.id, opted_out=stop)
    _audit(session, request, patient, now, "write")
    session.commit()
    return RedirectResponse(f"/p/{token}?done=saved", status_code=303)
