"""Quiet hours, the daily cap, opt-out and channel fallback, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, time

from cloud.engagement.policy import Preferences, Urgency, decide, in_quiet_hours, quiet_end_after

NY = Preferences(timezone="America/New_York", channels=("sms", "email"))


def test_quiet_window_across_midnight() -> None:
    assert in_quiet_hours(time(23, 0), time(21, 0), time(8, 0))
    assert in_quiet_hours(time(7, 59), time(21, 0), time(8, 0))
    assert not in_quiet_hours(time(8, 0), time(21, 0), time(8, 0))
    assert in_quiet_hours(time(13, 0), time(12, 0), time(14, 0))
    assert not in_quiet_hours(time(13, 0), time(14, 0), time(14, 0))


def test_routine_message_in_the_patients_night_waits_for_their_morning() -> None:
    # 03:30 UTC is 22:30 in New York (EST, UTC-5): quiet until 08:00 local = 13:00 UTC.
    now = datetime(2026, 11, 24, 3, 30, tzinfo=UTC)
    decision = decide(now=now, prefs=NY, urgency=Urgency.ROUTINE, sent_today=0)
    assert decision.send_at == datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    assert decision.channels == ("sms", "email")
    assert quiet_end_after(datetime(2026, 11, 24, 15, 0, tzinfo=UTC), NY) == datetime(
        2026, 11, 24, 15, 0, tzinfo=UTC
    )


def test_urgent_prompt_goes_now_but_never_to_an_opted_out_patient() -> None:
    now = datetime(2026, 11, 24, 3, 30, tzinfo=UTC)
    assert decide(now=now, prefs=NY, urgency=Urgency.URGENT, sent_today=9).send_at == now
    out = Preferences(opted_out=True)
    assert decide(now=now, prefs=out, urgency=Urgency.URGENT, sent_today=0).send_at is None


def test_daily_cap_and_fallback_channels() -> None:
    noon = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    capped = decide(now=noon, prefs=NY, urgency=Urgency.ROUTINE, sent_today=3)
    assert capped.send_at is None
    assert "cap" in capped.reason
    sms_down = decide(
        now=noon, prefs=NY, urgency=Urgency.ROUTINE, sent_today=0, channels_down=["sms"]
    )
    assert (sms_down.send_at, sms_down.channels) == (noon, ("email",))
    all_down = decide(
        now=noon, prefs=NY, urgency=Urgency.URGENT, sent_today=0, channels_down=["sms", "email"]
    )
    assert all_down.send_at is None
