"""The per-client rate limiter: burst then refill per key, bounded memory, safe across threads; who the client is."""
from __future__ import annotations

import threading

import pytest

from backend.api.ratelimit import RateLimiter, client_key


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_burst_then_refill_per_key():
    clock = Clock()
    rl = RateLimiter(rate_per_s=0.5, burst=3, clock=clock)
    assert [rl.allow("a") for _ in range(4)] == [True, True, True, False]
    assert rl.allow("b")                                     # another key has its own bucket
    assert rl.retry_after("a") == pytest.approx(2.0)         # one token every 2 s
    clock.t = 1.9
    assert not rl.allow("a")
    clock.t = 3.0                                            # 0.95 tokens at 1.9 s, 1.5 now
    assert rl.retry_after("a") == 0.0 and rl.allow("a") and not rl.allow("a")
    clock.t = 1000
    assert [rl.allow("a") for _ in range(4)] == [True, True, True, False]   # refills up to the burst only


def test_memory_is_bounded_by_max_keys():
    rl = RateLimiter(rate_per_s=1, burst=1, max_keys=100)
    for i in range(1000):
        rl.allow(f"client-{i}")
    assert len(rl) == 100


def test_threads_never_get_more_than_the_burst():
    rl = RateLimiter(rate_per_s=1e-9, burst=50)
    granted = []
    barrier = threading.Barrier(8)

    def take():
        barrier.wait()
        granted.extend(ok for ok in (rl.allow("k") for _ in range(100)) if ok)
    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 50


@pytest.mark.parametrize("args", [(0, 1), (float("nan"), 1), (1, 0), (1, 1.5), (1, True)])
def test_bad_settings_are_refused(args):
    with pytest.raises(ValueError):
        RateLimiter(*args)


def test_client_key_trusts_forwarded_for_only_on_a_space(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert client_key("10.0.0.1", "1.2.3.4") == "10.0.0.1"      # elsewhere the header is the client's own word
    assert client_key(None) == "unknown"
    monkeypatch.setenv("SPACE_ID", "me/app")
    assert client_key("10.0.0.1", "1.2.3.4, 10.0.0.9") == "1.2.3.4"
    assert client_key("10.0.0.1", "") == "10.0.0.1"
