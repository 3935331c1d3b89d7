"""Queue order and wait estimates in chatserver.core.queueing."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.core.queueing import (
    BAND,
    HALF,
    MAX_PRIORITY,
    MIN_PRIORITY,
    estimate_wait_s,
    queue_score,
    update_average,
)

priorities = st.integers(MIN_PRIORITY, MAX_PRIORITY)
times = st.integers(0, HALF - 1)
entries = st.tuples(priorities, times, st.booleans())


def expected_order(entry: tuple[int, int, bool]) -> tuple[int, int, int]:
    priority, enqueued, front = entry
    return (-priority, 0 if front else 1, enqueued)


def test_constants() -> None:
    assert (MIN_PRIORITY, MAX_PRIORITY) == (0, 9)
    assert BAND == 2 * HALF
    # The largest score is exact in a double (Redis sorted-set scores are doubles).
    top = queue_score(MIN_PRIORITY, HALF - 1)
    assert top == (MAX_PRIORITY + 1) * BAND - 1
    assert top < 2**53
    assert float(top) == top
    assert queue_score(MAX_PRIORITY, 0, front=True) == 0


def test_examples() -> None:
    assert queue_score(9, 5, front=True) == 5
    assert queue_score(9, 5) == HALF + 5
    assert queue_score(8, 0, front=True) == BAND
    assert queue_score(0, 7) == 9 * BAND + HALF + 7
    assert queue_score(3, 10) == queue_score(3, 10, front=False)


def test_higher_priority_first() -> None:
    # Even the newest, non-front chat of a higher priority beats the oldest front chat.
    for p in range(MIN_PRIORITY, MAX_PRIORITY):
        assert queue_score(p + 1, HALF - 1) < queue_score(p, 0, front=True)


def test_front_before_normal_within_priority() -> None:
    for p in range(MIN_PRIORITY, MAX_PRIORITY + 1):
        assert queue_score(p, HALF - 1, front=True) < queue_score(p, 0)


def test_older_first() -> None:
    assert queue_score(5, 100) < queue_score(5, 101)
    assert queue_score(5, 100, front=True) < queue_score(5, 101, front=True)


@pytest.mark.parametrize("priority", [-1, 10, 100, -(10**9)])
def test_priority_range(priority: int) -> None:
    with pytest.raises(ValueError, match="priority must be 0-9"):
        queue_score(priority, 0)


@pytest.mark.parametrize("enqueued", [-1, HALF, HALF + 1, 10**20])
def test_time_range(enqueued: int) -> None:
    with pytest.raises(ValueError, match="enqueued_ms out of range"):
        queue_score(5, enqueued)


def test_range_edges_accepted() -> None:
    queue_score(MIN_PRIORITY, 0)
    queue_score(MAX_PRIORITY, HALF - 1, front=True)


@settings(max_examples=300, deadline=None)
@given(entries, entries)
def test_pairwise_order(a: tuple[int, int, bool], b: tuple[int, int, bool]) -> None:
    sa, sb = queue_score(*a), queue_score(*b)
    ka, kb = expected_order(a), expected_order(b)
    assert (sa < sb) == (ka < kb)
    assert (sa == sb) == (ka == kb)


@settings(max_examples=100, deadline=None)
@given(st.lists(entries, max_size=30))
def test_sorting_by_score(items: list[tuple[int, int, bool]]) -> None:
    by_score = sorted(items, key=lambda e: queue_score(*e))
    by_key = sorted(items, key=expected_order)
    assert [expected_order(e) for e in by_score] == [expected_order(e) for e in by_key]
    # Doubles keep the order exactly.
    assert sorted(items, key=lambda e: float(queue_score(*e))) == by_score


@settings(max_examples=200, deadline=None)
@given(entries)
def test_score_in_band(entry: tuple[int, int, bool]) -> None:
    priority, enqueued, front = entry
    score = queue_score(priority, enqueued, front)
    assert isinstance(score, int)
    assert 0 <= score < 2**53
    band, rest = divmod(score, BAND)
    assert band == MAX_PRIORITY - priority
    assert rest == (0 if front else HALF) + enqueued


# ---- estimate_wait_s ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "agents", "handle", "expected"),
    [
        (0, 3, 60.0, 0),
        (-5, 3, 60.0, 0),
        (1, 1, 60.0, 60),
        (1, 3, 60.0, 60),
        (3, 3, 60.0, 60),
        (4, 3, 60.0, 120),
        (7, 3, 60.0, 180),
        (5, 0, 60.0, 300),  # nobody serving: one handle time per place
        (5, -2, 60.0, 300),
        (2, 1, 0.0, 2),  # handle time floors at one second
        (2, 1, 0.25, 2),
        (2, 1, -10.0, 2),
        (3, 2, 1.4, 3),  # 2 rounds * 1.4 = 2.8 -> 3
        (1, 1, 90.6, 91),
    ],
)
def test_estimate_wait_examples(position: int, agents: int, handle: float, expected: int) -> None:
    got = estimate_wait_s(position, agents, handle)
    assert got == expected
    assert isinstance(got, int)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(-10, 10_000),
    st.integers(-2, 500),
    st.floats(min_value=-100, max_value=10_000, allow_nan=False),
)
def test_estimate_wait_properties(position: int, agents: int, handle: float) -> None:
    got = estimate_wait_s(position, agents, handle)
    assert isinstance(got, int)
    if position <= 0:
        assert got == 0
        return
    rounds = math.ceil(position / max(agents, 1))
    assert abs(got - rounds * max(handle, 1.0)) <= 0.5
    assert got >= 1
    # Monotone: further back waits at least as long, more agents never makes it longer.
    assert estimate_wait_s(position + 1, agents, handle) >= got
    assert estimate_wait_s(position, max(agents, 1) + 1, handle) <= got
    assert estimate_wait_s(position, agents, max(handle, 1.0) + 1) >= got


# ---- update_average -------------------------------------------------------------------------


def test_update_average_examples() -> None:
    assert update_average(0, 42.0) == 42.0
    assert update_average(-1, 42.0) == 42.0
    assert update_average(100.0, 200.0) == pytest.approx(120.0)
    assert update_average(100.0, 0.0) == pytest.approx(80.0)
    assert update_average(100.0, 200.0, weight=0.5) == pytest.approx(150.0)
    assert update_average(100.0, 200.0, weight=1.0) == pytest.approx(200.0)
    assert update_average(100.0, 200.0, weight=0.0) == 100.0
    assert update_average(100.0, 100.0) == 100.0


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=0.001, max_value=1e6),
    st.floats(min_value=0, max_value=1e6),
    st.floats(min_value=0, max_value=1),
)
def test_update_average_between(previous: float, sample: float, weight: float) -> None:
    got = update_average(previous, sample, weight)
    low, high = min(previous, sample), max(previous, sample)
    assert low - 1e-6 <= got <= high + 1e-6


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=1, max_value=1e4), st.floats(min_value=1, max_value=1e4))
def test_update_average_converges(start: float, target: float) -> None:
    value = start
    for _ in range(200):
        value = update_average(value, target)
    assert value == pytest.approx(target, rel=1e-6)
