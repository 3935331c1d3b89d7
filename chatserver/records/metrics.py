"""Contact-center metrics over interaction records.  Pure, apart from the two async loaders
at the end (:func:`load_period`, :func:`period_metrics`), which only read rows and hand
them to the pure part.

Definitions are in ``docs/metrics.md``; the short version:

- A record belongs to a period (and to an hour or day bucket) by its ``created_at``; every
  window is half-open, ``[start_ms, end_ms)``, in milliseconds since the Unix epoch, UTC.
- Each chat that entered a queue (every end state except ``offline``) is *offered* and
  falls in exactly one class: **answered** (``accepted_at`` set: accepted or auto-assigned,
  whatever happened afterwards), or, never answered, **short-abandoned** (the visitor left
  within ``short_abandon_s``), **abandoned** (left later), **missed** (queue timeout) or
  **closed unanswered** (closed while still queued or offered).  So
  ``offered = answered + abandoned + short_abandoned + missed + closed_unanswered``.
- Rates and the service level share one denominator, ``offered - short_abandoned``.
- Waits are ``accepted_at - created_at``; percentiles are nearest-rank.
- First response is measured from ``created_at`` (what the visitor waits for); handle time
  from ``accepted_at`` to ``ended_at`` of answered chats that ended ``closed``.
- Occupancy = time holding at least one chat *while online* / time online.
- NPS (``chatserver.records.nps``): promoters answered 9-10, passives 7-8, detractors 0-6;
  NPS = % promoters - % detractors over the records with an answer (-100 to 100).

Averages, percentiles, rates and shares with no sample are ``None``, never 0.  Every
duration is a float in seconds.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args, overload

from chatserver.records.nps import nps_figures

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

GroupKey = Literal["agent", "topic", "skill", "hour", "day"]
GROUP_KEYS: tuple[GroupKey, ...] = get_args(GroupKey)

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
PERCENTILES = (50, 90, 95)
GOOD_RATING = 4
"""Ratings are 1-5; 4 and 5 count as satisfied."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Interval = tuple[int, int]
"""Half-open ``[start, end)`` in milliseconds."""


@dataclass(frozen=True)
class Thresholds:
    service_level_target_s: float = 20
    """A chat answered within this many seconds (inclusive) meets the service level."""
    service_level_goal: float = 0.8
    """The service level the center aims for; reported beside the figure, 0-1."""
    short_abandon_s: float = 5
    """A visitor who left an unanswered chat in under this many seconds is counted apart."""

    def __post_init__(self) -> None:
        if self.service_level_target_s < 0 or self.short_abandon_s < 0:
            raise ValueError("thresholds in seconds must not be negative")
        if not 0 <= self.service_level_goal <= 1:
            raise ValueError("service_level_goal must be between 0 and 1")


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class RecordRow:
    """The columns of ``interactions`` the metrics use."""

    chat_id: str
    topic: str
    required_skills: Mapping[str, int]
    end_state: str
    """closed, abandoned, missed or offline."""
    outcome: str
    rating: int | None
    created_at: int
    accepted_at: int | None
    first_agent_reply_at: int | None
    ended_at: int
    agent_id: str
    """The agent who held the chat last; '' if nobody ever did."""
    nps: int | None = None
    """The answer to "how likely are you to recommend us?" (0-10), if any."""


@dataclass(frozen=True)
class Span:
    """One row of ``interaction_agents``: an agent holding a chat."""

    chat_id: str
    agent_id: str
    joined_at: int
    left_at: int | None
    """None: still held (taken as lasting past the end of any window)."""


@dataclass(frozen=True)
class StatusChange:
    """One row of ``agent_status_changes``."""

    agent_id: str
    status: str
    """online, away or offline."""
    at: int


@dataclass(frozen=True)
class Metrics:
    """The figures for one window (the period, or one hour/day bucket of it) and one set of
    records (all of them, or one agent's, topic's or skill's)."""

    start_ms: int
    end_ms: int
    # volumes
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    missed: int
    closed_unanswered: int
    offline_messages: int
    # rates over offered - short_abandoned
    answer_rate: float | None
    abandon_rate: float | None
    # speed of answer (accepted_at - created_at over answered chats)
    avg_speed_of_answer_s: float | None
    wait_p50_s: float | None
    wait_p90_s: float | None
    wait_p95_s: float | None
    # service level
    answered_within_target: int
    service_level: float | None
    service_level_target_s: float
    service_level_goal: float
    service_level_met: bool | None
    # first response (first_agent_reply_at - created_at)
    replied: int
    avg_first_response_s: float | None
    # handle time (ended_at - accepted_at over answered chats that ended closed)
    handled: int
    avg_handle_s: float | None
    # satisfaction
    rated: int
    csat: float | None
    avg_rating: float | None
    # net promoter score (answers 0-10): promoters 9-10, passives 7-8, detractors 0-6
    nps_responses: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None
    """% promoters - % detractors, -100 to 100."""
    # resolution (outcome of closed chats)
    closed: int
    resolution_counts: Mapping[str, int]
    resolution_shares: Mapping[str, float]
    # occupancy: None for topic and skill groups (online time is not per topic)
    online_s: float | None
    busy_s: float | None
    occupancy: float | None


def nearest_rank(sorted_values: Sequence[int], pct: int) -> int:
    """The nearest-rank percentile: the value at 1-based rank ``ceil(pct / 100 * n)`` (at
    least 1) of the ascending ``sorted_values``.  Always one of the values; exact integer
    arithmetic.  Raises ValueError for an empty sequence or ``pct`` outside 1-100."""
    if not sorted_values:
        raise ValueError("no values")
    if not 1 <= pct <= 100:
        raise ValueError("pct must be 1-100")
    rank = max(1, -(-pct * len(sorted_values) // 100))
    return sorted_values[rank - 1]


def _seconds(ms: int) -> float:
    return ms / 1000


def _mean_s(samples_ms: Sequence[int]) -> float | None:
    return sum(samples_ms) / len(samples_ms) / 1000 if samples_ms else None


def _ratio(part: int | float, whole: int | float) -> float | None:
    return part / whole if whole else None


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint, non-empty; touching intervals are joined."""
    out: list[Interval] = []
    for lo, hi in sorted(i for i in intervals if i[1] > i[0]):
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Intersection of two sorted disjoint interval lists."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] <= b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _length(intervals: Sequence[Interval], lo: int, hi: int) -> int:
    """Total length of sorted disjoint ``intervals`` inside ``[lo, hi)``."""
    total = 0
    k = bisect.bisect_right(intervals, lo, key=lambda iv: iv[1])
    while k < len(intervals) and intervals[k][0] < hi:
        total += max(0, min(intervals[k][1], hi) - max(intervals[k][0], lo))
        k += 1
    return total


def online_intervals(changes: Iterable[StatusChange], start_ms: int, end_ms: int) -> list[Interval]:
    """When one agent was ``online`` inside ``[start_ms, end_ms)``.

    Changes are applied in order of ``at`` (ties keep their input order, the last wins).
    The status in force at ``start_ms`` is the last change at or before it; an agent with
    no change before then counts as offline.  An agent still online at the end counts to
    ``end_ms``.  Changes at or after ``end_ms`` are ignored.
    """
    status = "offline"
    since = start_ms
    out: list[Interval] = []
    for change in sorted(changes, key=lambda c: c.at):
        if change.at >= end_ms:
            break
        at = max(change.at, start_ms)
        if status == "online":
            out.append((since, at))
        status, since = change.status, at
    if status == "online":
        out.append((since, end_ms))
    return _merge(out)


def held_intervals(spans: Iterable[Span], start_ms: int, end_ms: int) -> list[Interval]:
    """When one agent held at least one chat inside ``[start_ms, end_ms)``: the union of
    their spans (overlapping spans count once), clipped; an open span lasts to the end."""
    return _merge(
        (max(s.joined_at, start_ms), min(end_ms if s.left_at is None else s.left_at, end_ms))
        for s in spans
    )


@dataclass(frozen=True)
class _AgentTime:
    online: list[Interval]
    busy: list[Interval]
    """Held at least one chat while online."""
    held: bool
    """Held a chat at some time in the period (online or not)."""


def _agent_times(
    spans: Iterable[Span], changes: Iterable[StatusChange], start_ms: int, end_ms: int
) -> dict[str, _AgentTime]:
    by_agent_spans: dict[str, list[Span]] = defaultdict(list)
    by_agent_changes: dict[str, list[StatusChange]] = defaultdict(list)
    for s in spans:
        by_agent_spans[s.agent_id].append(s)
    for c in changes:
        by_agent_changes[c.agent_id].append(c)
    times: dict[str, _AgentTime] = {}
    for agent in sorted(by_agent_spans.keys() | by_agent_changes.keys()):
        online = online_intervals(by_agent_changes.get(agent, ()), start_ms, end_ms)
        held = held_intervals(by_agent_spans.get(agent, ()), start_ms, end_ms)
        times[agent] = _AgentTime(online, _intersect(held, online), bool(held))
    return times


def _presence(times: Iterable[_AgentTime], lo: int, hi: int) -> tuple[int, int]:
    """(online ms, busy ms) summed over agents inside ``[lo, hi)``."""
    online = busy = 0
    for t in times:
        online += _length(t.online, lo, hi)
        busy += _length(t.busy, lo, hi)
    return online, busy


def _figures(
    records: Sequence[RecordRow],
    start_ms: int,
    end_ms: int,
    thresholds: Thresholds,
    presence: tuple[int, int] | None,
) -> Metrics:
    """The metrics of ``records`` (already chosen for the window); ``presence`` is (online
    ms, busy ms), or None where occupancy does not apply."""
    target_ms = thresholds.service_level_target_s * 1000
    short_ms = thresholds.short_abandon_s * 1000
    offered = answered = abandoned = short_abandoned = missed = closed_unanswered = 0
    offline = within = 0
    waits: list[int] = []
    first_responses: list[int] = []
    handles: list[int] = []
    ratings: list[int] = []
    nps_scores: list[int] = []
    outcomes: Counter[str] = Counter()
    for r in records:
        if r.rating is not None:
            ratings.append(r.rating)
        if r.nps is not None:
            nps_scores.append(r.nps)
        if r.end_state == "closed":
            outcomes[r.outcome] += 1
        if r.end_state == "offline":
            offline += 1
            continue
        offered += 1
        if r.first_agent_reply_at is not None:
            first_responses.append(r.first_agent_reply_at - r.created_at)
        if r.accepted_at is not None:
            answered += 1
            wait = r.accepted_at - r.created_at
            waits.append(wait)
            if wait <= target_ms:
                within += 1
            if r.end_state == "closed":
                handles.append(r.ended_at - r.accepted_at)
        elif r.end_state == "abandoned":
            if r.ended_at - r.created_at < short_ms:
                short_abandoned += 1
            else:
                abandoned += 1
        elif r.end_state == "missed":
            missed += 1
        else:
            closed_unanswered += 1
    base = offered - short_abandoned
    waits.sort()
    pct = {p: _seconds(nearest_rank(waits, p)) if waits else None for p in PERCENTILES}
    service_level = _ratio(within, base)
    closed = sum(outcomes.values())
    online_ms, busy_ms = presence if presence is not None else (None, None)
    promoters = nps_figures(nps_scores)
    return Metrics(
        start_ms=start_ms,
        end_ms=end_ms,
        offered=offered,
        answered=answered,
        abandoned=abandoned,
        short_abandoned=short_abandoned,
        missed=missed,
        closed_unanswered=closed_unanswered,
        offline_messages=offline,
        answer_rate=_ratio(answered, base),
        abandon_rate=_ratio(abandoned, base),
        avg_speed_of_answer_s=_mean_s(waits),
        wait_p50_s=pct[50],
        wait_p90_s=pct[90],
        wait_p95_s=pct[95],
        answered_within_target=within,
        service_level=service_level,
        service_level_target_s=float(thresholds.service_level_target_s),
        service_level_goal=float(thresholds.service_level_goal),
        service_level_met=(
            None if service_level is None else service_level >= thresholds.service_level_goal
        ),
        replied=len(first_responses),
        avg_first_response_s=_mean_s(first_responses),
        handled=len(handles),
        avg_handle_s=_mean_s(handles),
        rated=len(ratings),
        csat=_ratio(sum(1 for x in ratings if x >= GOOD_RATING), len(ratings)),
        avg_rating=_ratio(sum(ratings), len(ratings)),
        nps_responses=promoters.responses,
        promoters=promoters.promoters,
        passives=promoters.passives,
        detractors=promoters.detractors,
        nps=promoters.nps,
        closed=closed,
        resolution_counts=dict(sorted(outcomes.items())),
        resolution_shares={k: n / closed for k, n in sorted(outcomes.items())},
        online_s=None if online_ms is None else _seconds(online_ms),
        busy_s=None if busy_ms is None else _seconds(busy_ms),
        occupancy=None if online_ms is None or busy_ms is None else _ratio(busy_ms, online_ms),
    )


def _check_period(start_ms: int, end_ms: int) -> None:
    if end_ms < start_ms:
        raise ValueError("end_ms is before start_ms")


def _in_period(records: Iterable[RecordRow], start_ms: int, end_ms: int) -> list[RecordRow]:
    return [r for r in records if start_ms <= r.created_at < end_ms]


def compute(
    records: Iterable[RecordRow],
    spans: Iterable[Span],
    status_changes: Iterable[StatusChange],
    *,
    start_ms: int,
    end_ms: int,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> Metrics:
    """The metrics of the period ``[start_ms, end_ms)``.

    ``records`` outside the period (by ``created_at``) are ignored.  Occupancy is pooled
    over all agents: the sum of their busy time over the sum of their online time.
    """
    _check_period(start_ms, end_ms)
    times = _agent_times(spans, status_changes, start_ms, end_ms)
    return _figures(
        _in_period(records, start_ms, end_ms),
        start_ms,
        end_ms,
        thresholds,
        _presence(times.values(), start_ms, end_ms),
    )


def bucket_key(ms: int, key: Literal["hour", "day"]) -> str:
    """The UTC bucket label of a time: ``2026-11-23T14:00Z`` or ``2026-11-23``."""
    at = _EPOCH + timedelta(milliseconds=ms)
    return at.strftime("%Y-%m-%dT%H:00Z" if key == "hour" else "%Y-%m-%d")


def group_by(
    records: Iterable[RecordRow],
    spans: Iterable[Span],
    status_changes: Iterable[StatusChange],
    *,
    key: GroupKey,
    start_ms: int,
    end_ms: int,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> dict[str, Metrics]:
    """The metrics of the period ``[start_ms, end_ms)`` per group.

    - ``agent``: the records whose final ``agent_id`` is the agent, and that agent's own
      occupancy.  Groups: every agent with such a record, a span in the period or online
      time in the period.  Records nobody held belong to no agent.
    - ``topic``: the records of the topic; occupancy None.
    - ``skill``: the records whose ``required_skills`` name the skill (at any level), so a
      record counts once per skill and the groups overlap; occupancy None.
    - ``hour`` / ``day``: UTC buckets; a record belongs to the bucket of its
      ``created_at``; occupancy is pooled over agents inside the bucket.  Every bucket that
      overlaps the period is present (empty ones too), in time order, with ``start_ms`` /
      ``end_ms`` the bucket clipped to the period.

    Agent, topic and skill groups are sorted by name.
    """
    if key not in GROUP_KEYS:
        raise ValueError(f"unknown group {key!r}; one of {', '.join(GROUP_KEYS)}")
    _check_period(start_ms, end_ms)
    chosen = _in_period(records, start_ms, end_ms)
    times = _agent_times(spans, status_changes, start_ms, end_ms)

    if key in ("hour", "day"):
        size = HOUR_MS if key == "hour" else DAY_MS
        by_bucket: dict[int, list[RecordRow]] = defaultdict(list)
        for r in chosen:
            by_bucket[r.created_at - r.created_at % size].append(r)
        out: dict[str, Metrics] = {}
        bucket = start_ms - start_ms % size
        while bucket < end_ms:
            lo, hi = max(bucket, start_ms), min(bucket + size, end_ms)
            if lo < hi:
                out[bucket_key(bucket, key)] = _figures(
                    by_bucket.get(bucket, []),
                    lo,
                    hi,
                    thresholds,
                    _presence(times.values(), lo, hi),
                )
            bucket += size
        return out

    if key == "agent":
        by_agent: dict[str, list[RecordRow]] = defaultdict(list)
        for r in chosen:
            if r.agent_id:
                by_agent[r.agent_id].append(r)
        agents = set(by_agent).union(a for a, t in times.items() if t.held or t.online)
        return {
            a: _figures(
                by_agent.get(a, []),
                start_ms,
                end_ms,
                thresholds,
                _presence([times[a]] if a in times else [], start_ms, end_ms),
            )
            for a in sorted(agents)
        }

    groups: dict[str, list[RecordRow]] = defaultdict(list)
    for r in chosen:
        for name in [r.topic] if key == "topic" else list(r.required_skills):
            groups[name].append(r)
    return {
        name: _figures(groups[name], start_ms, end_ms, thresholds, None) for name in sorted(groups)
    }


def metrics_as_dict(m: Metrics) -> dict[str, Any]:
    """JSON-ready: field name -> value, mappings as plain dicts."""
    return {
        f.name: dict(v) if isinstance(v := getattr(m, f.name), Mapping) else v for f in fields(m)
    }


# --- loading from SQL -------------------------------------------------------------------


def _stream_order(entry_id: str) -> tuple[int, int]:
    """A Redis stream id ``<ms>-<seq>`` as numbers (orders same-millisecond changes)."""
    ms, _, seq = entry_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return 0, 0


async def load_period(
    engine: AsyncEngine, start_ms: int, end_ms: int
) -> tuple[list[RecordRow], list[Span], list[StatusChange]]:
    """The rows the metrics of ``[start_ms, end_ms)`` need.

    - records created in the period;
    - spans overlapping it (of any record, also ones created earlier); an open span's end
      is its chat's ``ended_at``;
    - status changes in the period, plus each agent's last change before it (the status
      in force at the start), ordered by time, then by stream id.
    """
    _check_period(start_ms, end_ms)
    # SQLAlchemy only here: the pure part (and the API's models built on it) load without it
    from sqlalchemy import and_, func, select

    from chatserver.records.schema import agent_status_changes, interaction_agents, interactions

    i, ia, sc = interactions.c, interaction_agents.c, agent_status_changes.c
    left = func.coalesce(ia.left_at, i.ended_at)
    last_before = (
        select(sc.agent_id, func.max(sc.at).label("at"))
        .where(sc.at < start_ms)
        .group_by(sc.agent_id)
        .subquery()
    )
    status_columns = (sc.id, sc.agent_id, sc.status, sc.at)
    async with engine.connect() as conn:
        record_rows = await conn.execute(
            select(
                i.chat_id,
                i.topic,
                i.required_skills,
                i.end_state,
                i.outcome,
                i.rating,
                i.created_at,
                i.accepted_at,
                i.first_agent_reply_at,
                i.ended_at,
                i.agent_id,
                i.nps,
            )
            .where(i.created_at >= start_ms, i.created_at < end_ms)
            .order_by(i.created_at, i.chat_id)
        )
        records = [
            RecordRow(
                chat_id=row.chat_id,
                topic=row.topic,
                required_skills={str(k): int(v) for k, v in (row.required_skills or {}).items()},
                end_state=row.end_state,
                outcome=row.outcome,
                rating=row.rating,
                created_at=row.created_at,
                accepted_at=row.accepted_at,
                first_agent_reply_at=row.first_agent_reply_at,
                ended_at=row.ended_at,
                agent_id=row.agent_id,
                nps=row.nps,
            )
            for row in record_rows
        ]
        span_rows = await conn.execute(
            select(ia.chat_id, ia.agent_id, ia.joined_at, left.label("left_at"))
            .select_from(interaction_agents.join(interactions, ia.chat_id == i.chat_id))
            .where(ia.joined_at < end_ms, left > start_ms)
            .order_by(ia.agent_id, ia.joined_at, ia.chat_id, ia.idx)
        )
        spans = [Span(r.chat_id, r.agent_id, r.joined_at, r.left_at) for r in span_rows]
        before = await conn.execute(
            select(*status_columns).join(
                last_before,
                and_(sc.agent_id == last_before.c.agent_id, sc.at == last_before.c.at),
            )
        )
        during = await conn.execute(
            select(*status_columns).where(sc.at >= start_ms, sc.at < end_ms)
        )
        status_rows = [*before, *during]
    status_rows.sort(key=lambda r: (r.at, _stream_order(r.id), r.id))
    changes = [StatusChange(r.agent_id, r.status, r.at) for r in status_rows]
    return records, spans, changes


@overload
async def period_metrics(
    engine: AsyncEngine,
    start_ms: int,
    end_ms: int,
    group: None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> Metrics: ...


@overload
async def period_metrics(
    engine: AsyncEngine,
    start_ms: int,
    end_ms: int,
    group: GroupKey,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> dict[str, Metrics]: ...


async def period_metrics(
    engine: AsyncEngine,
    start_ms: int,
    end_ms: int,
    group: GroupKey | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> Metrics | dict[str, Metrics]:
    """Load ``[start_ms, end_ms)`` and compute its metrics: :func:`compute` when ``group``
    is None, else :func:`group_by` with that key.  The computation runs in a worker thread
    (a month of a busy center takes a second or two), so the event loop keeps serving."""
    if group is not None and group not in GROUP_KEYS:
        raise ValueError(f"unknown group {group!r}; one of {', '.join(GROUP_KEYS)}")
    records, spans, changes = await load_period(engine, start_ms, end_ms)
    if group is None:
        return await asyncio.to_thread(
            compute,
            records,
            spans,
            changes,
            start_ms=start_ms,
            end_ms=end_ms,
            thresholds=thresholds,
        )
    return await asyncio.to_thread(
        group_by,
        records,
        spans,
        changes,
        key=group,
        start_ms=start_ms,
        end_ms=end_ms,
        thresholds=thresholds,
    )
