"""The ``Channel`` seam: one way to send a message, whatever carries it.

``AppriseChannel`` gives email, SMS providers, Slack / Teams, webhooks and push through one
apprise URL each. The URL may hold credentials, so logs and the delivery log name a channel
by its scheme and position only (``label``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

import apprise


class ChannelError(Exception):
    """A message could not be handed to its channel; retried by the notifier."""


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    key: str = ""
    """Idempotency key, the same on every retry of one delivery: sent as the
    ``Idempotency-Key`` header of a webhook (``X-Idempotency-Key`` of an e-mail), so a
    receiver can drop a repeat."""


KEY_HEADERS: dict[str, str] = {
    **dict.fromkeys(("json", "jsons", "form", "forms", "xml", "xmls"), "Idempotency-Key"),
    **dict.fromkeys(("mailto", "mailtos"), "X-Idempotency-Key"),
}
"""Schemes whose apprise plugin takes custom headers (``?+Name=value``), and the header."""


class Channel(Protocol):
    @property
    def label(self) -> str: ...

    def send(self, message: Message) -> None:
        """Deliver or raise ChannelError."""
        ...


class AppriseChannel:
    def __init__(self, url: str, index: int = 0, *, label: str | None = None) -> None:
        scheme = url.split("://", 1)[0] if "://" in url else "unknown"
        self._url = url
        self.label = label or f"{scheme}#{index}"
        self._apprise = apprise.Apprise()
        if not self._apprise.add(url):
            raise ChannelError(f"{self.label}: not a valid apprise URL; check its scheme and form")

    def send(self, message: Message) -> None:
        target = self._apprise
        header = KEY_HEADERS.get(self._url.split("://", 1)[0].lower())
        if message.key and header is not None:
            keyed = apprise.Apprise()
            separator = "&" if "?" in self._url else "?"
            if keyed.add(f"{self._url}{separator}+{header}={quote(message.key)}"):
                target = keyed
        ok = target.notify(title=message.title, body=message.body)
        if not ok:
            raise ChannelError(f"{self.label}: delivery refused or unreachable")


def channels_from_urls(urls: list[str]) -> list[AppriseChannel]:
    return [AppriseChannel(url, i) for i, url in enumerate(urls)]
