"""Understand a patient's reply to a message (SMS-provider style inbound webhook).

Simple answers are recognised in any case, with punctuation and filler around them
("2 please", "1.", "Stop"); everything else is kept as free text for a person to read.
Opt-out keywords follow the carriers' standard list (STOP, UNSUBSCRIBE, CANCEL, END, QUIT,
STOPALL) and START / UNSTOP opt back in, as SMS providers require.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class ReplyIntent(StrEnum):
    FEELS_FINE = "feels_fine"
    CALL_ME = "call_me"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    RATING = "rating"
    FREE_TEXT = "free_text"


OPT_OUT_WORDS: Final = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})
OPT_IN_WORDS: Final = frozenset({"start", "unstop", "yes"})
HELP_WORDS: Final = frozenset({"help", "info"})
MENU: Final[dict[str, ReplyIntent]] = {"1": ReplyIntent.FEELS_FINE, "2": ReplyIntent.CALL_ME}
"""The numbered answers our prompts offer: 1 = I feel fine, 2 = please call me."""
_WORD = re.compile(r"[a-z0-9]+")
MAX_TEXT: Final = 1600
"""Longest reply kept (ten SMS segments); longer ones are cut, never refused."""


@dataclass(frozen=True, slots=True)
class Reply:
    intent: ReplyIntent
    text: str
    rating: int | None = None
    """0–10 for an answer to a rating question (``expect_rating``)."""

    @property
    def needs_a_person(self) -> bool:
        """A call request or free text is read by a person; a worklist task is opened."""
        return self.intent in {ReplyIntent.CALL_ME, ReplyIntent.FREE_TEXT}


SINGLE_WORD: Final[dict[str, ReplyIntent]] = {
    **dict.fromkeys(OPT_IN_WORDS, ReplyIntent.OPT_IN),
    **dict.fromkeys(HELP_WORDS, ReplyIntent.HELP),
}


def _keyword(words: list[str]) -> ReplyIntent | None:
    """STOP-style keywords; "stop sending the weekly ones but…" is a sentence, not a keyword."""
    if len(words) <= 2 and words[0] in OPT_OUT_WORDS:
        return ReplyIntent.OPT_OUT
    return SINGLE_WORD.get(words[0]) if len(words) == 1 else None


def parse_reply(text: str, *, expect_rating: bool = False) -> Reply:
    """Classify one inbound message; ``expect_rating`` when the last prompt asked for 0–10."""
    kept = text.strip()[:MAX_TEXT]
    words = _WORD.findall(kept.lower())
    intent = _keyword(words) if words else None
    if intent is not None:
        return Reply(intent, kept)
    first = words[0] if words else ""
    if expect_rating and first.isdigit() and 0 <= int(first) <= 10 and len(words) <= 3:
        return Reply(ReplyIntent.RATING, kept, rating=int(first))
    if first in MENU and len(words) <= 3:
        return Reply(MENU[first], kept)
    return Reply(ReplyIntent.FREE_TEXT, kept)
