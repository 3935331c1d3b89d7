"""A synthetic recorded week for the planning tests: played by the simulator (4 agents
taking 2 chats at once, declines and lapses, impatient visitors, a daily rhythm of
arrivals) and written as real interaction records -- offers, agent spans and agents'
status -- through the product's own writer."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from chatserver.planning.simulate import (
    Agent,
    Arrival,
    HandleTimes,
    Offers,
    Patience,
    SimChat,
    Topic,
    run,
)
from chatserver.records import database
from chatserver.records.builder import AgentSpan, Event, InteractionRecord
from chatserver.records.metrics import HOUR_MS

T0 = int(datetime(2026, 11, 16, tzinfo=UTC).timestamp() * 1000)  # a Monday
WEEK = 168 * HOUR_MS
AGENTS, CAPACITY = 4, 2
OFFERS = Offers(decline_rate=0.1, lapse_rate=0.05, answer_s=3, offer_timeout_s=20,
                relax_after_s=60, queue_timeout_s=600)


def _rate_per_h(hour: int) -> float:
    # quiet nights, busy working hours (peak load about 6.7 of the 8 chat slots)
    local = hour % 24
    return 45.0 if 9 <= local < 17 else 12.0 if 7 <= local < 21 else 3.0


def week(seed: int) -> list[SimChat]:
    rng = np.random.default_rng(seed)
    arrivals: list[Arrival] = []
    for hour in range(168):
        lo = T0 + hour * HOUR_MS
        for topic, share in (("billing", 0.7), ("tech", 0.3)):
            n = int(rng.poisson(_rate_per_h(hour) * share))
            arrivals += [Arrival(int(t), topic)
                         for t in rng.uniform(lo, lo + HOUR_MS, n).astype(np.int64)]
    arrivals.sort(key=lambda a: (a.at_ms, a.topic))
    topics = {
        "billing": Topic("billing", HandleTimes(480.0), {"support": 0}, priority=5),
        "tech": Topic("tech", HandleTimes(600.0), {"support": 0}, priority=6),
    }
    team = [Agent(f"agent{i}", {"support": 5}, CAPACITY) for i in range(AGENTS)]
    patience = Patience(left_after_s=rng.exponential(240.0, 4000))
    return run(arrivals, topics, team, OFFERS, patience, rng)


def record(c: SimChat) -> InteractionRecord:
    events = [Event("created", c.created_ms)]
    for at, agent, result in c.offers:
        events.append(Event("offer", at, agent, "", result))
        kind = {"accepted": "accept", "declined": "decline", "lapsed": "lapse"}.get(result)
        if kind:
            events.append(Event(kind, at + (20_000 if kind == "lapse" else 3_000), agent))
    events.append(Event("end", c.ended_ms))
    spans = (
        [AgentSpan(c.agent_id, c.accepted_ms, c.ended_ms, "end")]
        if c.accepted_ms is not None else []
    )
    return InteractionRecord(
        chat_id=f"wk-{c.id}", visitor_id=f"v-{c.id}", visitor_name="", visitor_email="",
        page_url="", referrer="", locale="en", user_agent="", topic=c.topic.name,
        required_skills=dict(c.topic.required), optional_skills={},
        priority=c.topic.priority, end_state=c.end_state, ended_by="", outcome="",
        tags=[], rating=None, rating_comment="", created_at=c.created_ms,
        queued_at=c.created_ms, first_offer_at=c.offers[0][0] if c.offers else None,
        accepted_at=c.accepted_ms, first_agent_reply_at=None, ended_at=c.ended_ms,
        agent_id=c.agent_id, agents=spans, events=events,
    )



async def write_week(url: str, seed: int = 2026) -> list[SimChat]:
    """Play the week and write it to the records database at ``url`` (migrated here)."""
    await database.migrate(url)
    engine = database.create_engine(url)
    try:
        chats = week(seed)
        records = [record(c) for c in chats]
        for i in range(0, len(records), 500):
            await database.upsert_records(engine, records[i:i + 500], T0 + WEEK)
        await database.insert_status_changes(
            engine, [(f"{T0 - 1000}-{i}", f"agent{i}", "online", T0 - 1000)
                     for i in range(AGENTS)],
        )
        return chats
    finally:
        await engine.dispose()
