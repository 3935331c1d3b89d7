"""Erlang C for chats, with agents' concurrency.

An agent who holds up to ``concurrency`` chats at once is counted as ``concurrency``
servers, each serving one chat at a time; the handle time is the one *measured* while
agents work at that concurrency (a chat handled beside two others lasts longer than one
handled alone, and the records already hold that longer time).  With

- ``lam`` arrivals per second, ``h`` the mean handle time (s), ``A = lam * h`` the offered
  load in Erlangs,
- ``n`` agents, ``m = n * concurrency`` servers,

the M/M/m queue (Poisson arrivals, exponential handle times, first come first served,
nobody leaves the queue) gives::

    B(m, A)  = poisson.pmf(m, A) / poisson.cdf(m, A)          (Erlang B)
    C(m, A)  = m * B / (m - A * (1 - B))                      (probability of waiting)
    SL(t)    = 1 - C * exp(-(m - A) * t / h)                  (answered within t)
    ASA      = C * h / (m - A)                                (mean wait)

for ``m > A``; with ``m <= A`` the queue grows without bound (C = 1, SL = 0).  B is computed
from ``scipy.stats.poisson`` in log space, so it is exact for thousands of servers.

Abandonment: Erlang C has none (everybody waits).  :func:`abandon_rate` estimates it as the
chance that the Erlang C wait outlasts the visitor's patience, averaged over observed
patience values: ``C * mean(exp(-(m - A) * T / h))``.  It ignores that visitors who leave
shorten the queue for the others, so it over-states abandonment (and Erlang C over-states
waits) when patience is short; the simulation (:mod:`chatserver.planning.simulate`) models
it properly.

Limits (see ``docs/planning.md``): one skill group at a time (no pooling between topics),
steady state within the hour, exponential handle times, no declines or lapsed offers, no
relaxation, concurrency as independent slots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

Samples = Sequence[float] | npt.NDArray[np.float64]
"""Observed values in seconds."""

MAX_AGENTS = 10_000
"""The search for a number of agents stops here (a goal that needs more is unreachable)."""


def _check(servers: int, load: float) -> None:
    if servers < 0:
        raise ValueError("the number of servers must not be negative")
    if not math.isfinite(load) or load < 0:
        raise ValueError("the offered load must be a finite number >= 0")


def erlang_b(servers: int, load: float) -> float:
    """The Erlang B blocking probability of ``servers`` servers offered ``load`` Erlangs."""
    _check(servers, load)
    if load == 0:
        return 0.0 if servers > 0 else 1.0
    log_b = float(stats.poisson.logpmf(servers, load) - stats.poisson.logcdf(servers, load))
    return min(1.0, math.exp(log_b))


def erlang_c(servers: int, load: float) -> float:
    """The probability that an arriving chat waits (1.0 when ``servers <= load``)."""
    _check(servers, load)
    if load == 0:
        return 0.0
    if servers <= load:
        return 1.0
    b = erlang_b(servers, load)
    return min(1.0, servers * b / (servers - load * (1 - b)))


def service_level(servers: int, load: float, handle_s: float, target_s: float) -> float:
    """The share of chats answered within ``target_s`` seconds (0-1)."""
    if handle_s <= 0 or target_s < 0:
        raise ValueError("handle time must be > 0 and the target >= 0")
    c = erlang_c(servers, load)
    if c == 0.0:
        return 1.0
    if servers <= load:
        return 0.0
    return max(0.0, 1.0 - c * math.exp(-(servers - load) * target_s / handle_s))


def mean_wait_s(servers: int, load: float, handle_s: float) -> float:
    """The average speed of answer (s); ``inf`` when ``servers <= load``."""
    c = erlang_c(servers, load)
    if c == 0.0:
        return 0.0
    if servers <= load:
        return math.inf
    return c * handle_s / (servers - load)


def abandon_rate(servers: int, load: float, handle_s: float, patience_s: Samples) -> float | None:
    """The estimated share of chats whose wait outlasts the visitor's patience (see the
    module docstring); None without patience observations.  Infinite patience values
    (visitors who never leave) count as never abandoning."""
    if not len(patience_s):
        return None
    c = erlang_c(servers, load)
    if servers <= load:
        return 1.0 if c else 0.0
    t = np.asarray(patience_s, dtype=float)
    return float(c * np.mean(np.exp(-(servers - load) * t / handle_s)))


@dataclass(frozen=True)
class Goal:
    """What a plan must reach: ``service_level`` of chats answered within ``target_s``
    seconds, and (when set) an abandon rate at most ``max_abandon``."""

    service_level: float = 0.8
    target_s: float = 20.0
    max_abandon: float | None = 0.05

    def __post_init__(self) -> None:
        if not 0 <= self.service_level <= 1:
            raise ValueError("the service level goal must be between 0 and 1")
        if not math.isfinite(self.target_s) or self.target_s < 0:
            raise ValueError("the target must be a finite number of seconds >= 0")
        if self.max_abandon is not None and not 0 <= self.max_abandon <= 1:
            raise ValueError("the abandon rate limit must be between 0 and 1")


@dataclass(frozen=True)
class ErlangResult:
    agents: int
    service_level: float
    abandon_rate: float | None
    mean_wait_s: float
    occupancy: float
    """Busy share of the chat slots: ``A / m``."""


def evaluate(
    agents: int,
    rate_per_s: float,
    handle_s: float,
    concurrency: int,
    target_s: float,
    patience_s: Samples = (),
) -> ErlangResult:
    """Erlang C figures for ``agents`` agents."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    load = rate_per_s * handle_s
    m = agents * concurrency
    return ErlangResult(
        agents=agents,
        service_level=service_level(m, load, handle_s, target_s),
        abandon_rate=abandon_rate(m, load, handle_s, patience_s),
        mean_wait_s=mean_wait_s(m, load, handle_s),
        occupancy=min(1.0, load / m) if m else 1.0,
    )


def agents_needed(
    rate_per_s: float,
    handle_s: float,
    concurrency: int,
    goal: Goal,
    patience_s: Samples = (),
) -> ErlangResult | None:
    """The fewest agents meeting ``goal`` by Erlang C, with their figures; 0 agents when
    nothing arrives; None if more than :data:`MAX_AGENTS` would be needed."""
    if rate_per_s < 0 or not math.isfinite(rate_per_s):
        raise ValueError("the arrival rate must be a finite number >= 0")
    if rate_per_s == 0:
        return ErlangResult(0, 1.0, 0.0 if len(patience_s) else None, 0.0, 0.0)
    load = rate_per_s * handle_s
    # fewer than load / concurrency agents can never keep up
    agents = max(1, math.floor(load / concurrency) + 1)
    while agents <= MAX_AGENTS:
        result = evaluate(agents, rate_per_s, handle_s, concurrency, goal.target_s, patience_s)
        meets_abandon = (
            goal.max_abandon is None
            or result.abandon_rate is None
            or result.abandon_rate <= goal.max_abandon
        )
        if result.service_level >= goal.service_level and meets_abandon:
            return result
        agents += 1
    return None
