"""Deliver queued alert messages with retries, recording each attempt in the delivery log."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import quote

import structlog
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud import metrics
from cloud.alerts import escalation, history, links
from cloud.background import BackgroundService
from cloud.engagement.channels import AppriseChannel, Channel, ChannelError, Message
from cloud.store.models import Alert, Contact, Delivery, DeliveryStatus, Reading, Task, TaskStatus
from cloud.store.models import Message as ThreadMessage
from cloud.store.tenancy import User
from gateway.backoff import Backoff
from gateway.wire import CANONICAL_UNITS, Metric

log = structlog.get_logger(__name__)

MAX_ATTEMPTS: Final = 6
CLAIM_BATCH: Final = 20
"""Deliveries one notifier claims at a time: small, so several workers share a burst."""
DEFAULT_LEASE_S: Final = 60.0
"""How long a claimed delivery is this process's; longer than any one send can take."""
POLL_INTERVAL_S: Final = 1.0
"""Due deliveries are looked for this often, and whenever the notifier is woken."""
RETRY_FIRST_S: Final = 2.0
RETRY_FACTOR: Final = 2.0
RETRY_CAP_S: Final = 300.0
RETRY: Final = Backoff(RETRY_FIRST_S, RETRY_FACTOR, RETRY_CAP_S)


def retry_delay_s(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: 2, 4, 8 … (at most 5 minutes)."""
    return RETRY.delay_s(attempts - 1)


LEVEL_WORDS: Final = {
    "high": "at or above",
    "urgent_high": "at or above the urgent level",
    "low": "at or below",
    "urgent_low": "at or below the urgent level",
}


TREND_DAYS: Final = 7


def unit_of(metric: str) -> str:
    """The canonical unit of a metric name, or "" for one outside the vocabulary."""
    return CANONICAL_UNITS[Metric(metric)] if metric in set(Metric) else ""


def trend_in_words(session: Session, alert: Alert, *, now: datetime) -> str:
    """The patient's recent course of the alert's metric, in one plain sentence."""
    unit = unit_of(alert.metric)

    def mean(start: datetime, end: datetime) -> tuple[float | None, int]:
        avg, n = session.execute(
            select(func.avg(Reading.value), func.count(Reading.id)).where(
                Reading.patient_id == alert.patient_id,
                Reading.metric == alert.metric,
                Reading.usable.is_(True),
                Reading.ts >= start,
                Reading.ts < end,
            )
        ).one()
        return (None if avg is None else float(avg)), int(n)

    week = timedelta(days=TREND_DAYS)
    this_week, n = mean(now - week, now)
    last_week, m = mean(now - 2 * week, now - week)
    if this_week is None:
        return f"No usable {alert.metric.replace('_', ' ')} readings in the last {TREND_DAYS} days."
    text = f"{TREND_DAYS}-day average {this_week:.0f} {unit} from {n} readings"
    if last_week is not None:
        delta = this_week - last_week
        direction = "up" if delta > 0 else "down" if delta < 0 else "unchanged"
        change = f"{direction} {abs(delta):.0f} {unit}" if direction != "unchanged" else direction
        text += f", {change} from the week before ({last_week:.0f} {unit}, {m} readings)"
    return text + "."


def alert_message(
    alert: Alert, *, public_url: str, trend: str = "", ack_url: str | None = None
) -> Message:
    """The care-team message: what, how bad, the evidence, where to act. Ids only, no names."""
    unit = unit_of(alert.metric)
    evidence = alert.evidence.get("evidence", {})
    samples = evidence.get("samples", [])
    features = evidence.get("features", {})
    what = alert.metric.replace("_", " ")
    level = features.get("level", "")
    threshold = features.get("fire")
    why = (
        f"{LEVEL_WORDS.get(level, level)} {threshold:g} {unit}"
        if isinstance(threshold, int | float)
        else level.replace("_", " ")
    )
    values = ", ".join(f"{s['value']:g}" for s in samples)
    latest = (
        f"; since then {alert.count - 1} more finding(s), latest {alert.last_value:g} {unit}"
        if alert.count > 1
        else ""
    )
    title = f"[{alert.priority.upper()}] {what} alert for patient {alert.patient_id}"
    lines = [
        f"Patient {alert.patient_id}: {what} {alert.first_value:g} {unit} ({why}; readings: {values}).",
        f"Rule {alert.rule_id} v{alert.rule_version}; opened {alert.opened_at:%Y-%m-%d %H:%M} UTC"
        f"{latest}.",
        *([trend] if trend else []),
        f"Open the alert: {public_url}/alerts/{alert.id}",
        *([f"Acknowledge: {ack_url}", f"Or reply ACK {alert.id} by SMS."] if ack_url else []),
    ]
    body = "\n".join(lines)
    return Message(title=title, body=body)


def contact_url(template: str, address: str) -> str:
    """An apprise URL for one person from a transport's template (``{address}`` filled in)."""
    return template.replace("{address}", quote(address, safe="@+"))


class Notifier(BackgroundService):
    """A thread that sends pending deliveries; woken when ingest opens an alert.

    Organisation-wide channels (``channels``, ``VG_ALERT_CHANNELS``) get every new alert;
    escalation steps queue deliveries to people, sent on their contact through the
    ``transports`` (contact kind → apprise URL template, ``VG_CONTACT_URLS``). With a
    ``link_key`` each message carries a signed acknowledge link.
    """

    thread_name = "notifier"
    failed_event = "notifier.failed"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        channels: Sequence[Channel],
        *,
        public_url: str,
        transports: Mapping[str, str] | None = None,
        link_key: str | None = None,
        link_lifetime: timedelta = links.DEFAULT_LIFETIME,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        self.sessions = sessions
        self.lease_s = lease_s
        self._stopping = threading.Event()
        self.channels = list(channels)
        self.public_url = public_url
        self.transports = dict(transports or {})
        self.link_key = link_key
        self.link_lifetime = link_lifetime
        self.clock = clock
        self._unrecorded: set[int] = set()
        """Deliveries this process sent whose outcome the database has not taken yet (it
        went away between the send and the commit): recorded on the next round, not resent."""
        super().__init__(interval_s=POLL_INTERVAL_S)

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.channels]

    def tick(self) -> None:
        self.deliver_due(now=self.clock())

    def stop(self) -> None:
        """Finish the send in flight, then hand back what this process claimed and did not
        attempt, so another notifier sends it at once rather than after the lease."""
        self._stopping.set()
        super().stop()
        self.release_claims()

    def deliver_due(self, *, now: datetime) -> int:
        """Attempt every delivery that is due; return how many were sent.

        Each delivery is claimed first (a lease in its row, taken with ``FOR UPDATE SKIP
        LOCKED`` on PostgreSQL), then attempted in a transaction of its own: any number of
        notifiers send each delivery once, and one killed mid-send leaves it to another
        after ``lease_s``."""
        sent = 0
        for delivery_id in sorted(self._unrecorded):
            sent += self._attempt_claimed(delivery_id, now=now)  # records it, sends nothing
        while not self._stopping.is_set():
            claimed = self._claim(now=now)
            for delivery_id in claimed:
                if self._stopping.is_set():
                    break
                sent += self._attempt_claimed(delivery_id, now=now)
            if len(claimed) < CLAIM_BATCH:
                break
        return sent

    def _claim(self, *, now: datetime) -> list[int]:
        with self.sessions.begin() as session:
            due = session.scalars(
                select(Delivery)
                .where(
                    Delivery.status == DeliveryStatus.PENDING,
                    Delivery.next_attempt_at <= now,
                    or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
                )
                .order_by(Delivery.id)
                .limit(CLAIM_BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            for delivery in due:
                delivery.lease_owner = self.owner
                delivery.lease_until = now + timedelta(seconds=self.lease_s)
            return [d.id for d in due]

    def _attempt_claimed(self, delivery_id: int, *, now: datetime) -> int:
        with self.sessions.begin() as session:
            delivery = session.get(Delivery, delivery_id)
            if (
                delivery is None
                or delivery.status != DeliveryStatus.PENDING
                or delivery.lease_owner != self.owner
            ):
                self._unrecorded.discard(delivery_id)  # another notifier's now
                return 0
            sent = self._attempt(session, delivery, now=now)
            delivery.lease_owner, delivery.lease_until = None, None
        self._unrecorded.discard(delivery_id)
        return sent

    def release_claims(self) -> int:
        """Hand back the deliveries this process claimed and has not attempted."""
        with self.sessions.begin() as session:
            released = session.execute(
                update(Delivery)
                .where(
                    Delivery.lease_owner == self.owner,
                    Delivery.status == DeliveryStatus.PENDING,
                )
                .values(lease_owner=None, lease_until=None)
            )
            count = int(released.rowcount)  # type: ignore[attr-defined]
        if count:
            log.info("delivery.claims_released", count=count, owner=self.owner)
        return count

    def _ack_url(self, alert: Alert, user_id: int | None, now: datetime) -> str | None:
        if self.link_key is None:
            return None
        token = links.issue_ack_token(
            alert_id=alert.id,
            user_id=user_id,
            key=self.link_key,
            now=now,
            lifetime=self.link_lifetime,
        )
        return f"{self.public_url}/api/v1/ack?token={token}"

    def _personal(self, kind: str, address: str, label: str) -> Channel | None:
        template = self.transports.get(kind)
        if template is None:
            return None
        try:
            return AppriseChannel(contact_url(template, address), label=label)
        except ChannelError:
            return None

    def _channel_of(self, session: Session, delivery: Delivery) -> Channel | None:
        """The organisation-wide channel, or the person's contact as a channel."""
        if delivery.user_id is None:
            in_range = 0 <= delivery.target_index < len(self.channels)
            return self.channels[delivery.target_index] if in_range else None
        user = session.get(User, delivery.user_id)
        if user is None or not user.is_active:
            return None
        kind = delivery.channel.split(":", 1)[0]
        contacts = escalation.contacts_for(session, user, list(self.transports))
        address = next((a for k, a in contacts if k == kind), None)
        return None if address is None else self._personal(kind, address, delivery.channel)

    def _compose(
        self, session: Session, delivery: Delivery, *, now: datetime
    ) -> tuple[Channel, Message] | str:
        """The channel and the message of a delivery, or why it cannot be sent."""
        if delivery.message_id is not None:
            row = session.get(ThreadMessage, delivery.message_id)
            if row is None:
                return "message deleted"
            if patient_opted_out(session, row):
                return "the patient opted out of this address"
            channel = self._personal(row.channel, row.address, delivery.channel)
            if channel is None:
                return "channel no longer configured"
            return channel, Message(title=PATIENT_MESSAGE_TITLE, body=row.body)
        alert = session.get(Alert, delivery.alert_id) if delivery.alert_id is not None else None
        channel = self._channel_of(session, delivery) if alert is not None else None
        if alert is None or channel is None:
            return "channel no longer configured"
        trend = trend_in_words(session, alert, now=now)
        ack_url = self._ack_url(alert, delivery.user_id, now)
        return channel, alert_message(
            alert, public_url=self.public_url, trend=trend, ack_url=ack_url
        )

    def _attempt(self, session: Session, delivery: Delivery, *, now: datetime) -> int:
        delivery.attempts += 1
        composed = self._compose(session, delivery, now=now)
        if isinstance(composed, str):
            delivery.status, delivery.last_error = DeliveryStatus.FAILED, composed
            self._message_outcome(session, delivery, DeliveryStatus.FAILED)
            return 0
        channel, message = composed
        message = Message(title=message.title, body=message.body, key=delivery.idempotency_key)
        ids = {
            "delivery_id": delivery.id,
            "alert_id": delivery.alert_id,
            "message_id": delivery.message_id,
        }
        try:
            if delivery.id in self._unrecorded:
                log.info("delivery.recorded_late", channel=channel.label, **ids)
            else:
                channel.send(message)
                self._unrecorded.add(delivery.id)  # until the commit says it is recorded
        except ChannelError as exc:
            delivery.last_error = str(exc)
            log.warning(
                "delivery.attempt_failed", channel=channel.label, attempt=delivery.attempts,
                reason=str(exc)[:200], **ids,
            )  # fmt: skip
            if delivery.attempts >= MAX_ATTEMPTS:
                delivery.status = DeliveryStatus.FAILED
                self._message_outcome(session, delivery, DeliveryStatus.FAILED)
                _surface_on_alert(
                    session, delivery, now=now, fallback=self._fall_back(session, delivery, now=now)
                )
                metrics.DELIVERIES.labels(status=DeliveryStatus.FAILED).inc()
                log.error("delivery.failed", channel=channel.label, **ids)
            else:
                delivery.next_attempt_at = now + timedelta(seconds=retry_delay_s(delivery.attempts))
            return 0
        delivery.status, delivery.sent_at = DeliveryStatus.SENT, now
        self._message_outcome(session, delivery, DeliveryStatus.SENT)
        metrics.DELIVERIES.labels(status=DeliveryStatus.SENT).inc()
        log.info("delivery.sent", channel=channel.label, **ids)
        return 1

    def _fall_back(self, session: Session, delivery: Delivery, *, now: datetime) -> str | None:
        """After a person's channel failed for good, queue their next contact not yet tried
        for this step; its label, or None when every one has been tried."""
        if delivery.message_id is not None:
            return self._patient_fall_back(session, delivery, now=now)
        if delivery.user_id is None or delivery.alert_id is None:
            return None
        user = session.get(User, delivery.user_id)
        if user is None:
            return None
        tried = set(
            session.scalars(
                select(Delivery.channel).where(
                    Delivery.alert_id == delivery.alert_id,
                    Delivery.user_id == delivery.user_id,
                    Delivery.step == delivery.step,
                )
            )
        )
        for kind, _ in escalation.contacts_for(session, user, list(self.transports)):
            label = f"{kind}:user#{user.id}"
            if label not in tried:
                session.add(
                    Delivery(
                        alert_id=delivery.alert_id, channel=label, target_index=-1,
                        status=DeliveryStatus.PENDING, attempts=0, created_at=now,
                        next_attempt_at=now, user_id=user.id, step=delivery.step,
                    )
                )  # fmt: skip
                return label
        return None

    def _patient_fall_back(
        self, session: Session, delivery: Delivery, *, now: datetime
    ) -> str | None:
        """A patient message whose channel stayed down goes to the patient's next usable
        contact (by rank) not yet tried; the failure goes on the care team's worklist."""
        row = session.get(ThreadMessage, delivery.message_id)
        if row is None or row.patient_id is None or row.organisation_id is None:
            return None
        labels = session.scalars(
            select(Delivery.channel).where(Delivery.message_id == delivery.message_id)
        )
        tried = {int(label.rsplit("#", 1)[1]) for label in labels if "#" in label}
        contacts = session.scalars(
            select(Contact)
            .where(
                Contact.patient_id == row.patient_id,
                Contact.kind.in_(list(self.transports)),
                Contact.opted_out.is_(False),
            )
            .order_by(Contact.rank, Contact.id)
        ).all()
        tried |= {c.id for c in contacts if (c.kind, c.address) == (row.channel, row.address)}
        following = next((c for c in contacts if c.id not in tried), None)
        label = None if following is None else f"{following.kind}:patient#{following.id}"
        session.add(
            Task(
                organisation_id=row.organisation_id, patient_id=row.patient_id,
                reason="message_failed", alert_id=row.alert_id, message_id=row.id,
                status=TaskStatus.OPEN, created_at=now, done_at=None, done_by=None,
                note=f"{delivery.channel.split('#', 1)[0]} failed after {delivery.attempts} "
                f"attempts; " + (f"sent on to {label.split('#', 1)[0]}" if label else
                                 "no other contact to try"),
            )
        )  # fmt: skip
        if row.alert_id is not None:  # a re-measure prompt: its alert shows it too
            history.record(
                session, row.alert_id, "delivery_failed", at=now, actor=None,
                channel=row.channel[:32],
                detail={"message_id": row.id, "attempts": delivery.attempts,
                        "channel": delivery.channel, "fallback": label},
            )  # fmt: skip
        if following is None:
            return None
        row.channel, row.address, row.outcome = following.kind, following.address, "queued"
        session.add(
            Delivery(
                alert_id=None, message_id=row.id, channel=label, target_index=-1,
                status=DeliveryStatus.PENDING, attempts=0, created_at=now, next_attempt_at=now,
            )
        )  # fmt: skip
        return label

    @staticmethod
    def _message_outcome(session: Session, delivery: Delivery, outcome: str) -> None:
        if delivery.message_id is not None:
            row = session.get(ThreadMessage, delivery.message_id)
            if row is not None:
                row.outcome = outcome


PATIENT_MESSAGE_TITLE: Final = "A message from your care team"


def _surface_on_alert(
    session: Session, delivery: Delivery, *, now: datetime, fallback: str | None
) -> None:
    """A person the chain could not reach shows in the alert's history, for whoever looks."""
    if delivery.alert_id is None:
        return
    history.record(
        session, delivery.alert_id, "delivery_failed", at=now, actor=None,
        channel=delivery.channel.split(":", 1)[0].split("#", 1)[0][:32],
        detail={"user_id": delivery.user_id, "step": delivery.step,
                "attempts": delivery.attempts, "channel": delivery.channel,
                "fallback": fallback},
    )  # fmt: skip


def patient_opted_out(session: Session, row: ThreadMessage) -> bool:
    """Whether the patient has opted this address out (STOP) since the message was queued."""
    return (
        session.scalars(
            select(Contact.id).where(
                Contact.patient_id == row.patient_id,
                Contact.kind == row.channel,
                Contact.address == row.address,
                Contact.opted_out.is_(True),
            )
        ).first()
        is not None
    )
