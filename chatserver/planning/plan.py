"""The plan: per hour of the week and skill group, the agents needed by Erlang C and by
the simulation, side by side; the service level against the number of agents (the plot's
data); and the replay of recorded arrivals (the check that the model reproduces what was
measured).  Pure apart from the random numbers, which come from seeded generators, so the
same inputs give the same plan.

A **skill group** is the topics whose chats need the same skills (required and optional,
see :meth:`Inputs.agent_skills`): agents with those skills serve all of them, so they are
planned together -- their arrivals pooled, the handle time the arrival-weighted mean (Erlang
C), each topic with its own priority, handle times and patience (simulation)."""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from chatserver.planning import erlang
from chatserver.planning.erlang import Goal
from chatserver.planning.inputs import HOURS_PER_WEEK, Inputs, hour_label
from chatserver.planning.simulate import (
    Agent,
    Arrival,
    SimResult,
    measure,
    poisson_arrivals,
    simulate,
)
from chatserver.records.metrics import HOUR_MS, RecordRow, Thresholds


@dataclass(frozen=True)
class Effort:
    """How hard the simulation works for one (hour, topic, number of agents)."""

    arrivals: int = 1500
    """Simulate enough hours at the hour's rate for about this many arrivals ..."""
    min_hours: float = 4.0
    max_hours: float = 200.0
    """... but at least / at most this many hours (the first tenth is a warm-up)."""
    seed: int = 1
    max_cells: int = 400
    """(hour, topic) cells in one plan; more is refused (a bound on the work)."""

    def __post_init__(self) -> None:
        if not 10 <= self.arrivals <= 100_000:
            raise ValueError("simulated arrivals must be 10-100000")
        if not 0 < self.min_hours <= self.max_hours <= 1000:
            raise ValueError("simulated hours must be 0 < min <= max <= 1000")


@dataclass(frozen=True)
class PlanRow:
    hour: int
    label: str
    topic: str
    """The group's topics joined with ``+``."""
    topics: tuple[str, ...]
    skills: dict[str, int]
    """The skills each planned agent holds."""
    arrivals_per_hour: float
    handle_s: float
    erlang_agents: int | None
    erlang_service_level: float | None
    erlang_abandon_rate: float | None
    sim_agents: int | None
    sim_service_level: float | None
    sim_abandon_rate: float | None
    staffed: float | None
    """Agents online on average in that hour of the week (measured inputs only)."""


@dataclass(frozen=True)
class CurvePoint:
    agents: int
    erlang_service_level: float
    erlang_abandon_rate: float | None
    sim_service_level: float | None
    sim_abandon_rate: float | None


def _thresholds(goal: Goal, short_abandon_s: float) -> Thresholds:
    return Thresholds(service_level_target_s=goal.target_s, short_abandon_s=short_abandon_s)


Topics = str | Sequence[str]
"""One topic, or the topics of a skill group."""


def _names(topics: Topics) -> tuple[str, ...]:
    return (topics,) if isinstance(topics, str) else tuple(sorted(topics))


def _rng(effort: Effort, topics: Topics, hour: int) -> np.random.Generator:
    # the same stream for every number of agents tried (common random numbers), so the
    # simulated service level rises with the agents instead of jumping with the noise
    key = zlib.crc32("+".join(_names(topics)).encode())
    return np.random.default_rng([effort.seed, hour, key])


def group_skills(inputs: Inputs, topics: Topics) -> dict[str, int]:
    """The skills an agent needs to serve every topic of the group."""
    skills: dict[str, int] = {}
    for name in _names(topics):
        for s, level in inputs.agent_skills(name).items():
            skills[s] = max(skills.get(s, 0), level)
    return skills


def pooled(inputs: Inputs, topics: Topics, hour: int) -> tuple[float, float]:
    """(arrivals per second, arrival-weighted mean handle time) of the group in ``hour``."""
    rates = {t: inputs.rates_per_s.get((t, hour), 0.0) for t in _names(topics)}
    total = sum(rates.values())
    if total <= 0:
        return 0.0, 1.0
    handle = sum(r * inputs.handle_of(t, hour).mean_s for t, r in rates.items() if r) / total
    return total, handle


def simulate_cell(
    inputs: Inputs,
    topics: Topics,
    hour: int,
    agents: int,
    goal: Goal,
    effort: Effort,
    short_abandon_s: float = 0.0,
) -> SimResult:
    """Simulate ``agents`` agents (each with every skill the group needs) serving the
    group's topics at their rates of ``hour``, in steady state."""
    names = _names(topics)
    rates = {t: inputs.rates_per_s.get((t, hour), 0.0) for t in names}
    rate = sum(rates.values())
    if rate <= 0:
        return SimResult(0, None, None, None)
    hours = min(effort.max_hours, max(effort.min_hours, effort.arrivals / (rate * 3600)))
    end = round(hours * HOUR_MS)
    warm = end // 10
    rng = _rng(effort, names, hour)
    arrivals = poisson_arrivals(rng, {t: r for t, r in rates.items() if r > 0}, 0, end)
    skills = group_skills(inputs, names)
    team = [Agent(f"a{i:04d}", skills, inputs.concurrency) for i in range(agents)]
    records = simulate(
        arrivals,
        {t: inputs.sim_topic(t, hour) for t in names},
        team,
        inputs.offers,
        {t: inputs.patience_of(t) for t in names},
        rng,
    )
    return measure(records, _thresholds(goal, short_abandon_s), warm, end)


def meets(result: SimResult, goal: Goal) -> bool:
    if result.service_level is None:
        return True
    if result.service_level < goal.service_level:
        return False
    return (
        goal.max_abandon is None
        or result.abandon_rate is None
        or result.abandon_rate <= goal.max_abandon
    )


def sim_agents_needed(
    inputs: Inputs,
    topic: Topics,
    hour: int,
    goal: Goal,
    effort: Effort,
    start: int,
    short_abandon_s: float = 0.0,
) -> tuple[int, SimResult] | None:
    """The fewest agents meeting ``goal`` in the simulation, searching from ``start``."""
    n = max(1, start)
    found: tuple[int, SimResult] | None = None
    result = simulate_cell(inputs, topic, hour, n, goal, effort, short_abandon_s)
    if meets(result, goal):
        found = (n, result)
        while n > 1:
            lower = simulate_cell(inputs, topic, hour, n - 1, goal, effort, short_abandon_s)
            if not meets(lower, goal):
                break
            n -= 1
            found = (n, lower)
        return found
    limit = max(3 * n, n + 50)
    while n < limit:
        n += 1
        result = simulate_cell(inputs, topic, hour, n, goal, effort, short_abandon_s)
        if meets(result, goal):
            return n, result
    return None


PATIENCE_SAMPLE = 2000


def _patience_sample(
    inputs: Inputs, topics: Topics, hour: int, effort: Effort
) -> npt.NDArray[np.float64]:
    """Patience values of the group's visitors, each topic in proportion to its arrivals
    (empty when nobody ever leaves: Erlang C's abandon estimate is then not made)."""
    names = _names(topics)
    rates = {t: inputs.rates_per_s.get((t, hour), 0.0) for t in names}
    total = sum(rates.values())
    if total <= 0 or all(inputs.patience_of(t).never_leaves for t in names):
        return np.asarray([], dtype=float)
    rng = np.random.default_rng([effort.seed, zlib.crc32("+".join(names).encode())])
    parts = [
        inputs.patience_of(t).sample(rng, max(1, round(PATIENCE_SAMPLE * r / total)))
        for t, r in rates.items()
        if r > 0
    ]
    return np.concatenate(parts)


def groups_of(
    inputs: Inputs, hours: Iterable[int] | None = None, topics: Iterable[str] | None = None
) -> list[tuple[int, tuple[str, ...]]]:
    """(hour, topics of a skill group) with arrivals, in hour then name order."""
    wanted_hours = set(range(HOURS_PER_WEEK) if hours is None else hours)
    wanted_topics = None if topics is None else set(topics)
    by_cell: dict[tuple[int, tuple[tuple[str, int], ...]], list[str]] = {}
    for (t, h), rate in inputs.rates_per_s.items():
        if rate > 0 and h in wanted_hours and (wanted_topics is None or t in wanted_topics):
            key = (h, tuple(sorted(inputs.agent_skills(t).items())))
            by_cell.setdefault(key, []).append(t)
    return sorted((h, tuple(sorted(names))) for (h, _), names in by_cell.items())


def make_plan(
    inputs: Inputs,
    goal: Goal,
    effort: Effort = Effort(),
    *,
    hours: Iterable[int] | None = None,
    topics: Iterable[str] | None = None,
    simulate_too: bool = True,
    short_abandon_s: float = 0.0,
) -> list[PlanRow]:
    """One row per (hour of week, skill group) with arrivals, in hour then name order."""
    cells = groups_of(inputs, hours, topics)
    if len(cells) > effort.max_cells:
        raise ValueError(
            f"{len(cells)} (hour, skill group) cells to plan, at most {effort.max_cells}: "
            "choose fewer hours or topics"
        )
    rows: list[PlanRow] = []
    for hour, names in cells:
        rate, handle_s = pooled(inputs, names, hour)
        patience = _patience_sample(inputs, names, hour, effort)
        by_erlang = erlang.agents_needed(rate, handle_s, inputs.concurrency, goal, patience)
        by_sim = None
        if simulate_too:
            start = (
                by_erlang.agents if by_erlang else math.ceil(rate * handle_s / inputs.concurrency)
            )
            by_sim = sim_agents_needed(inputs, names, hour, goal, effort, start, short_abandon_s)
        rows.append(
            PlanRow(
                hour=hour,
                label=hour_label(hour),
                topic="+".join(names),
                topics=names,
                skills=group_skills(inputs, names),
                arrivals_per_hour=rate * 3600,
                handle_s=handle_s,
                erlang_agents=by_erlang.agents if by_erlang else None,
                erlang_service_level=by_erlang.service_level if by_erlang else None,
                erlang_abandon_rate=by_erlang.abandon_rate if by_erlang else None,
                sim_agents=by_sim[0] if by_sim else None,
                sim_service_level=by_sim[1].service_level if by_sim else None,
                sim_abandon_rate=by_sim[1].abandon_rate if by_sim else None,
                staffed=inputs.staffing.get(hour),
            )
        )
    return rows


def busiest(
    inputs: Inputs, hours: Iterable[int] | None = None, topics: Iterable[str] | None = None
) -> tuple[tuple[str, ...], int] | None:
    """The (skill group, hour) with the most arrivals among ``hours`` and ``topics``
    (default: all); None without any."""
    cells = groups_of(inputs, hours, topics)
    if not cells:
        return None
    _, hour, names = max((pooled(inputs, names, h)[0], h, names) for h, names in cells)
    return names, hour


def group_of(inputs: Inputs, topic: str, hour: int) -> tuple[str, ...]:
    """The skill group ``topic`` belongs to in ``hour`` (just the topic if it has no
    arrivals then)."""
    for h, names in groups_of(inputs, [hour]):
        if h == hour and topic in names:
            return names
    return (topic,)


def curve(
    inputs: Inputs,
    topic: Topics,
    hour: int,
    goal: Goal,
    effort: Effort = Effort(),
    *,
    agents: Sequence[int] | None = None,
    simulate_too: bool = True,
    short_abandon_s: float = 0.0,
) -> list[CurvePoint]:
    """Service level and abandon rate against the number of agents for one cell; by
    default from the fewest agents that can keep up to a few past the goal."""
    rate, handle = pooled(inputs, topic, hour)
    if agents is None:
        low = max(1, math.floor(rate * handle / inputs.concurrency))
        need = erlang.agents_needed(rate, handle, inputs.concurrency, goal)
        high = max(low + 4, (need.agents if need else low) + 3)
        agents = range(low, min(high, low + 30) + 1)
    patience = _patience_sample(inputs, topic, hour, effort)
    points: list[CurvePoint] = []
    for n in agents:
        e = erlang.evaluate(n, rate, handle, inputs.concurrency, goal.target_s, patience)
        s = (
            simulate_cell(inputs, topic, hour, n, goal, effort, short_abandon_s)
            if simulate_too
            else None
        )
        points.append(
            CurvePoint(
                n,
                e.service_level,
                e.abandon_rate,
                s.service_level if s else None,
                s.abandon_rate if s else None,
            )
        )
    return points


def replay(
    inputs: Inputs,
    arrivals: Sequence[Arrival],
    agents: int,
    goal: Goal,
    start_ms: int,
    end_ms: int,
    *,
    seed: int = 1,
    short_abandon_s: float = 0.0,
) -> tuple[SimResult, list[RecordRow]]:
    """Replay recorded ``arrivals`` (their own times and topics) against a team of
    ``agents`` agents, each holding every skill of every topic, with the measured handle
    times, patience and offer behaviour; the figures of ``[start_ms, end_ms)``."""
    skills = group_skills(inputs, sorted({a.topic for a in arrivals}))
    team = [Agent(f"a{i:04d}", skills, inputs.concurrency) for i in range(agents)]
    topics = {name: inputs.topic(name) for name in {a.topic for a in arrivals}}
    patience = {name: inputs.patience_of(name) for name in topics}
    rng = np.random.default_rng(seed)
    records = simulate(arrivals, topics, team, inputs.offers, patience, rng)
    return measure(records, _thresholds(goal, short_abandon_s), start_ms, end_ms), records


def row_dict(row: PlanRow | CurvePoint) -> dict[str, Any]:
    return asdict(row)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:5.1f}%"


def format_table(rows: Sequence[PlanRow], goal: Goal) -> str:
    """The plan as a plain-text table."""
    head = f"Goal: {100 * goal.service_level:g}% answered within {goal.target_s:g} s" + (
        f", abandon rate below {100 * goal.max_abandon:g}%" if goal.max_abandon is not None else ""
    )
    cols = (
        f"{'hour (UTC)':<10} {'topics':<14} {'chats/h':>8} {'handle s':>8} | "
        f"{'Erlang C':>8} {'SL':>6} {'aband.':>6} | {'simul.':>6} {'SL':>6} {'aband.':>6}"
        f" | {'online':>6}"
    )
    lines = [head, "", cols, "-" * len(cols)]
    for r in rows:
        lines.append(
            f"{r.label:<10} {r.topic[:14]:<14} {r.arrivals_per_hour:8.1f} {r.handle_s:8.0f} | "
            f"{'-' if r.erlang_agents is None else r.erlang_agents:>8} "
            f"{_pct(r.erlang_service_level):>6} {_pct(r.erlang_abandon_rate):>6} | "
            f"{'-' if r.sim_agents is None else r.sim_agents:>6} "
            f"{_pct(r.sim_service_level):>6} {_pct(r.sim_abandon_rate):>6} | "
            f"{'-' if r.staffed is None else f'{r.staffed:.1f}':>6}"
        )
    return "\n".join(lines)
