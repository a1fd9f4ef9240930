"""The sign-in throttle on a fake clock (in memory, and shared through SQLite), and which address is the client's."""

import pytest

from service.adapters.identity.throttle import SignInThrottle, SignInThrottled, ThrottleLimits, client_address
from service.adapters.identity.throttle_sqlite import SqliteSignInThrottle

LIMITS = ThrottleLimits(window=60, per_name=3, per_address=10, lockout=10, max_lockout=25)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite"])
def throttle_on(request, tmp_path):
    """`throttle_on(clock)`: a throttle of either kind; the SQLite one is opened twice, as two processes would."""
    if request.param == "memory":
        return lambda clock: SignInThrottle(LIMITS, clock)
    return lambda clock: _TwoProcesses(*(SqliteSignInThrottle(tmp_path / "throttle.db", LIMITS, clock) for _ in "ab"))


class _TwoProcesses:
    """Failures go to one connection, checks and successes to the other: what one process records, the other sees."""

    def __init__(self, one: SignInThrottle, other: SignInThrottle):
        self.failed, self.check, self.succeeded = one.failed, other.check, other.succeeded


def retry_after(throttle: SignInThrottle, name: str, address: str = "10.0.0.1") -> int:
    with pytest.raises(SignInThrottled) as refused:
        throttle.check(name, address)
    return refused.value.retry_after


def test_failures_within_the_window_lock_out_doubling_up_to_the_cap(throttle_on):
    clock = Clock()
    throttle = throttle_on(clock)
    for lockout in (10, 20, 25, 25):
        for _ in range(3):
            throttle.check("dave", "10.0.0.1")
            throttle.failed("dave", f"10.0.0.{lockout}")  # other addresses: only the name's count locks
        assert retry_after(throttle, "dave") == lockout
        assert retry_after(throttle, "acme/DAVE") == lockout  # one name, however it is spelt
        clock.now += lockout
        throttle.check("dave", "10.0.0.1")


def test_failures_spread_wider_than_the_window_never_lock(throttle_on):
    clock = Clock()
    throttle = throttle_on(clock)
    for _ in range(10):
        throttle.failed("erin", "10.0.0.1")
        clock.now += 31  # two failures per window at most
        throttle.check("erin", "10.0.0.1")


def test_a_success_resets_the_name_but_not_the_address(throttle_on):
    throttle = throttle_on(Clock())
    for n in range(9):
        throttle.failed(f"guess{n % 2}", "10.0.0.9")
        throttle.succeeded(f"guess{n % 2}")
    throttle.check("guess0", "10.0.0.9")
    throttle.failed("guess0", "10.0.0.9")  # the tenth failure from this address
    assert retry_after(throttle, "anyone", "10.0.0.9") == 10
    throttle.check("anyone", "10.0.0.8")


def test_the_client_address_trusts_x_forwarded_for_only_from_a_named_proxy():
    proxies = frozenset({"10.0.0.2", "10.0.0.3"})
    assert client_address("203.0.113.5", "198.51.100.1", proxies) == "203.0.113.5"
    assert client_address("10.0.0.2", "198.51.100.1", frozenset()) == "10.0.0.2"
    assert client_address("10.0.0.2", "1.1.1.1, 198.51.100.1, 10.0.0.3", proxies) == "198.51.100.1"
    assert client_address("10.0.0.2", "", proxies) == "10.0.0.2"
