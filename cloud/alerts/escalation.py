"""Drive the escalation chains: notify each step's people when its delay has passed.

The chain is the organisation's (``escalation_chains``) or the default
(``cloud.alerts.chains.DEFAULT_CHAINS``). Each step queues one delivery per recipient on
their own preferred contact (``contacts``; their login e-mail when they have none), which the
notifier sends with an acknowledge link. The scheduler judges with an injected clock, like
``MissingDataWatch``, so tests move time instead of waiting. Only open alerts escalate: an
acknowledgement on any channel stops the chain; a snooze holds it and, when it ends, starts
it again from the first step. Device alerts reach the first step only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts import history
from cloud.alerts.chains import DEFAULT_CHAINS, AlertTimes, Step, due_steps
from cloud.background import BackgroundService
from cloud.errors import InvalidRequestError
from cloud.store.models import (
    Alert,
    AlertStatus,
    Contact,
    Delivery,
    DeliveryStatus,
    EscalationChain,
)
from cloud.store.tenancy import CareTeamMember, Patient, Role, User
from gateway.wire import Priority

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL_S: Final = 5.0
FIRST_STEP_ONLY: Final = frozenset({"device"})
"""Categories that reach the first step only: a flat battery does not page the on-call doctor."""


def chain_for(session: Session, organisation_id: str, priority: str) -> tuple[Step, ...]:
    row = session.get(EscalationChain, (organisation_id, priority))
    if row is None:
        return DEFAULT_CHAINS[Priority(priority)]
    return tuple(Step.from_json(s) for s in row.steps)


def set_chain(
    session: Session,
    *,
    organisation_id: str,
    priority: str,
    steps: Sequence[Step],
    user_id: int,
    now: datetime,
) -> EscalationChain:
    """Store the organisation's chain for one priority (the API's and the web app's edit);
    named users must be active care-team users of the organisation, or it is refused."""
    named = {u for s in steps for u in s.user_ids}
    if named:
        found = set(
            session.scalars(
                select(User.id).where(
                    User.id.in_(named),
                    User.organisation_id == organisation_id,
                    User.role != Role.PATIENT,
                )
            )
        )
        missing = sorted(named - found)
        if missing:
            raise InvalidRequestError(f"no care-team users {missing} in this organisation")
    row = session.get(EscalationChain, (organisation_id, priority))
    if row is None:
        row = EscalationChain(organisation_id=organisation_id, priority=priority, steps=[])
        session.add(row)
    row.steps, row.updated_at, row.updated_by = [s.to_json() for s in steps], now, user_id
    return row


def recipients(session: Session, patient: Patient, step: Step) -> list[User]:
    """The active users a step reaches for this patient, in id order."""
    org = User.organisation_id == patient.organisation_id
    active = User.is_active.is_(True)
    if step.user_ids:
        stmt = select(User).where(org, active, User.id.in_(step.user_ids))
        return list(session.scalars(stmt.order_by(User.id)))
    if step.role not in (Role.CARE_COORDINATOR, Role.CLINICIAN, Role.ADMIN):
        return []  # on_call without named people: nobody to reach
    team = select(CareTeamMember.user_id).where(CareTeamMember.patient_id == patient.id)
    on_team = list(
        session.scalars(
            select(User)
            .where(org, active, User.role == step.role, User.id.in_(team))
            .order_by(User.id)
        )
    )
    if on_team or step.role == Role.CARE_COORDINATOR:
        return on_team
    return list(
        session.scalars(select(User).where(org, active, User.role == step.role).order_by(User.id))
    )


def contacts_for(session: Session, user: User, transports: Sequence[str]) -> list[tuple[str, str]]:
    """(kind, address) of the user's usable contacts, preferred first; their login e-mail
    last when they have no e-mail contact of their own."""
    rows = session.scalars(
        select(Contact)
        .where(
            Contact.user_id == user.id,
            Contact.kind.in_(transports),
            Contact.opted_out.is_(False),
        )
        .order_by(Contact.rank, Contact.id)
    ).all()
    out = [(c.kind, c.address) for c in rows]
    if "email" in transports and all(kind != "email" for kind, _ in out):
        out.append(("email", user.email))
    return out


def contact_for(session: Session, user: User, transports: Sequence[str]) -> tuple[str, str] | None:
    """The user's preferred usable contact, or None."""
    found = contacts_for(session, user, transports)
    return found[0] if found else None


def notify_step(
    session: Session,
    alert: Alert,
    index: int,
    step: Step,
    *,
    now: datetime,
    transports: Sequence[str],
    actor: int | None = None,
    channel: str = "scheduler",
    manual: bool = False,
) -> list[int]:
    """Queue a delivery to each of the step's people; record the escalation. User ids reached."""
    patient = session.get(Patient, alert.patient_id)
    people = recipients(session, patient, step) if patient is not None else []
    reached: list[int] = []
    unreachable: list[int] = []
    for user in people:
        contact = contact_for(session, user, transports)
        if contact is None:
            unreachable.append(user.id)
            continue
        session.add(
            Delivery(
                alert_id=alert.id,
                channel=f"{contact[0]}:user#{user.id}",
                target_index=-1,
                status=DeliveryStatus.PENDING,
                attempts=0,
                created_at=now,
                next_attempt_at=now,
                user_id=user.id,
                step=index,
            )
        )
        reached.append(user.id)
    history.record(
        session,
        alert.id,
        "escalated" if index > 0 or manual else "notified",
        at=now,
        actor=actor,
        channel=channel,
        detail={"step": index, "role": step.role, "users": reached, "unreachable": unreachable},
    )
    if not reached:
        log.warning("escalation.nobody_reached", alert_id=alert.id, step=index, role=step.role)
    return reached


class EscalationScheduler(BackgroundService):
    """A thread that notifies due escalation steps; ``run_once(now=…)`` for tests and tools."""

    thread_name = "escalation"
    failed_event = "escalation.failed"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime],
        transports: Callable[[], Sequence[str]],
        interval_s: float = DEFAULT_INTERVAL_S,
        on_deliveries: Callable[[], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.transports = transports
        self.on_deliveries = on_deliveries
        super().__init__(interval_s=interval_s)

    def tick(self) -> None:
        self.run_once(now=self.clock())

    def run_once(self, *, now: datetime) -> list[tuple[int, int]]:
        """Notify every due step of every open alert; (alert id, step) for each notified."""
        notified: list[tuple[int, int]] = []
        transports = list(self.transports())
        with self.sessions.begin() as session:
            rows = session.execute(
                select(Alert, Patient.organisation_id)
                .join(Patient, Patient.id == Alert.patient_id)
                # Alerts from before escalation existed (no start) are escalated by hand
                # only: an upgrade must not page everyone about last month's alerts.
                .where(Alert.status == AlertStatus.OPEN, Alert.escalation_started_at.is_not(None))
                .order_by(Alert.id)
                # Several API processes each run a scheduler: on PostgreSQL each alert is
                # judged by one of them at a time (SQLite has one writer anyway).
                .with_for_update(of=Alert, skip_locked=True)
            ).all()
            for alert, organisation_id in rows:
                notified += self._escalate(session, alert, organisation_id, now, transports)
        if notified and self.on_deliveries is not None:
            self.on_deliveries()
        return notified

    def _escalate(
        self,
        session: Session,
        alert: Alert,
        organisation_id: str,
        now: datetime,
        transports: list[str],
    ) -> list[tuple[int, int]]:
        if alert.snoozed_until is not None and alert.snoozed_until <= now:
            # The snooze is over: the chain starts again from its first step.
            alert.escalation_step, alert.escalation_started_at = 0, alert.snoozed_until
            alert.snoozed_until = None
            history.record(
                session, alert.id, "snooze_ended", at=now, actor=None, channel="scheduler"
            )
        chain = chain_for(session, organisation_id, alert.priority)
        if alert.category in FIRST_STEP_ONLY:
            chain = chain[:1]
        started = alert.escalation_started_at or alert.opened_at
        times = AlertTimes(opened_at=started, snoozed_until=alert.snoozed_until)
        due = due_steps(chain, times, already_sent=alert.escalation_step, now=now)
        for index in due:
            notify_step(session, alert, index, chain[index], now=now, transports=transports)
            alert.escalation_step = index + 1
        return [(alert.id, i) for i in due]
