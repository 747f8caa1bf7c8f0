"""Login throttling over the real API: guessing is slowed per address and per account,
answered 429 with Retry-After before any password is hashed, and never locks the real
user out (the audit: 20 wrong passwords locked an account for 15 minutes, and 48
concurrent attempts made a real login take 6.5 s)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import httpx
import pytest
from fastapi.testclient import TestClient

from cloud.auth import security
from tests.fixtures.api import PASSWORD, World, running_world

LOGIN = "/api/v1/auth/token"
REAL = "clin@north.test"

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def tw(db_url: str, tmp_path: Path) -> Iterator[World]:
    with running_world(db_url, tmp_path / "cloud") as world:
        yield world


def from_address(world: World, address: str) -> TestClient:
    """Another client of the same running app, seen at ``address``."""
    return TestClient(world.client.app, client=(address, 40000))


def attempt(client: TestClient, email: str, password: str = "a wrong guess!") -> httpx.Response:
    response: httpx.Response = client.post(LOGIN, data={"username": email, "password": password})
    return response


def assert_throttled(r: httpx.Response, words: str) -> int:
    assert r.status_code == 429, r.text
    assert r.json()["code"] == "too_many_attempts"
    assert words in r.json()["detail"]
    wait = int(r.headers["Retry-After"])
    assert 1 <= wait <= 15 * 60
    return wait


@pytest.fixture
def hashes() -> Iterator[list[str]]:
    """Every password check the server makes (argon2 is the cost throttling must avoid)."""
    seen: list[str] = []
    real = security.verify_password

    def counted(password: str, password_hash: str | None) -> bool:
        seen.append(password)
        return real(password, password_hash)

    with mock.patch.object(security, "verify_password", counted):
        yield seen


def test_wrong_passwords_are_throttled_not_a_lock_out(tw: World, hashes: list[str]) -> None:
    attacker = from_address(tw, "203.0.113.7")
    answers = [attempt(attacker, REAL) for _ in range(20)]
    assert [r.status_code for r in answers] == [401] * 5 + [429] * 15
    for r in answers[5:]:
        assert_throttled(r, "for this account from this address")
    assert len(hashes) == 5  # refused attempts cost no hashing
    # Even the right password is refused from that address for now (it could be a guess)…
    assert_throttled(attempt(attacker, REAL, PASSWORD), "from this address")
    # …but the real user, elsewhere, logs in at once: nothing was locked.
    assert attempt(tw.client, REAL, PASSWORD).status_code == 200
    # An unknown e-mail is throttled the same way (its existence is not revealed).
    unknown = [attempt(attacker, "nobody@north.test") for _ in range(6)]
    assert [r.status_code for r in unknown] == [401] * 5 + [429]


def test_one_address_trying_many_accounts_is_throttled(tw: World) -> None:
    attacker = from_address(tw, "203.0.113.8")
    answers = [attempt(attacker, f"user{i}@north.test") for i in range(22)]
    assert [r.status_code for r in answers] == [401] * 20 + [429] * 2
    assert_throttled(answers[-1], "from this address")
    assert attempt(tw.client, REAL, PASSWORD).status_code == 200


def test_many_addresses_on_one_account_get_one_try_each_the_real_user_gets_in(
    tw: World, hashes: list[str]
) -> None:
    # 15 addresses, 2 guesses each: the account's failure window (20) fills after 10, after
    # which each new address still gets its first try and then waits.
    codes = []
    for i in range(15):
        bot = from_address(tw, f"198.51.100.{i + 1}")
        codes += [attempt(bot, REAL).status_code, attempt(bot, REAL).status_code]
    assert codes[:20] == [401] * 20
    assert codes[20:] == [401, 429] * 5
    wait = assert_throttled(attempt(from_address(tw, "198.51.100.1"), REAL), "for this account")
    assert wait > 60  # the window is 15 minutes
    # The real user, from an address with no failures, is let in (and hashed) at once.
    assert attempt(tw.client, REAL, PASSWORD).status_code == 200
    assert len(hashes) == 26


def test_concurrent_attempts_do_not_slow_a_real_login_down(tw: World) -> None:
    def real_login_seconds() -> float:
        start = time.perf_counter()
        assert attempt(tw.client, REAL, PASSWORD).status_code == 200
        return time.perf_counter() - start

    alone = real_login_seconds()
    attacker = from_address(tw, "203.0.113.9")
    go = threading.Barrier(49)

    def guess(_: int) -> httpx.Response:
        go.wait()
        return attempt(attacker, REAL)

    with ThreadPoolExecutor(max_workers=49) as pool:
        guesses = [pool.submit(guess, i) for i in range(48)]
        go.wait()
        contended = real_login_seconds()
        codes = [g.result().status_code for g in guesses]
    # One password of that address is checked at a time; the rest are refused unhashed.
    assert codes.count(401) <= 5
    assert codes.count(429) >= 43
    assert set(codes) <= {401, 429}
    print(f"real login alone {alone:.2f} s, during 48 concurrent guesses {contended:.2f} s")
    assert contended < alone + 2.0, (alone, contended)


def test_successful_logins_from_one_address_are_not_throttled(db_url: str, tmp_path: Path) -> None:
    """Many people behind one clinic's address: only failures count against it."""
    with running_world(db_url, tmp_path / "cloud", login_per_client="3/minute") as world:
        clinic = from_address(world, "192.0.2.50")
        users = ["admin@north.test", "clin@north.test", "coord@north.test", "pat@north.test"]
        assert [attempt(clinic, u, PASSWORD).status_code for u in users] == [200] * 4
        guesses = [attempt(clinic, f"user{i}@north.test").status_code for i in range(4)]
        assert guesses == [401, 401, 401, 429]
