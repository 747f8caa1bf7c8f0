"""Escalation chains on a fake clock, and the engagement measures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from cloud.alerts.chains import DEFAULT_CHAINS, AlertTimes, due_steps, next_step_at
from cloud.engagement.measures import (
    adherence_days,
    net_promoter_score,
    responsiveness,
    stopped_measuring,
)
from gateway.wire import Priority

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HIGH = DEFAULT_CHAINS[Priority.HIGH]


def test_chain_steps_fall_due_until_someone_acknowledges() -> None:
    open_ = AlertTimes(opened_at=T0)
    assert due_steps(HIGH, open_, already_sent=0, now=T0) == [0]
    assert due_steps(HIGH, open_, already_sent=1, now=T0 + timedelta(minutes=9)) == []
    assert due_steps(HIGH, open_, already_sent=1, now=T0 + timedelta(minutes=10)) == [1]
    assert due_steps(HIGH, open_, already_sent=1, now=T0 + timedelta(minutes=25)) == [1, 2]
    assert next_step_at(HIGH, open_, already_sent=1) == T0 + timedelta(minutes=10)
    acked = AlertTimes(opened_at=T0, acknowledged_at=T0 + timedelta(minutes=5))
    assert due_steps(HIGH, acked, already_sent=1, now=T0 + timedelta(hours=1)) == []
    assert next_step_at(HIGH, acked, already_sent=1) is None


def test_snooze_holds_the_chain_until_it_ends() -> None:
    snoozed = AlertTimes(opened_at=T0, snoozed_until=T0 + timedelta(minutes=30))
    assert due_steps(HIGH, snoozed, already_sent=1, now=T0 + timedelta(minutes=15)) == []
    assert next_step_at(HIGH, snoozed, already_sent=1) == T0 + timedelta(minutes=30)
    assert due_steps(HIGH, snoozed, already_sent=1, now=T0 + timedelta(minutes=30)) == [1, 2]
    assert DEFAULT_CHAINS[Priority.LOW][1:] == ()


def test_adherence_counts_distinct_days_in_the_window() -> None:
    today = date(2026, 11, 23)
    days = [
        today,
        today,
        today - timedelta(days=29),
        today - timedelta(days=30),
        today + timedelta(days=1),
    ]
    assert adherence_days(days, today=today) == 2


def test_responsiveness_pairs_each_prompt_with_its_first_reply() -> None:
    prompts = [T0, T0 + timedelta(days=2), T0 + timedelta(days=4)]
    replies = [
        T0 + timedelta(minutes=30),
        T0 + timedelta(minutes=40),
        T0 + timedelta(days=2, hours=2),
    ]
    r = responsiveness(prompts, replies)
    assert (r.prompts, r.replies) == (3, 2)
    assert r.reply_rate == 2 / 3
    assert r.median_reply_s == (30 * 60 + 2 * 3600) / 2


def test_sentiment_and_retention() -> None:
    assert net_promoter_score([10, 9, 8, 6, 0]) == 0.0
    assert net_promoter_score([10, 10, 7]) == 66.7
    assert net_promoter_score([]) is None
    today = date(2026, 11, 23)
    assert stopped_measuring(today - timedelta(days=7), today=today)
    assert not stopped_measuring(today - timedelta(days=6), today=today)
    assert stopped_measuring(None, today=today)
