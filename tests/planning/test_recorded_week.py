"""A recorded week fed back in reproduces the measured service level.

A synthetic week is played (by the simulator, with a team of 4 agents taking 2 chats at
once, declines and lapses, impatient visitors and a daily rhythm of arrivals), written as
real interaction records -- offers, agent spans and agents' status -- through the
product's own writer into a real SQLite database.  Then ``load_inputs`` measures the
inputs from the database (rates, handle times, patience, decline and lapse rates,
concurrency, staffing) and ``replay`` plays the recorded arrivals again with a fresh seed
against the measured staffing.  The service level and abandon rate it predicts (the mean
of four replays) are within 0.03 of what ``period_metrics`` measures in the records (about
2 500 chats)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatserver.planning.erlang import Goal
from chatserver.planning.inputs import arrivals_from_rows, hour_of_week, load_inputs
from chatserver.planning.plan import Effort, make_plan, replay
from chatserver.planning.simulate import SimChat
from chatserver.records import database
from chatserver.records.metrics import HOUR_MS, Thresholds, load_period, period_metrics
from tests.planning.week import AGENTS, CAPACITY, OFFERS, T0, WEEK, write_week

TOLERANCE = 0.03


@pytest.fixture
async def week_db(tmp_path: Path) -> AsyncIterator[tuple[Any, list[SimChat]]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'week.db'}"
    chats = await write_week(url)
    engine = database.create_engine(url)
    try:
        yield engine, chats
    finally:
        await engine.dispose()


async def test_recorded_week_reproduces_the_measured_service_level(
    week_db: tuple[Any, list[SimChat]],
) -> None:
    engine, chats = week_db
    goal = Goal(0.8, 60, 0.05)
    thresholds = Thresholds(service_level_target_s=goal.target_s, short_abandon_s=5)
    measured = await period_metrics(engine, T0, T0 + WEEK, None, thresholds)
    assert measured.offered == len(chats) > 2000
    assert measured.service_level is not None and measured.abandon_rate is not None
    # the week is neither trivially good nor hopeless
    assert 0.5 < measured.service_level < 0.98 and measured.abandon_rate > 0.01

    inputs = await load_inputs(engine, T0, T0 + WEEK, base=OFFERS)
    # what the records say about the team and the agents' answers
    assert inputs.concurrency == CAPACITY
    assert inputs.staffing[hour_of_week(T0 + 10 * HOUR_MS)] == pytest.approx(AGENTS)
    offers = [o for c in chats for o in c.offers if o[2] != "withdrawn"]
    assert inputs.offers.decline_rate == pytest.approx(
        sum(1 for o in offers if o[2] == "declined") / len(offers))
    assert inputs.offers.decline_rate == pytest.approx(0.1, abs=0.02)
    assert inputs.offers.lapse_rate == pytest.approx(0.05, abs=0.015)
    assert inputs.topics["tech"].priority == 6
    # Monday 10:00 billing: 45 * 0.7 = 31.5 chats an hour expected
    assert inputs.rates_per_s[("billing", 10)] * 3600 == pytest.approx(31.5, abs=12)

    records, _, _ = await load_period(engine, T0, T0 + WEEK)
    arrivals = arrivals_from_rows(records, T0, T0 + WEEK)
    assert len(arrivals) == len(chats)
    staffed = round(max(inputs.staffing.values()))
    # four replays with fresh seeds, averaged: the replay's own noise shrinks, what is
    # left is the week's (over five synthetic weeks: 0.000-0.021 in service level)
    runs = [
        replay(inputs, arrivals, staffed, goal, T0, T0 + WEEK, seed=seed,
               short_abandon_s=5)[0]
        for seed in (11, 12, 13, 14)
    ]
    assert all(r.service_level is not None and r.abandon_rate is not None for r in runs)
    predicted_sl = sum(r.service_level or 0.0 for r in runs) / len(runs)
    predicted_abandon = sum(r.abandon_rate or 0.0 for r in runs) / len(runs)
    assert abs(predicted_sl - measured.service_level) <= TOLERANCE
    assert abs(predicted_abandon - measured.abandon_rate) <= TOLERANCE

    # and the plan for Monday's busiest hour asks for more than the quiet night does
    rows = make_plan(inputs, goal, Effort(arrivals=300, min_hours=2), hours=[2, 10],
                     topics=["billing"], short_abandon_s=5)
    by_hour = {r.hour: r for r in rows}
    assert by_hour[10].erlang_agents is not None and by_hour[2].erlang_agents is not None
    assert by_hour[10].erlang_agents > by_hour[2].erlang_agents
    assert by_hour[10].staffed == pytest.approx(AGENTS)
