"""Erlang C with concurrency (chatserver.planning.erlang): textbook values, properties,
the search for the fewest agents, and bad input."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.planning.erlang import (
    Goal,
    abandon_rate,
    agents_needed,
    erlang_b,
    erlang_c,
    evaluate,
    mean_wait_s,
    service_level,
)

loads = st.floats(0.01, 200, allow_nan=False)
servers = st.integers(1, 400)


@pytest.mark.parametrize(("m", "a", "expected"), [
    # hand-worked: C(2, 1) = 1/3; C(3, 2) = 4/9
    (2, 1.0, 1 / 3),
    (3, 2.0, 4 / 9),
    # the usual call-center tables: 10 Erlangs on 11, 12 and 15 servers
    (11, 10.0, 0.6821),
    (12, 10.0, 0.4494),
    (15, 10.0, 0.1020),
])
def test_erlang_c_known_values(m: int, a: float, expected: float) -> None:
    assert erlang_c(m, a) == pytest.approx(expected, abs=5e-5)


def test_erlang_b_known_values() -> None:
    # B(5, 3) = (3^5/5!) / sum_k 3^k/k! = 2.025 / 18.4 = 0.110054...
    assert erlang_b(5, 3.0) == pytest.approx(2.025 / 18.4)
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(0, 1.0) == pytest.approx(1.0)
    # large systems stay exact (log space): no overflow, no nan
    assert 0 < erlang_c(3000, 2900.0) < 0.1


def test_service_level_and_wait_textbook() -> None:
    # 10 Erlangs on 12 servers, 3-minute handle, 20 s target:
    # SL = 1 - 0.44939 * exp(-2 * 20 / 180) = 1 - 0.44939 * 0.80074 = 0.6402;
    # ASA = 0.44939 * 180 / 2 = 40.4 s
    assert service_level(12, 10.0, 180, 20) == pytest.approx(0.6402, abs=1e-4)
    assert mean_wait_s(12, 10.0, 180) == pytest.approx(40.445, abs=1e-2)
    # overloaded: nobody is answered in time on average, the wait grows without bound
    assert service_level(10, 10.0, 180, 20) == 0.0
    assert mean_wait_s(9, 10.0, 180) == math.inf
    assert erlang_c(5, 0.0) == 0.0 and service_level(5, 0.0, 180, 20) == 1.0


def test_concurrency_counts_slots() -> None:
    # 4 agents taking 3 chats each are 12 servers
    lam, h = 10 / 180, 180.0
    r = evaluate(4, lam, h, 3, 20)
    assert r.service_level == pytest.approx(service_level(12, 10.0, h, 20))
    assert r.occupancy == pytest.approx(10 / 12)


def _erlang_c_by_sums(m: int, a: float) -> float:
    # the schoolbook formula, term by term (fine for small m)
    below = sum(a**k / math.factorial(k) for k in range(m))
    top = a**m / math.factorial(m) * m / (m - a)
    return top / (below + top)


@given(st.integers(1, 40), st.floats(0.01, 39))
@settings(max_examples=200, deadline=None)
def test_agrees_with_the_schoolbook_sums(m: int, a: float) -> None:
    if a >= m:
        assert erlang_c(m, a) == 1.0
    else:
        assert erlang_c(m, a) == pytest.approx(_erlang_c_by_sums(m, a), rel=1e-9, abs=1e-12)


@given(servers, loads)
@settings(max_examples=200, deadline=None)
def test_probabilities_are_probabilities(m: int, a: float) -> None:
    b, c = erlang_b(m, a), erlang_c(m, a)
    assert 0 <= b <= 1 and 0 <= c <= 1
    # waiting is at least as likely as being blocked with no queue
    assert c >= b - 1e-12


@given(servers, loads, st.floats(1, 1000), st.floats(0, 300))
@settings(max_examples=200, deadline=None)
def test_monotone_in_agents(m: int, a: float, h: float, t: float) -> None:
    # one more server: waiting no likelier, service level no lower, wait no longer
    assert erlang_c(m + 1, a) <= erlang_c(m, a) + 1e-12
    assert service_level(m + 1, a, h, t) >= service_level(m, a, h, t) - 1e-12
    assert mean_wait_s(m + 1, a, h) <= mean_wait_s(m, a, h) + 1e-9


@given(servers, loads, st.floats(1, 1000), st.floats(0, 300))
@settings(max_examples=100, deadline=None)
def test_monotone_in_load_and_target(m: int, a: float, h: float, t: float) -> None:
    assert erlang_c(m, a * 1.1) >= erlang_c(m, a) - 1e-12
    assert service_level(m, a, h, t + 10) >= service_level(m, a, h, t) - 1e-12


@given(
    st.floats(0.001, 0.5), st.floats(10, 900), st.integers(1, 5),
    st.floats(0.5, 0.99), st.floats(0, 120),
)
@settings(max_examples=100, deadline=None)
def test_agents_needed_is_the_fewest(
    lam: float, h: float, conc: int, sl: float, target: float
) -> None:
    goal = Goal(sl, target, None)
    found = agents_needed(lam, h, conc, goal)
    assert found is not None
    assert found.service_level >= sl
    assert found.agents * conc > lam * h
    if found.agents > 1:
        fewer = evaluate(found.agents - 1, lam, h, conc, target)
        assert fewer.service_level < sl


def test_agents_needed_with_abandon_limit() -> None:
    lam, h = 60 / 3600, 240.0
    patience = [30.0] * 10  # everybody leaves after 30 s
    by_sl = agents_needed(lam, h, 2, Goal(0.5, 60, None), patience)
    by_both = agents_needed(lam, h, 2, Goal(0.5, 60, 0.001), patience)
    assert by_sl is not None and by_both is not None
    assert by_both.agents > by_sl.agents
    assert by_both.abandon_rate is not None and by_both.abandon_rate <= 0.001
    # abandonment = C * exp(-(m - A) T / h) with everybody's T = 30 s
    m, a = by_sl.agents * 2, lam * h
    assert by_sl.abandon_rate == pytest.approx(erlang_c(m, a) * math.exp(-(m - a) * 30 / h))
    assert abandon_rate(4, 2.0, h, []) is None
    # nobody comes: nobody is needed
    assert agents_needed(0.0, h, 2, Goal()) is not None
    assert agents_needed(0.0, h, 2, Goal()).agents == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("call", [
    lambda: erlang_c(-1, 1.0),
    lambda: erlang_c(3, -1.0),
    lambda: erlang_c(3, math.nan),
    lambda: service_level(3, 1.0, 0, 20),
    lambda: evaluate(3, 0.1, 100, 0, 20),
    lambda: agents_needed(math.inf, 100, 1, Goal()),
    lambda: Goal(service_level=1.5),
    lambda: Goal(target_s=-1),
    lambda: Goal(max_abandon=2),
])
def test_bad_input_is_refused(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]
