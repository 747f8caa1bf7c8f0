"""``/api/v1``: the inbound-reply webhook, patients' message threads, the worklist, contacts,
and a patient's messaging preferences.

The webhook takes what SMS providers post — a form (``From``, ``Body``, ``MessageSid``) or
JSON (``from``, ``body``, ``id``) — and is authenticated by a timestamped HMAC-SHA256
signature or, weaker, the shared secret as is (``cloud.engagement.webhook``). A stale or
replayed signature is refused; a malformed request is refused (422); a message
from an unknown number is recorded and answered 200, so the provider does not retry it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cloud.api.deps import (
    AdminUser,
    ClockDep,
    CurrentUser,
    SessionDep,
    SettingsDep,
    StaffUser,
    TransportsDep,
)
from cloud.api.pagination import PageDep, paginate
from cloud.api.params import IdPath, IdQuery, IntPath
from cloud.auth.scope import audit_read, audit_write, get_patient, visible_patient_ids
from cloud.engagement import care_messages, inbound, patient_link, policy, preferences, webhook
from cloud.engagement import worklist as worklist_service
from cloud.engagement.schemas import (
    ContactCreate,
    ContactPublic,
    InboundResult,
    MessageCreate,
    MessagePublic,
    PatientLinkPublic,
    PreferencesPublic,
    PreferencesUpdate,
    TaskComplete,
    TaskPublic,
)
from cloud.errors import (
    InvalidRequestError,
    NotFoundError,
)
from cloud.store.models import Contact, Message, Task, TaskStatus
from cloud.store.tenancy import User

router = APIRouter()

MAX_WEBHOOK_BYTES: Final = 16_384
LIMITS: Final = {"from": 254, "body": MAX_WEBHOOK_BYTES, "id": 128}
FIELDS: Final = {
    "from": ("from", "From", "sender", "msisdn"),
    "body": ("body", "Body", "text"),
    "id": ("id", "MessageSid", "message_id", "messageId"),
}


async def raw_body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise InvalidRequestError(f"an inbound message is at most {MAX_WEBHOOK_BYTES} bytes")
    return body


def parse_webhook(content_type: str, body: bytes) -> dict[str, str]:
    """The sender, text and provider id of a form or JSON webhook; 422 for anything else."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            data: Any = json.loads(text)
            if not isinstance(data, dict):
                raise InvalidRequestError("a JSON webhook is an object with 'from' and 'body'")
            fields = data
        elif content_type.startswith("application/x-www-form-urlencoded"):
            fields = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
        else:
            raise InvalidRequestError("send application/x-www-form-urlencoded or application/json")
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # RecursionError: JSON nested thousands deep (found by the audit; was a 500).
        if isinstance(exc, InvalidRequestError):
            raise
        raise InvalidRequestError("the webhook body is not valid UTF-8 form or JSON") from exc
    out: dict[str, str] = {}
    for name, keys in FIELDS.items():
        value = next((fields[k] for k in keys if k in fields), None)
        if value is None:
            if name == "id":
                continue
            raise InvalidRequestError(f"the webhook has no '{name}'")
        if not isinstance(value, str) or len(value) > LIMITS[name]:
            raise InvalidRequestError(f"'{name}' must be a string of at most {LIMITS[name]}")
        if "\x00" in value:
            raise InvalidRequestError(f"'{name}' must not contain NUL characters")
        out[name] = value
    return out


_FORM_FIELDS: Final = {
    "From": {"type": "string", "maxLength": 254, "example": "+15550100777"},
    "Body": {"type": "string", "maxLength": MAX_WEBHOOK_BYTES, "example": "2"},
    "MessageSid": {"type": "string", "maxLength": 128},
}
_JSON_FIELDS: Final = {
    "from": {"type": "string", "maxLength": 254, "example": "+15550100777"},
    "body": {"type": "string", "maxLength": MAX_WEBHOOK_BYTES, "example": "2"},
    "id": {"type": "string", "maxLength": 128},
}
INBOUND_OPENAPI: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": _FORM_FIELDS, "required": ["From", "Body"]}
            },
            "application/json": {
                "schema": {"type": "object", "properties": _JSON_FIELDS, "required": ["from", "body"]}
            },
        },
    },
    "parameters": [
        {"name": "X-VitalGate-Timestamp", "in": "header", "schema": {"type": "string"},
         "description": "Unix seconds when the request was signed (at most 5 minutes old)"},
        {"name": "X-VitalGate-Signature", "in": "header", "schema": {"type": "string"},
         "description": "sha256=<hex HMAC-SHA256 of '<timestamp>.<raw body>' with the shared "
                        "secret>; each signature is accepted once"},
        {"name": "X-VitalGate-Secret", "in": "header", "schema": {"type": "string"},
         "description": "the shared secret as is: weaker (replayable), for providers that "
                        "cannot sign"},
    ],
}  # fmt: skip


@router.post(
    "/messages/inbound",
    response_model=InboundResult,
    tags=["messages"],
    openapi_extra=INBOUND_OPENAPI,
)
def inbound_webhook(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    body: Annotated[bytes, Depends(raw_body)],
) -> InboundResult:
    """A reply from a patient or a care-team member, as the SMS provider posts it."""
    secret = settings.inbound_secret
    webhook.verify(
        session,
        secret=secret.get_secret_value() if secret is not None else None,
        headers=dict(request.headers),
        body=body,
        now=clock(),
    )
    fields = parse_webhook(request.headers.get("content-type", ""), body)
    try:
        outcome = inbound.receive(
            session,
            sender=fields["from"],
            body=fields["body"],
            provider_id=fields.get("id") or None,
            now=clock(),
        )
        session.commit()
    except inbound.BadAddressError as exc:
        raise InvalidRequestError(str(exc)) from exc
    except IntegrityError:  # the provider's retry raced the first delivery: it won
        session.rollback()
        seen = session.scalars(
            select(Message).where(Message.provider_id == fields.get("id"))
        ).first()
        if seen is None:
            raise
        return InboundResult(status="duplicate", message_id=seen.id, intent=seen.intent)
    return InboundResult(
        status=outcome.status,
        message_id=outcome.message_id,
        intent=outcome.intent,
        task_id=outcome.task_id,
        alert_id=outcome.alert_id,
    )


@router.get(
    "/patients/{patient_id}/messages", response_model=list[MessagePublic], tags=["messages"]
)
def patient_thread(
    patient_id: IdPath,
    *,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
) -> list[Message]:
    """The patient's conversation, newest first (a patient reads their own)."""
    patient = get_patient(session, principal, patient_id)
    stmt = (
        select(Message)
        .where(Message.patient_id == patient.id)
        .order_by(Message.at.desc(), Message.id.desc())
    )
    rows = paginate(session, stmt, page, response)
    audit_read(session, principal, request, patient_id=patient.id, rows=len(rows))
    return rows


@router.post(
    "/patients/{patient_id}/messages",
    response_model=MessagePublic,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["messages"],
)
def message_patient(
    patient_id: IdPath,
    body: MessageCreate,
    principal: StaffUser,
    session: SessionDep,
    request: Request,
    *,
    clock: ClockDep,
    transports: TransportsDep,
) -> Message:
    """Send the patient a message on their preferred contact (queued; retried). A patient who
    replied STOP on every address is not messaged."""
    patient = get_patient(session, principal, patient_id)
    message = care_messages.send(
        session, patient=patient, user_id=principal.user_id, body=body.body,
        transports=transports, now=clock(),
    )  # fmt: skip
    audit_read(session, principal, request, patient_id=patient.id, rows=1)
    session.refresh(message)
    request.app.state.services.notifier.wake()
    return message


# ------------------------------------------------------------------ worklist


@router.get("/worklist", response_model=list[TaskPublic], tags=["worklist"])
def worklist(
    principal: StaffUser,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    *,
    task_status: Annotated[
        str, Query(alias="status", pattern="^(open|done|all)$")
    ] = TaskStatus.OPEN,
    patient_id: IdQuery | None = None,
) -> list[Task]:
    """Tasks for the care team (call the patient, read a reply), oldest open first."""
    stmt = worklist_service.tasks_for(principal, status=task_status)
    if patient_id is not None:
        stmt = stmt.where(Task.patient_id == get_patient(session, principal, patient_id).id)
    rows = paginate(session, stmt.order_by(Task.created_at, Task.id), page, response)
    audit_read(session, principal, request, patient_id=patient_id, rows=len(rows))
    return rows


@router.post("/worklist/{task_id}/complete", response_model=TaskPublic, tags=["worklist"])
def complete_task(
    task_id: IntPath,
    *,
    principal: StaffUser,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    body: TaskComplete | None = None,
) -> Task:
    task = worklist_service.complete(
        session, principal, task_id=task_id, note=body.note if body else None, now=clock()
    )
    audit_read(session, principal, request, patient_id=task.patient_id, rows=1)
    session.refresh(task)
    return task


# ------------------------------------------------------------------ contacts


@router.post(
    "/contacts",
    response_model=ContactPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["messages"],
)
def create_contact(
    body: ContactCreate, admin: AdminUser, session: SessionDep, clock: ClockDep
) -> Contact:
    """How to reach a patient or a care-team member (rank 0 is preferred)."""
    if body.patient_id is not None:
        get_patient(session, admin, body.patient_id)
    else:
        user = session.get(User, body.user_id)
        if user is None or user.organisation_id != admin.organisation_id:
            raise NotFoundError(f"no user {body.user_id}")
    try:
        kind, address = inbound.normalise(body.address)
    except inbound.BadAddressError as exc:
        raise InvalidRequestError(str(exc)) from exc
    if kind != body.kind:
        raise InvalidRequestError(f"{body.kind!r} contact needs a {body.kind} address")
    contact = Contact(
        organisation_id=admin.organisation_id,
        user_id=body.user_id,
        patient_id=body.patient_id,
        kind=kind,
        address=address,
        rank=body.rank,
        opted_out=False,
        created_at=clock(),
    )
    session.add(contact)
    session.commit()
    return contact


@router.get("/contacts", response_model=list[ContactPublic], tags=["messages"])
def list_contacts(
    principal: StaffUser,
    session: SessionDep,
    request: Request,
    *,
    patient_id: IdQuery | None = None,
) -> list[Contact]:
    """The organisation's contacts (a patient's when ``patient_id`` is given)."""
    stmt = select(Contact).where(Contact.organisation_id == principal.organisation_id)
    if patient_id is not None:
        stmt = stmt.where(Contact.patient_id == get_patient(session, principal, patient_id).id)
    else:
        stmt = stmt.where(
            (Contact.patient_id.is_(None)) | Contact.patient_id.in_(visible_patient_ids(principal))
        )
    rows = list(session.scalars(stmt.order_by(Contact.id).limit(1000)))
    audit_read(session, principal, request, patient_id=patient_id, rows=len(rows))
    return rows


@router.delete("/contacts/{contact_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["messages"])
def delete_contact(contact_id: IntPath, admin: AdminUser, session: SessionDep) -> Response:
    contact = session.get(Contact, contact_id)
    if contact is None or contact.organisation_id != admin.organisation_id:
        raise NotFoundError(f"no contact {contact_id}")
    session.delete(contact)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ------------------------------------------------------------------ preferences


def _preferences_public(prefs: policy.Preferences) -> PreferencesPublic:
    return PreferencesPublic(
        language=prefs.language, timezone=prefs.timezone, quiet_start=prefs.quiet_start,
        quiet_end=prefs.quiet_end, daily_cap=prefs.daily_cap, channels=list(prefs.channels),
        opted_out=prefs.opted_out,
    )  # fmt: skip


@router.get(
    "/patients/{patient_id}/preferences", response_model=PreferencesPublic, tags=["messages"]
)
def read_preferences(
    patient_id: IdPath,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    transports: TransportsDep,
) -> PreferencesPublic:
    """The patient's messaging preferences (defaults for what was never set)."""
    patient = get_patient(session, principal, patient_id)
    out = _preferences_public(preferences.load(session, patient.id, transports))
    audit_read(session, principal, request, patient_id=patient.id, rows=1)
    return out


@router.put(
    "/patients/{patient_id}/preferences", response_model=PreferencesPublic, tags=["messages"]
)
def update_preferences(
    patient_id: IdPath,
    body: PreferencesUpdate,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    *,
    clock: ClockDep,
    transports: TransportsDep,
) -> PreferencesPublic:
    """Change the patient's language, time zone, quiet hours and daily cap (a patient may
    change their own)."""
    patient = get_patient(session, principal, patient_id)
    try:
        preferences.save(
            session, patient.id, language=body.language, timezone=body.timezone,
            quiet_start=body.quiet_start, quiet_end=body.quiet_end, daily_cap=body.daily_cap,
            actor=principal.user_id, now=clock(),
        )  # fmt: skip
    except preferences.BadPreferenceError as exc:
        raise InvalidRequestError(str(exc)) from exc
    audit_write(session, principal, request, patient_id=patient.id, rows=1)
    session.commit()
    return _preferences_public(preferences.load(session, patient.id, transports))


# ------------------------------------------------------------------ the patient's own page


@router.post(
    "/patients/{patient_id}/link",
    response_model=PatientLinkPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["messages"],
)
def patient_page_link(
    patient_id: IdPath,
    principal: StaffUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    *,
    clock: ClockDep,
) -> PatientLinkPublic:
    """A signed link to the patient's own page (their week, messages and preferences), valid
    for 7 days, to send them in a message."""
    patient = get_patient(session, principal, patient_id)
    now = clock()
    token = patient_link.issue(
        patient_id=patient.id, key=settings.secret_key.get_secret_value(), now=now
    )
    audit_write(session, principal, request, patient_id=patient.id, rows=1)
    session.commit()
    return PatientLinkPublic(
        url=f"{settings.public_url}/p/{token}", expires_at=now + patient_link.DEFAULT_LIFETIME
    )
