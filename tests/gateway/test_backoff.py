"""The one backoff formula (``gateway.backoff``) and each caller's numbers through it."""

from __future__ import annotations

import pytest

from cloud.engagement.notifier import retry_delay_s
from cloud.ingest.worker import DB_RETRY
from gateway.backoff import Backoff, backoff_s
from gateway.ble import policy


@pytest.mark.parametrize(
    ("attempt", "jitter", "rand", "expected"),
    [
        (0, 0.0, 0.9, 1.0),
        (3, 0.0, 0.9, 8.0),
        (10, 0.0, 0.9, 60.0),
        (10_000, 0.0, 0.9, 60.0),
        (3, 0.5, 0.0, 4.0),
        (3, 0.5, 0.5, 6.0),
        (3, 1.0, 0.25, 2.0),
    ],
)
def test_backoff_grows_capped_with_its_jitter(
    attempt: int, jitter: float, rand: float, expected: float
) -> None:
    got = backoff_s(attempt, first_s=1.0, factor=2.0, cap_s=60.0, jitter=jitter, rand=lambda: rand)
    assert got == pytest.approx(expected)


def test_no_jitter_never_draws_a_random_number() -> None:
    def refuse() -> float:
        raise AssertionError("rand called")

    assert backoff_s(2, first_s=0.5, factor=2.0, cap_s=30.0, rand=refuse) == 2.0


@pytest.mark.parametrize(("attempt", "jitter"), [(-1, 0.0), (0, -0.1), (0, 1.5)])
def test_backoff_refuses_nonsense(attempt: int, jitter: float) -> None:
    with pytest.raises(ValueError, match=r"attempt|jitter"):
        backoff_s(attempt, first_s=1.0, factor=2.0, cap_s=60.0, jitter=jitter)


def test_each_caller_keeps_its_numbers() -> None:
    assert [policy.SPOT_NOT_ADVERTISING.delay_s(n) for n in range(6)] == [
        1.0, 1.5, 2.25, 3.375, 5.0, 5.0,
    ]  # fmt: skip
    assert Backoff(1.0, 2.0, 4.0).delay_s(-3) == 1.0
    assert [retry_delay_s(n) for n in (1, 2, 3, 9, 10)] == [2.0, 4.0, 8.0, 300.0, 300.0]
    assert [DB_RETRY.delay_s(n) for n in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
