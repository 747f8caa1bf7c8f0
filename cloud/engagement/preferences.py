"""A patient's messaging preferences as ``policy.Preferences``: stored choices (language, time
zone, quiet hours, daily cap) plus the channel order and opt-out from their contacts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.engagement import policy, templates
from cloud.store.models import Contact, PatientPreferences

DEFAULTS: Final = policy.Preferences()


class BadPreferenceError(ValueError):
    """A preference VitalGate cannot honour (unknown time zone or language)."""


def contacts_of(session: Session, patient_id: str, transports: Sequence[str]) -> list[Contact]:
    """The patient's contacts on configured transports, preferred (lowest rank) first."""
    return list(
        session.scalars(
            select(Contact)
            .where(Contact.patient_id == patient_id, Contact.kind.in_(transports))
            .order_by(Contact.rank, Contact.id)
        )
    )


def load(session: Session, patient_id: str, transports: Sequence[str]) -> policy.Preferences:
    """The patient's preferences; defaults for what they never set. Opted out when every
    contact has said STOP; no channels when they have no contact we can send to."""
    row = session.get(PatientPreferences, patient_id)
    contacts = contacts_of(session, patient_id, transports)
    usable = [c for c in contacts if not c.opted_out]
    kinds = tuple(dict.fromkeys(c.kind for c in usable))
    base = DEFAULTS if row is None else policy.Preferences(
        timezone=row.timezone, language=row.language, quiet_start=row.quiet_start,
        quiet_end=row.quiet_end, daily_cap=row.daily_cap,
    )  # fmt: skip
    return policy.Preferences(
        timezone=base.timezone, channels=kinds, language=base.language,
        quiet_start=base.quiet_start, quiet_end=base.quiet_end, daily_cap=base.daily_cap,
        opted_out=bool(contacts) and not usable,
    )  # fmt: skip


def save(
    session: Session,
    patient_id: str,
    *,
    language: str,
    timezone: str,
    quiet_start: time,
    quiet_end: time,
    daily_cap: int,
    actor: int | None,
    now: datetime,
) -> PatientPreferences:
    """Store the patient's choices (checked: a known time zone and a language we write in)."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadPreferenceError(f"unknown time zone {timezone!r}; use an IANA name") from exc
    if language not in templates.languages():
        raise BadPreferenceError(
            f"no messages in {language!r}; choose one of {', '.join(templates.languages())}"
        )
    row = session.get(PatientPreferences, patient_id)
    if row is None:
        row = PatientPreferences(patient_id=patient_id)
        session.add(row)
    row.language, row.timezone, row.daily_cap = language, timezone, daily_cap
    row.quiet_start, row.quiet_end = quiet_start, quiet_end
    row.updated_at, row.updated_by = now, actor
    return row
