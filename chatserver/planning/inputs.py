"""What a plan is made from: per topic and hour of the week, the arrival rate and handle
times; per topic, the visitors' patience and the skills a chat needs; the offer behaviour;
and the staffing that was online.  Either measured from the interaction records
(:func:`load_inputs`, :func:`inputs_from_rows`) or given by the user (:func:`given`).

Hours of the week are numbered 0-167 from Monday 00:00 UTC.  A record belongs to the hour
of its ``created_at``.  The arrival rate of a (topic, hour) is the number of chats that
entered a queue in it (every end state but ``offline``) divided by the number of times
that hour of the week occurs in the period (partial hours count in proportion).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from scipy import stats
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.core.routing import DEFAULT_PROFICIENCY
from chatserver.planning.simulate import Arrival, HandleTimes, Offers, Patience, Topic
from chatserver.records.metrics import (
    HOUR_MS,
    RecordRow,
    Span,
    StatusChange,
    load_period,
    online_intervals,
)
from chatserver.records.schema import interaction_events, interactions

HOURS_PER_WEEK = 168
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MIN_HOUR_SAMPLES = 20
"""A (topic, hour) with fewer closed chats than this uses the topic's handle times over
the whole period (too few to trust on their own)."""
MAX_SAMPLES = 5000
"""Handle-time and patience observations kept per topic (the most recent)."""
MAX_TOPICS = 200
"""Topics read from the records (a bound on the work of one plan)."""


def hour_of_week(ms: int) -> int:
    at = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return at.weekday() * 24 + at.hour


def hour_label(hour: int) -> str:
    """``Mon 09:00`` for hour 9."""
    if not 0 <= hour < HOURS_PER_WEEK:
        raise ValueError("an hour of the week is 0-167")
    return f"{DAYS[hour // 24]} {hour % 24:02d}:00"


def hour_weights(start_ms: int, end_ms: int) -> list[float]:
    """How many times each hour of the week occurs in ``[start_ms, end_ms)`` (fractions for
    partial hours)."""
    weights = [0.0] * HOURS_PER_WEEK
    bucket = start_ms - start_ms % HOUR_MS
    while bucket < end_ms:
        lo, hi = max(bucket, start_ms), min(bucket + HOUR_MS, end_ms)
        weights[hour_of_week(bucket)] += (hi - lo) / HOUR_MS
        bucket += HOUR_MS
    return weights


@dataclass(frozen=True)
class TopicSpec:
    name: str
    required: Mapping[str, int] = field(default_factory=dict)
    optional: Mapping[str, int] = field(default_factory=dict)
    priority: int = 5


@dataclass(frozen=True)
class Inputs:
    rates_per_s: Mapping[tuple[str, int], float]
    """(topic, hour of week) -> arrivals per second; missing = none."""
    handle: Mapping[tuple[str, int], HandleTimes]
    """(topic, hour of week) -> handle times; see :meth:`handle_of`."""
    topic_handle: Mapping[str, HandleTimes]
    patience: Mapping[str, Patience]
    topics: Mapping[str, TopicSpec]
    offers: Offers
    concurrency: int
    staffing: Mapping[int, float] = field(default_factory=dict)
    """hour of week -> average number of agents online (measured inputs only)."""

    def handle_of(self, topic: str, hour: int) -> HandleTimes:
        return self.handle.get((topic, hour)) or self.topic_handle[topic]

    def patience_of(self, topic: str) -> Patience:
        return self.patience.get(topic) or Patience()

    def topic(self, name: str) -> Topic:
        spec = self.topics.get(name) or TopicSpec(name)
        return Topic(name, self.topic_handle[name], spec.required, spec.optional, spec.priority)

    def sim_topic(self, name: str, hour: int) -> Topic:
        spec = self.topics.get(name) or TopicSpec(name)
        return Topic(name, self.handle_of(name, hour), spec.required, spec.optional, spec.priority)

    def agent_skills(self, name: str) -> dict[str, int]:
        """The skills of an agent planned for ``name``: every skill the topic needs
        (required and optional) at its minimum level, and at least the default level."""
        spec = self.topics.get(name) or TopicSpec(name)
        skills: dict[str, int] = {}
        for s, level in [*spec.required.items(), *spec.optional.items()]:
            skills[s] = max(skills.get(s, 0), level, DEFAULT_PROFICIENCY)
        return skills


def given(
    rates_per_hour: Mapping[tuple[str, int], float],
    handle_s: Mapping[str, float],
    *,
    concurrency: int,
    patience_s: Mapping[str, float] | None = None,
    offers: Offers | None = None,
) -> Inputs:
    """Inputs from figures the user gives: arrivals per hour of each (topic, hour of week),
    the mean handle time of each topic (exponential, as Erlang C assumes) and, optionally,
    the mean patience of each topic (exponential; none given: visitors wait for ever)."""
    for (topic, hour), rate in rates_per_hour.items():
        if not 0 <= hour < HOURS_PER_WEEK:
            raise ValueError(f"{topic}: an hour of the week is 0-167, not {hour}")
        if not math.isfinite(rate) or rate < 0:
            raise ValueError(f"{topic}: arrivals per hour must be a finite number >= 0")
        if topic not in handle_s:
            raise ValueError(f"{topic}: no handle time given")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    patience: dict[str, Patience] = {}
    for topic, mean in (patience_s or {}).items():
        if not math.isfinite(mean) or mean <= 0:
            raise ValueError(f"{topic}: the mean patience must be a finite number > 0")
        # the exponential's quantiles at 1/2000 steps stand for the distribution
        q = stats.expon(scale=mean).ppf((np.arange(2000) + 0.5) / 2000)
        patience[topic] = Patience(left_after_s=list(q))
    return Inputs(
        rates_per_s={k: v / 3600 for k, v in rates_per_hour.items() if v > 0},
        handle={},
        topic_handle={t: HandleTimes(float(h)) for t, h in handle_s.items()},
        patience=patience,
        topics={},
        offers=offers or Offers(),
        concurrency=concurrency,
    )


@dataclass(frozen=True)
class OfferRow:
    """One row of ``interaction_events`` with ``kind = 'offer'``."""

    at: int
    result: str
    """accepted, declined, lapsed or withdrawn."""


def _concurrency(spans: Iterable[Span]) -> int:
    """The most chats any agent held at once."""
    by_agent: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for s in spans:
        if s.left_at is not None:
            by_agent[s.agent_id].append((s.joined_at, 1))
            by_agent[s.agent_id].append((s.left_at, -1))
    best = 0
    for points in by_agent.values():
        held = 0
        for _, step in sorted(points):
            held += step
            best = max(best, held)
    return best


def inputs_from_rows(
    records: Sequence[RecordRow],
    spans: Sequence[Span],
    changes: Sequence[StatusChange],
    offer_rows: Sequence[OfferRow],
    topics: Mapping[str, TopicSpec],
    *,
    start_ms: int,
    end_ms: int,
    base: Offers,
    concurrency: int | None = None,
) -> Inputs:
    """Measure the inputs from the rows of ``[start_ms, end_ms)``.

    - handle time: ``ended_at - accepted_at`` of answered chats that ended closed;
    - patience: visitors who abandoned unanswered left after ``ended_at - created_at``;
      answered chats waited ``accepted_at - created_at`` and missed ones the whole queue
      time without leaving (censored observations);
    - decline and lapse rates: shares of offers declined and lapsed (withdrawn offers --
      the visitor left -- are not counted); the timers come from ``base``;
    - concurrency: ``concurrency`` when given, else the most chats any agent held at once;
    - staffing: the average number of agents online in each hour of the week.
    """
    weights = hour_weights(start_ms, end_ms)
    counts: dict[tuple[str, int], int] = defaultdict(int)
    handles: dict[tuple[str, int], list[float]] = defaultdict(list)
    topic_handles: dict[str, list[float]] = defaultdict(list)
    left: dict[str, list[float]] = defaultdict(list)
    waited: dict[str, list[float]] = defaultdict(list)
    for r in records:
        if not start_ms <= r.created_at < end_ms or r.end_state == "offline":
            continue
        hour = hour_of_week(r.created_at)
        counts[(r.topic, hour)] += 1
        if r.accepted_at is not None:
            waited[r.topic].append((r.accepted_at - r.created_at) / 1000)
            if r.end_state == "closed":
                h = max(0.001, (r.ended_at - r.accepted_at) / 1000)
                handles[(r.topic, hour)].append(h)
                topic_handles[r.topic].append(h)
        elif r.end_state == "abandoned":
            left[r.topic].append((r.ended_at - r.created_at) / 1000)
        else:
            waited[r.topic].append((r.ended_at - r.created_at) / 1000)
    topic_handle: dict[str, HandleTimes] = {}
    for topic in {t for t, _ in counts}:
        samples = topic_handles.get(topic, [])[-MAX_SAMPLES:]
        mean = sum(samples) / len(samples) if samples else 300.0
        topic_handle[topic] = HandleTimes(mean, tuple(samples))
    handle = {
        key: HandleTimes(sum(v) / len(v), tuple(v[-MAX_SAMPLES:]))
        for key, v in handles.items()
        if len(v) >= MIN_HOUR_SAMPLES
    }
    offered = [o for o in offer_rows if o.result in ("accepted", "declined", "lapsed")]
    declined = sum(1 for o in offered if o.result == "declined")
    lapsed = sum(1 for o in offered if o.result == "lapsed")
    decline_rate = declined / len(offered) if offered else base.decline_rate
    lapse_rate = lapsed / len(offered) if offered else base.lapse_rate
    if decline_rate + lapse_rate >= 1:
        # nobody ever accepted: keep the rates below 1 so chats can still be answered
        decline_rate, lapse_rate = 0.99 * decline_rate, 0.99 * lapse_rate
    offers = Offers(
        auto_accept=base.auto_accept and not offered,
        decline_rate=decline_rate,
        lapse_rate=lapse_rate,
        answer_s=base.answer_s,
        offer_timeout_s=base.offer_timeout_s,
        relax_after_s=base.relax_after_s,
        queue_timeout_s=base.queue_timeout_s,
    )
    by_agent: dict[str, list[StatusChange]] = defaultdict(list)
    for c in changes:
        by_agent[c.agent_id].append(c)
    online_ms = [0.0] * HOURS_PER_WEEK
    for agent_changes in by_agent.values():
        for lo, hi in online_intervals(agent_changes, start_ms, end_ms):
            t = lo
            while t < hi:
                edge = min(hi, t - t % HOUR_MS + HOUR_MS)
                online_ms[hour_of_week(t)] += edge - t
                t = edge
    staffing = {
        h: online_ms[h] / HOUR_MS / weights[h]
        for h in range(HOURS_PER_WEEK)
        if weights[h] > 0 and online_ms[h] > 0
    }
    return Inputs(
        rates_per_s={
            key: n / weights[key[1]] / 3600 for key, n in counts.items() if weights[key[1]] > 0
        },
        handle=handle,
        topic_handle=topic_handle,
        patience={
            t: Patience(left.get(t, [])[-MAX_SAMPLES:], waited.get(t, [])[-MAX_SAMPLES:])
            for t in topic_handle
        },
        topics=dict(topics),
        offers=offers,
        concurrency=concurrency or _concurrency(spans) or 1,
        staffing=staffing,
    )


async def load_inputs(
    engine: AsyncEngine,
    start_ms: int,
    end_ms: int,
    *,
    base: Offers,
    concurrency: int | None = None,
) -> Inputs:
    """Read ``[start_ms, end_ms)`` from the records database and measure the inputs."""
    records, spans, changes = await load_period(engine, start_ms, end_ms)
    i, e = interactions.c, interaction_events.c
    async with engine.connect() as conn:
        offer_rows = [
            OfferRow(row.at, row.result)
            for row in await conn.execute(
                select(e.at, e.result)
                .select_from(interaction_events.join(interactions, e.chat_id == i.chat_id))
                .where(e.kind == "offer", i.created_at >= start_ms, i.created_at < end_ms)
            )
        ]
        # the latest definition seen of each topic (one row per topic)
        names = await conn.execute(
            select(i.topic).where(i.created_at >= start_ms, i.created_at < end_ms).distinct()
        )
        topics: dict[str, TopicSpec] = {}
        for (name,) in names.all()[:MAX_TOPICS]:
            row = (
                await conn.execute(
                    select(i.required_skills, i.optional_skills, i.priority)
                    .where(i.topic == name, i.created_at >= start_ms, i.created_at < end_ms)
                    .order_by(i.created_at.desc())
                    .limit(1)
                )
            ).one()
            topics[name] = TopicSpec(
                name,
                {str(k): int(v) for k, v in (row.required_skills or {}).items()},
                {str(k): int(v) for k, v in (row.optional_skills or {}).items()},
                int(row.priority),
            )
    return inputs_from_rows(
        records,
        spans,
        changes,
        offer_rows,
        topics,
        start_ms=start_ms,
        end_ms=end_ms,
        base=base,
        concurrency=concurrency,
    )


def parse_hours(spec: str) -> list[int]:
    """Hours of the week from a comma-separated list: ``37`` or ``30-40`` (hour numbers),
    ``Mon`` (the whole day), ``Mon 9`` or ``Mon 9-17`` (hours of a day, the end
    included).  Raises ValueError with the reason."""
    out: set[int] = set()
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        day, _, rest = item.partition(" ")
        day_index = next((i for i, d in enumerate(DAYS) if d.lower() == day[:3].lower()), None)
        if day_index is not None and day.isalpha():
            base, span, limit = day_index * 24, rest.strip() or "0-23", 23
        else:
            base, span, limit = 0, item, HOURS_PER_WEEK - 1
        lo_text, dash, hi_text = span.partition("-")
        try:
            lo = int(lo_text)
            hi = int(hi_text) if dash else lo
        except ValueError:
            raise ValueError(f"not an hour or range of hours: {item[:40]!r}") from None
        if not 0 <= lo <= hi <= limit:
            raise ValueError(f"hours out of range (0-{limit}, start <= end): {item[:40]!r}")
        out.update(range(base + lo, base + hi + 1))
    if not out:
        raise ValueError("no hours given")
    return sorted(out)


def parse_figures(
    text: str, max_rows: int = 2000
) -> tuple[dict[tuple[str, int], float], dict[str, float], dict[str, float]]:
    """Figures given as CSV lines ``topic,hour,chats_per_hour,handle_s[,patience_s]``
    (``hour``: 0-167 or ``Mon 9``; a header line and ``#`` comments are skipped).  Returns
    (rates per hour, handle time per topic, mean patience per topic); a topic's handle
    time and patience are averaged over its lines.  Raises ValueError naming the line."""
    import csv

    rates: dict[tuple[str, int], float] = {}
    handles: dict[str, list[float]] = defaultdict(list)
    patience: dict[str, list[float]] = defaultdict(list)
    for n, cells in enumerate(csv.reader(text.splitlines()), start=1):
        if n > max_rows:
            raise ValueError(f"at most {max_rows} lines of figures")
        if not cells or cells[0].strip().startswith("#") or cells[0].strip() == "topic":
            continue
        if len(cells) not in (4, 5):
            raise ValueError(f"line {n}: need topic,hour,chats_per_hour,handle_s[,patience_s]")
        topic = cells[0].strip()
        try:
            hours = parse_hours(cells[1])
            rate, handle = float(cells[2]), float(cells[3])
            wait = float(cells[4]) if len(cells) == 5 and cells[4].strip() else None
        except ValueError as exc:
            raise ValueError(f"line {n}: {exc}") from None
        if len(hours) != 1:
            raise ValueError(f"line {n}: one hour per line")
        if not topic or not math.isfinite(rate) or rate < 0:
            raise ValueError(f"line {n}: need a topic and chats per hour >= 0")
        if not math.isfinite(handle) or handle <= 0:
            raise ValueError(f"line {n}: the handle time must be > 0 seconds")
        rates[(topic, hours[0])] = rate
        handles[topic].append(handle)
        if wait is not None:
            patience[topic].append(wait)
    return (
        rates,
        {t: sum(v) / len(v) for t, v in handles.items()},
        {t: sum(v) / len(v) for t, v in patience.items()},
    )


def arrivals_from_rows(records: Iterable[RecordRow], start_ms: int, end_ms: int) -> list[Arrival]:
    """The recorded arrivals of ``[start_ms, end_ms)`` (chats that entered a queue), in
    time order, for :func:`chatserver.planning.plan.replay`."""
    return sorted(
        (
            Arrival(r.created_at, r.topic)
            for r in records
            if start_ms <= r.created_at < end_ms and r.end_state != "offline"
        ),
        key=lambda a: (a.at_ms, a.topic),
    )
