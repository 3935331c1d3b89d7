"""Rate limits in chatserver.core.limits."""

from __future__ import annotations

from itertools import accumulate, pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.core.limits import Throttle, WindowCounter

gaps = st.lists(st.integers(0, 400), max_size=60)


def test_window_counter_basic() -> None:
    w = WindowCounter(limit=3, window_ms=1000)
    assert [w.allow(t) for t in (1000, 1001, 1500, 1999)] == [True, True, True, False]
    assert w.allow(2000)  # a new window starts
    assert w.window_start == 2000 and w.count == 1
    assert w.allow(2999) and w.allow(2999)
    assert not w.allow(2999)


def test_window_counter_refusals_do_not_count() -> None:
    w = WindowCounter(limit=1, window_ms=100)
    assert w.allow(1000)
    for t in range(1001, 1100):
        assert not w.allow(t)
    assert w.count == 1
    assert w.allow(1100)


def test_window_counter_first_window_starts_at_zero() -> None:
    w = WindowCounter(limit=2, window_ms=1000)
    assert w.allow(10) and w.allow(20) and not w.allow(999)
    assert w.allow(1000)


def test_window_counter_zero_limit_refuses_everything() -> None:
    w = WindowCounter(limit=0, window_ms=1000)
    assert not any(w.allow(t) for t in range(0, 10_000, 333))


def test_window_counter_new_window_starts_at_event() -> None:
    # Windows are anchored at the first event after the previous one ended.
    w = WindowCounter(limit=1, window_ms=100)
    assert w.allow(250)
    assert not w.allow(349)
    assert w.allow(350)


def ref_window(limit: int, window: int, times: list[int]) -> list[bool]:
    out = []
    start, count = 0, 0
    for t in times:
        if t - start >= window:
            start, count = t, 0
        ok = count < limit
        count += ok
        out.append(ok)
    return out


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 5), st.integers(1, 1000), st.integers(0, 10**6), gaps)
def test_window_counter_properties(limit: int, window: int, t0: int, steps: list[int]) -> None:
    times = [t0 + d for d in accumulate(steps)]
    w = WindowCounter(limit=limit, window_ms=window)
    got = [w.allow(t) for t in times]
    assert got == ref_window(limit, window, times)
    allowed = [t for t, ok in zip(times, got, strict=True) if ok]
    # At most `limit` in any window, and (fixed windows) at most 2 * limit in any span
    # of window_ms.
    for t in allowed:
        assert sum(1 for u in allowed if t <= u < t + window) <= 2 * limit
    # Nothing is refused after a quiet window.
    for i, t in enumerate(times):
        if limit > 0 and ((i == 0 and t >= window) or (i > 0 and t - times[i - 1] >= window)):
            assert got[i]


def test_throttle_basic() -> None:
    t = Throttle(interval_ms=1000)
    assert t.allow(0)  # the first event always passes, even at time 0
    assert not t.allow(999)
    assert t.allow(1000)
    assert not t.allow(1500)
    assert t.allow(2001)
    assert t.last == 2001


def test_throttle_refusals_do_not_reset() -> None:
    t = Throttle(interval_ms=100)
    assert t.allow(1000)
    for now in range(1000, 1100, 7):
        assert not t.allow(now)
    assert t.allow(1100)


@pytest.mark.parametrize("start", [0, -5, 10**12])
def test_throttle_first_event(start: int) -> None:
    assert Throttle(interval_ms=5000).allow(start)


def test_throttle_zero_interval_allows_all() -> None:
    t = Throttle(interval_ms=0)
    assert all(t.allow(5) for _ in range(10))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 1000), st.integers(0, 10**12), gaps)
def test_throttle_properties(interval: int, t0: int, steps: list[int]) -> None:
    times = [t0 + d for d in accumulate(steps)]
    t = Throttle(interval_ms=interval)
    got = [t.allow(now) for now in times]
    allowed = [now for now, ok in zip(times, got, strict=True) if ok]
    if times:
        assert got[0]
    # Allowed events are at least `interval` apart; a refused one came too soon after the
    # last allowed one.
    for a, b in pairwise(allowed):
        assert b - a >= interval
    last = None
    for now, ok in zip(times, got, strict=True):
        if not ok:
            assert last is not None and now - last < interval
        else:
            last = now
