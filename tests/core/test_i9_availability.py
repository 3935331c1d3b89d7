"""Issue 9, items 6 and 7: the pure availability decisions (business hours, required
pre-chat fields, which topics have an eligible agent, the visitor's wait estimate)."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from chatserver.core.availability import (
    DAYS,
    PRECHAT_FIELDS,
    availability_view,
    changed_topics,
    eligible_counts,
    minutes,
    missing_fields,
    valid_email,
    visitor_wait_s,
    within_hours,
    within_hours_local,
)
from chatserver.core.routing import AgentView, has_skills

WEEK = 7 * 1440

minute_of_day = st.integers(0, 1439)
hours_st = st.dictionaries(st.sampled_from(DAYS), st.tuples(minute_of_day, minute_of_day))


def open_minutes_of_week(hours: dict[str, tuple[int, int]]) -> set[int]:
    """Reference model: the set of open minutes of the week, span by span."""
    if not hours:
        return set(range(WEEK))
    out: set[int] = set()
    for day, (start, end) in hours.items():
        base = DAYS.index(day) * 1440
        length = end - start if start < end else 1440 - start + end
        out.update((base + start + k) % WEEK for k in range(length))
    return out


@given(hours_st)
def test_i9_07_business_hours_match_the_minute_model_for_the_whole_week(
    hours: dict[str, tuple[int, int]],
) -> None:
    model = open_minutes_of_week(hours)
    for m in range(0, WEEK, 7):  # every 7th minute of the week: all days, many minutes
        assert within_hours_local(hours, m // 1440, m % 1440) == (m in model), m


def test_i9_07_business_hours_edges_exhaustively() -> None:
    # a day span, an overnight span and a whole-day span: every minute of the week
    for hours in (
        {"mon": (9 * 60, 17 * 60)},
        {"fri": (22 * 60, 6 * 60)},
        {"sun": (22 * 60, 2 * 60)},  # sunday night runs into monday
        {"wed": (0, 0)},
        {d: (8 * 60, 20 * 60) for d in DAYS},
    ):
        model = open_minutes_of_week(hours)
        for m in range(WEEK):
            assert within_hours_local(hours, m // 1440, m % 1440) == (m in model)
    assert within_hours_local({}, 3, 100)  # no hours: always open
    assert within_hours_local({"mon": (540, 1020)}, 0, 540)  # opening minute is open
    assert not within_hours_local({"mon": (540, 1020)}, 0, 1020)  # closing minute is not


def test_i9_07_business_hours_are_read_on_the_configured_clock() -> None:
    hours = {d: (9 * 60, 17 * 60) for d in DAYS}
    kyiv = ZoneInfo("Europe/Kyiv")
    # Monday 30 March 2026, 06:30 UTC: 09:30 in Kyiv (summer time, UTC+3) but 08:30 on a
    # fixed UTC+2 clock
    t = int(datetime(2026, 3, 30, 6, 30, tzinfo=UTC).timestamp() * 1000)
    assert within_hours(hours, kyiv, t)
    assert not within_hours(hours, timezone(timedelta(hours=2)), t)
    # in winter the two agree
    w = int(datetime(2026, 1, 12, 6, 30, tzinfo=UTC).timestamp() * 1000)
    assert not within_hours(hours, kyiv, w)
    assert within_hours(hours, kyiv, w + 30 * 60_000)
    # a day not listed is closed
    assert not within_hours({"tue": (0, 0)}, UTC, t)


def test_i9_07_minutes_parses_only_times_of_day() -> None:
    assert minutes("00:00") == 0 and minutes("23:59") == 1439 and minutes("09:05") == 545
    for bad in ("24:00", "9:00", "09:60", "ab:cd", "0900", "09:000", ""):
        try:
            minutes(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


VALUES = (None, "", "  ", "Eve", "eve@example.com", "eve@", "@x.y")


def test_i9_07_missing_fields_exhaustively() -> None:
    subsets = [
        set(c) for n in range(4) for c in itertools.combinations(PRECHAT_FIELDS, n)
    ]
    for required, shown, topic_count in itertools.product(subsets, subsets, (1, 2)):
        for name, email, topic in itertools.product(VALUES, repeat=3):
            values = {"name": name, "email": email, "topic": topic}
            got = missing_fields(sorted(required), sorted(shown), values, topic_count)
            assert got == [f for f in PRECHAT_FIELDS if f in got]  # form order
            for field in PRECHAT_FIELDS:
                value = (values[field] or "").strip()
                counted = field in required and field in shown and not (
                    field == "topic" and topic_count < 2
                )
                lacking = not value or (field == "email" and not valid_email(value))
                assert (field in got) == (counted and lacking), (required, shown, values)


def test_i9_07_email_shape() -> None:
    assert valid_email("a@b.c") and valid_email(" eve@example.com ")
    for bad in ("", "a", "a@b", "@b.c", "a@.c x", "a b@c.d", "a@b.c" + "x" * 300):
        assert not valid_email(bad), bad


skills_st = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 10), max_size=3)
agents_st = st.lists(
    st.builds(
        AgentView, id=st.text("xyz", min_size=1, max_size=3), skills=skills_st,
        capacity=st.integers(0, 3), load=st.integers(0, 3), idle_since_ms=st.just(0),
        available=st.booleans(),
    ),
    max_size=6,
)
topics_st = st.dictionaries(
    st.sampled_from(["general", "billing", "tech"]),
    st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 10), max_size=2),
)


@given(topics_st, agents_st)
def test_i9_06_eligible_agents_per_topic(
    topics: dict[str, dict[str, int]], agents: list[AgentView]
) -> None:
    counts = eligible_counts(topics, agents)
    assert set(counts) == set(topics)
    for name, required in topics.items():
        # capacity and load do not matter: a busy agent still comes
        expected = [a for a in agents if a.available and has_skills(a, required)]
        assert counts[name] == len(expected)
    view = availability_view(True, counts)
    assert view["topics"] == {t: counts[t] > 0 for t in topics}
    assert view["agents_available"] == any(c > 0 for c in counts.values())
    assert availability_view(False, counts)["open"] is False


@given(topics_st, agents_st, agents_st)
def test_i9_06_eligible_counts_with_a_memo_match_the_direct_count(
    topics: dict[str, dict[str, int]], first: list[AgentView], second: list[AgentView]
) -> None:
    """The memo kept between reads (skills and topics unchanged) never changes a count:
    agents seen before are taken from it, new ones are weighed and added."""
    skills: dict[str, dict[str, int]] = {}
    for a in first + second:  # one agent id, one set of skills (what the memo assumes)
        skills.setdefault(a.id, a.skills)
    first = [with_skills(a, skills[a.id]) for a in first]
    second = [with_skills(a, skills[a.id]) for a in second]
    memo: dict[str, tuple[str, ...]] = {}
    assert eligible_counts(topics, first, memo) == eligible_counts(topics, first)
    assert eligible_counts(topics, second, memo) == eligible_counts(topics, second)
    assert set(memo) <= {a.id for a in first + second if a.available}


def with_skills(agent: AgentView, skills: dict[str, int]) -> AgentView:
    return dataclasses.replace(agent, skills=skills)


@given(
    st.dictionaries(st.sampled_from("abcd"), st.integers(0, 3)),
    st.dictionaries(st.sampled_from("abcd"), st.integers(0, 3)),
)
def test_i9_06_changed_topics_are_those_whose_answer_flips(
    before: dict[str, int], after: dict[str, int]
) -> None:
    flipped = changed_topics(before, after)
    for t in "abcd":
        assert (t in flipped) == ((before.get(t, 0) > 0) != (after.get(t, 0) > 0))


@given(st.integers(-2, 50), st.integers(-1, 6), st.floats(0, 5000))
def test_i9_06_no_wait_estimate_without_an_eligible_agent(
    position: int, eligible: int, avg: float
) -> None:
    eta = visitor_wait_s(position, eligible, avg)
    if eligible <= 0:
        assert eta is None
        return
    assert eta is not None and eta >= 0
    later = visitor_wait_s(position + 1, eligible, avg)
    assert later is not None and later >= eta
    more = visitor_wait_s(position, eligible + 1, avg)
    assert more is not None and more <= eta
