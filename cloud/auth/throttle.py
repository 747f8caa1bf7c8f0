"""Login throttling (the ``limits`` library): slow guessing down without locking anyone out.

Counted before the password is hashed (argon2 costs about half a second of a core here, so
a refused attempt must cost nothing), in moving windows, answered 429 with ``Retry-After``:

* per client address: failed attempts on any account (``per_client``; successes do not
  count, so the many people behind one clinic's address are not held up by each other);
* per client address and account: attempts on that account (``per_client_account``); a
  successful login clears it;
* per account: failed attempts from every address (``per_account``), applied only to an
  address that has itself failed on that account. A distributed guesser is held to one
  try per address, but the real user, signing in from an address with no failures, is
  never refused because of someone else's: an attacker cannot hand out lock-outs.

And at most ``MAX_IN_FLIGHT`` passwords of one address are being checked at a time, so a
burst of concurrent attempts occupies one core, not all of them, and a real login keeps its
own speed.

``memory://`` keeps the windows in this process; with several API processes, point
``storage_uri`` at a shared store (``redis://…``) so the limits hold across them.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from cloud.errors import TooManyRequestsError

MAX_IN_FLIGHT: Final = 1
"""Password checks one client address may have running at once."""
_NAMESPACE: Final = "vg-login"


class LoginThrottle:
    """The three windows and the in-flight bound; thread-safe (routes run in a pool)."""

    def __init__(
        self,
        *,
        storage_uri: str = "memory://",
        per_client: str = "20/minute",
        per_client_account: str = "5/15 minutes",
        per_account: str = "20/15 minutes",
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self.per_client = parse(per_client)
        self.per_client_account = parse(per_client_account)
        self.per_account = parse(per_account)
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()

    @contextmanager
    def attempt(self, *, client: str, account: str) -> Iterator[None]:
        """Admit one login attempt or raise ``TooManyRequestsError``, before any hashing.

        Inside the block the caller checks the password; it calls ``failed`` or
        ``succeeded`` with the outcome.
        """
        with self._lock:
            if self._in_flight[client] >= MAX_IN_FLIGHT:
                raise TooManyRequestsError(
                    "another login from this address is being checked; try again in a second",
                    retry_after=1,
                )
            self._admit(client, account)
            self._in_flight[client] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[client] -= 1
                if self._in_flight[client] <= 0:
                    del self._in_flight[client]

    def _admit(self, client: str, account: str) -> None:
        pair = (_NAMESPACE, client, account)
        if not self._limiter.test(self.per_client_account, *pair):
            self._refuse(self.per_client_account, pair, "for this account from this address")
        has_failed = self._limiter.get_window_stats(self.per_client_account, *pair).remaining < (
            self.per_client_account.amount
        )
        one = (_NAMESPACE, account)
        if has_failed and not self._limiter.test(self.per_account, *one):
            self._refuse(self.per_account, one, "for this account")
        if not self._limiter.test(self.per_client, _NAMESPACE, client):
            self._refuse(self.per_client, (_NAMESPACE, client), "from this address")
        self._limiter.hit(self.per_client_account, *pair)

    def failed(self, *, client: str, account: str) -> None:
        """A wrong password (or unknown account): it counts against the address and the
        account (the pair window already holds the attempt)."""
        self._limiter.hit(self.per_client, _NAMESPACE, client)
        self._limiter.hit(self.per_account, _NAMESPACE, account)

    def succeeded(self, *, client: str, account: str) -> None:
        """The right password: this address starts afresh on this account."""
        self._limiter.clear(self.per_client_account, _NAMESPACE, client, account)

    def _refuse(self, item: RateLimitItem, ids: tuple[str, ...], scope: str) -> None:
        reset = self._limiter.get_window_stats(item, *ids).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise TooManyRequestsError(
            f"too many login attempts {scope}; try again in {wait} s", retry_after=wait
        )
