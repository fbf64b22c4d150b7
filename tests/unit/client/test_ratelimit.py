"""Rate limiters and back-off: pure arithmetic on a fake clock."""

from __future__ import annotations

import pytest

from tinykube.client.clock import FakeClock
from tinykube.client.ratelimit import (Backoff, BucketRateLimiter, ItemExponentialFailureRateLimiter,
                                       MaxOfRateLimiter, default_controller_rate_limiter)


def test_bucket_allows_a_burst_then_paces_at_qps():
    clock = FakeClock()
    bucket = BucketRateLimiter(qps=10, burst=3, clock=clock)
    assert [bucket.when(i) for i in range(3)] == [0, 0, 0]
    assert bucket.when("x") == pytest.approx(0.1)
    assert bucket.when("y") == pytest.approx(0.2)  # reservations queue up
    clock.advance(1.0)  # refills, capped at the burst
    assert [bucket.when(i) for i in range(1)] == [0]


def test_max_of_takes_the_longest_and_forgets_everywhere():
    clock = FakeClock()
    limiter = MaxOfRateLimiter(ItemExponentialFailureRateLimiter(1.0, 100.0), BucketRateLimiter(1, 1, clock))
    assert limiter.when("a") == 1.0
    assert limiter.when("a") == 2.0
    assert limiter.when("b") == pytest.approx(2.0)  # bucket: 2 tokens owed at 1 qps
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


def test_default_controller_rate_limiter_is_client_gos():
    limiter = default_controller_rate_limiter(FakeClock())
    assert [limiter.when("k") for _ in range(4)] == pytest.approx([0.005, 0.01, 0.02, 0.04])


@pytest.mark.parametrize("calls,expected", [(1, 0.8), (2, 1.6), (3, 3.2), (6, 25.6), (7, 30.0), (20, 30.0)])
def test_backoff_grows_to_its_cap(calls, expected):
    backoff = Backoff(0.8, 30.0, jitter=0.0, clock=FakeClock())
    delays = [backoff.next() for _ in range(calls)]
    assert delays[-1] == pytest.approx(expected)


def test_backoff_resets_explicitly_and_after_a_quiet_period():
    clock = FakeClock()
    backoff = Backoff(1.0, 30.0, jitter=0.0, reset_after=60.0, clock=clock)
    backoff.next(), backoff.next()
    backoff.reset()
    assert backoff.next() == 1.0
    backoff.next()
    clock.advance(61)
    assert backoff.next() == 1.0


def test_backoff_jitter_stays_within_its_factor():
    backoff = Backoff(1.0, 30.0, jitter=1.0, clock=FakeClock())
    assert all(1.0 <= Backoff(1.0, 30.0, jitter=1.0, clock=FakeClock()).next() <= 2.0 for _ in range(50))
    assert backoff.next() >= 1.0
