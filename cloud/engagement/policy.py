"""When a patient message may go out, and on which channel: pure functions of ``now``.

Quiet hours are the patient's own (in their time zone); non-urgent messages that fall in
them wait until the quiet hours end. A daily cap keeps VitalGate from nagging; opt-out is
final for every non-urgent message. Urgent safety prompts (re-measure after a dangerous
reading) ignore quiet hours but still honour opt-out: the care team is alerted anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

DEFAULT_QUIET_START: Final = time(21, 0)
DEFAULT_QUIET_END: Final = time(8, 0)
DEFAULT_DAILY_CAP: Final = 3


class Urgency(StrEnum):
    ROUTINE = "routine"  # weekly summary, adherence nudge, rating question
    URGENT = "urgent"  # re-measure prompt after an out-of-range reading


@dataclass(frozen=True, slots=True)
class Preferences:
    timezone: str = "UTC"
    channels: tuple[str, ...] = ("sms",)
    """Preferred first; the next is the fallback when one is down."""
    language: str = "en"
    quiet_start: time = DEFAULT_QUIET_START
    quiet_end: time = DEFAULT_QUIET_END
    daily_cap: int = DEFAULT_DAILY_CAP
    opted_out: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    send_at: datetime | None
    """None: do not send (opted out, or the day's cap is reached)."""
    reason: str
    channels: tuple[str, ...] = field(default=())


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Whether a local time lies in a quiet window that may span midnight."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_end_after(now: datetime, prefs: Preferences) -> datetime:
    """The first moment at or after ``now`` outside the patient's quiet hours (aware UTC in, out)."""
    tz = ZoneInfo(prefs.timezone)
    local = now.astimezone(tz)
    if not in_quiet_hours(local.timetz().replace(tzinfo=None), prefs.quiet_start, prefs.quiet_end):
        return now
    end = local.replace(
        hour=prefs.quiet_end.hour, minute=prefs.quiet_end.minute, second=0, microsecond=0
    )
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(now.tzinfo)


def decide(
    *,
    now: datetime,
    prefs: Preferences,
    urgency: Urgency,
    sent_today: int,
    channels_down: Sequence[str] = (),
) -> Decision:
    """When (and on which channels, in order) a patient message should be sent."""
    if prefs.opted_out:
        return Decision(None, "patient opted out")
    usable = tuple(c for c in prefs.channels if c not in channels_down)
    if not usable:
        return Decision(None, "every preferred channel is down", ())
    if urgency is Urgency.URGENT:
        return Decision(now, "urgent: sent now", usable)
    if sent_today >= prefs.daily_cap:
        return Decision(None, f"daily cap of {prefs.daily_cap} messages reached", usable)
    at = quiet_end_after(now, prefs)
    reason = "sent now" if at == now else "held until the patient's quiet hours end"
    return Decision(at, reason, usable)
