"""Inbound replies: simple answers understood, the rest kept for a person."""

from __future__ import annotations

import pytest

from cloud.engagement.replies import ReplyIntent, parse_reply


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("1", ReplyIntent.FEELS_FINE),
        (" 1. ", ReplyIntent.FEELS_FINE),
        ("2", ReplyIntent.CALL_ME),
        ("2 please", ReplyIntent.CALL_ME),
        ("STOP", ReplyIntent.OPT_OUT),
        ("Stop.", ReplyIntent.OPT_OUT),
        ("unsubscribe", ReplyIntent.OPT_OUT),
        ("START", ReplyIntent.OPT_IN),
        ("help", ReplyIntent.HELP),
        ("my ankles are swollen again since Sunday", ReplyIntent.FREE_TEXT),
        ("stop sending me the weekly ones but I still want the others", ReplyIntent.FREE_TEXT),
        ("12", ReplyIntent.FREE_TEXT),
        ("", ReplyIntent.FREE_TEXT),
        ("😀", ReplyIntent.FREE_TEXT),
    ],
)
def test_intents(text: str, intent: ReplyIntent) -> None:
    reply = parse_reply(text)
    assert reply.intent is intent
    assert reply.text == text.strip()


def test_a_call_request_and_free_text_need_a_person() -> None:
    assert parse_reply("2").needs_a_person
    assert parse_reply("I feel dizzy").needs_a_person
    assert not parse_reply("1").needs_a_person
    assert not parse_reply("STOP").needs_a_person


def test_ratings_only_when_a_rating_was_asked() -> None:
    assert parse_reply("9", expect_rating=True).rating == 9
    assert parse_reply("10!", expect_rating=True).intent is ReplyIntent.RATING
    assert parse_reply("11", expect_rating=True).intent is ReplyIntent.FREE_TEXT
    assert parse_reply("2", expect_rating=True).rating == 2  # a rating, not "call me"
    assert parse_reply("9").intent is ReplyIntent.FREE_TEXT


def test_very_long_replies_are_kept_but_cut() -> None:
    reply = parse_reply("x" * 5000)
    assert reply.intent is ReplyIntent.FREE_TEXT
    assert len(reply.text) == 1600
