"""The archive's search (``records/queries.py``) against a real SQL database: a seeded set of
records in three languages, then hundreds of random filter combinations, each compared with
a plain Python reading of the filters; on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.records import database, queries
from chatserver.records.builder import AgentSpan, InteractionRecord, Message
from tests.harness import create_pg_database, drop_pg_database, postgres_available

T0 = 1_780_000_000_000
AGENTS = ["a1", "a2", "a3"]
TOPICS = ["billing", "tech", "ventes"]
NAMES = ["Alice Smith", "bob jones", "O'Brien_50%", "سارة أحمد", "Олена Коваль", ""]
WORDS = ["refund", "invoice", "password", "استرداد", "пароль", "Straße"]
TAGS = ["vip", "bug", "returning"]
OUTCOMES = ["resolved", "escalated", ""]
STATES = ["closed", "abandoned", "missed"]


def make_records(rng: random.Random, n: int) -> list[InteractionRecord]:
    out = []
    for i in range(n):
        agents = rng.sample(AGENTS, rng.randint(0, 2))
        created = T0 + rng.randint(0, 10_000) * 1000
        ended = created + rng.randint(1, 3600) * 1000
        words = rng.sample(WORDS, rng.randint(0, 3))
        messages = [
            Message(k + 1, created + k, "visitor", f"v{i % 9}", "", "message", False, f"about {w}")
            for k, w in enumerate(words)
        ]
        if rng.random() < 0.3:
            messages.append(
                Message(len(messages) + 1, created + 50, "agent", "a1", "A", "note", True,
                        "note секрет")
            )
        out.append(InteractionRecord(
            chat_id=f"c{i:03d}", visitor_id=f"v{i % 9}", visitor_name=rng.choice(NAMES),
            visitor_email=f"v{i % 9}@example.com" if i % 3 else "", page_url="", referrer="",
            locale=rng.choice(["en", "ar", "uk"]), user_agent="", topic=rng.choice(TOPICS),
            required_skills={}, optional_skills={}, priority=0,
            end_state=rng.choice(STATES), ended_by="", outcome=rng.choice(OUTCOMES),
            tags=rng.sample(TAGS, rng.randint(0, 2)),
            rating=rng.choice([None, None, 1, 2, 3, 4, 5]), rating_comment="",
            created_at=created, queued_at=created, first_offer_at=None, accepted_at=None,
            first_agent_reply_at=None,
            ended_at=ended if i % 10 else T0 + 5_000_000,  # some share an end time
            agent_id=agents[-1] if agents else "",
            agents=[AgentSpan(a, created, ended, "end") for a in agents],
            messages=messages,
        ))
    return out


def expected(r: InteractionRecord, f: queries.Filters, v: queries.Viewer) -> bool:
    text = "\n".join(m.text for m in r.messages).casefold()
    ids = {s.agent_id for s in r.agents}
    checks = [
        f.start_ms is None or r.ended_at >= f.start_ms,
        f.end_ms is None or r.ended_at < f.end_ms,
        not f.agent or f.agent in ids,
        not f.topic or r.topic == f.topic,
        not f.outcome or r.outcome == f.outcome,
        not f.end_state or r.end_state == f.end_state,
        not f.tag or f.tag in r.tags,
        not f.email or r.visitor_email == f.email.lower(),
        not f.visitor or r.visitor_id == f.visitor,
        not f.name or f.name.lower() in r.visitor_name.lower(),
        f.rating_min is None or (r.rating is not None and r.rating >= f.rating_min),
        f.rating_max is None or (r.rating is not None and r.rating <= f.rating_max),
        not f.unrated or r.rating is None,
        not f.chat_ids or r.chat_id in f.chat_ids,
        all(w.casefold() in text for w in f.words),
        v.sees_all or v.agent_id in ids or r.visitor_id in v.serving_visitors,
    ]
    return all(checks)


def random_filters(rng: random.Random, records: list[InteractionRecord]) -> queries.Filters:
    f = queries.Filters()
    for _ in range(rng.randint(1, 3)):
        pick = rng.randrange(13)
        if pick == 0:
            lo = T0 + rng.randint(0, 10_000) * 1000
            f = replace(f, start_ms=lo, end_ms=lo + rng.randint(1, 5000) * 1000)
        elif pick == 1:
            f = replace(f, agent=rng.choice(AGENTS))
        elif pick == 2:
            f = replace(f, topic=rng.choice(TOPICS))
        elif pick == 3:
            f = replace(f, outcome=rng.choice(OUTCOMES[:2]))
        elif pick == 4:
            f = replace(f, end_state=rng.choice(STATES))
        elif pick == 5:
            f = replace(f, tag=rng.choice(TAGS))
        elif pick == 6:
            f = replace(f, email=f"V{rng.randrange(9)}@Example.com")
        elif pick == 7:
            f = replace(f, visitor=f"v{rng.randrange(9)}")
        elif pick == 8:
            name = rng.choice([n for n in NAMES if n])
            start = rng.randrange(len(name))
            part = name[start:start + rng.randint(1, 4)]
            f = replace(f, name=part.upper() if part.isascii() else part)
        elif pick == 9:
            low = rng.randint(1, 5)
            f = replace(f, rating_min=low, rating_max=rng.randint(low, 5))
        elif pick == 10:
            f = replace(f, unrated=True)
        elif pick == 11:
            f = replace(f, chat_ids=[r.chat_id for r in rng.sample(records, 5)])
        else:
            f = replace(f, words=[w.upper() for w in rng.sample(WORDS, rng.randint(1, 2))])
    return f


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    pg = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'archive.db'}"
    else:
        if not postgres_available():
            pytest.skip("PostgreSQL is not reachable (set TEST_PG_URL)")
        pg = await create_pg_database()
        url = pg.replace("postgresql://", "postgresql+asyncpg://", 1)
    await database.migrate(url)
    eng = database.create_engine(url)
    try:
        yield eng
    finally:
        await eng.dispose()
        if pg:
            await drop_pg_database(pg)


async def everything(engine: AsyncEngine, f: queries.Filters, v: queries.Viewer,
                     limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        rows, cursor = await queries.search(engine, f, v, limit=limit, cursor=cursor)
        seen += [r["chat_id"] for r in rows]
        if cursor is None:
            return seen


@pytest.mark.timeout(120)
async def test_every_filter_combination_finds_exactly_the_matching_records(
    engine: AsyncEngine,
) -> None:
    rng = random.Random(15)
    records = make_records(rng, 90)
    await database.upsert_records(engine, records, T0 + 20_000_000)
    order = {r.chat_id: (-r.ended_at, [-ord(c) for c in r.chat_id]) for r in records}
    viewers = [
        queries.Viewer("boss", sees_all=True),
        queries.Viewer("a2", sees_all=False),
        queries.Viewer("a3", sees_all=False, serving_visitors=frozenset({"v1", "v4"})),
    ]
    nonempty = 0
    for _ in range(250):
        f = random_filters(rng, records)
        v = rng.choice(viewers)
        want = sorted((r.chat_id for r in records if expected(r, f, v)), key=order.__getitem__)
        got = await everything(engine, f, v, limit=rng.choice([3, 7, 200]))
        assert got == want, (f, v)
        nonempty += bool(want)
    assert nonempty > 100  # the filters found something most of the time


async def test_like_wildcards_in_a_name_are_taken_literally(engine: AsyncEngine) -> None:
    records = make_records(random.Random(1), 30)
    names = ["50% off", "5000 off", "a_b", "axb"]
    named = [replace(r, visitor_name=n) for r, n in zip(records[:4], names, strict=True)]
    await database.upsert_records(engine, named, T0 + 20_000_000)
    everyone = queries.Viewer("boss", sees_all=True)
    for part, names in (("0%", ["50% off"]), ("a_", ["a_b"]), ("_", ["a_b"]), ("\\", [])):
        rows, _ = await queries.search(engine, queries.Filters(name=part), everyone)
        assert sorted(r["visitor_name"] for r in rows) == names, part


def _ids(rows: list[dict[str, Any]]) -> set[str]:
    return {r["chat_id"] for r in rows}


async def test_a_selection_outside_the_agents_view_stays_hidden(engine: AsyncEngine) -> None:
    records = make_records(random.Random(2), 40)
    await database.upsert_records(engine, records, T0 + 20_000_000)
    everyone = [r.chat_id for r in records]
    agent = queries.Viewer("a1", sees_all=False)
    rows, _ = await queries.search(engine, queries.Filters(chat_ids=everyone), agent, limit=200)
    assert _ids(rows) == {r.chat_id for r in records if "a1" in {s.agent_id for s in r.agents}}
    for r in records:
        record = await queries.fetch(engine, r.chat_id, agent)
        assert (record is not None) == (r.chat_id in _ids(rows))
