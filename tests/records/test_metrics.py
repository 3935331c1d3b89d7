"""The contact-center metrics in chatserver.records.metrics: a hand-worked scenario, edge
cases, properties, and the SQL loader against a real database."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from chatserver.records import database
from chatserver.records.metrics import (
    DEFAULT_THRESHOLDS,
    GROUP_KEYS,
    Metrics,
    RecordRow,
    Span,
    StatusChange,
    Thresholds,
    bucket_key,
    compute,
    group_by,
    held_intervals,
    load_period,
    metrics_as_dict,
    nearest_rank,
    online_intervals,
    period_metrics,
)
from chatserver.records.schema import agent_status_changes, interaction_agents, interactions

S = 1000  # ms per second


def ms(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp()) * S


# --- the hand-worked scenario -------------------------------------------------------------
#
# Period: 2026-11-23T23:00Z .. 2026-11-24T01:00Z (two hours, across a UTC day boundary).
# Times below are seconds after the start (t0).  Thresholds: target 20 s, goal 0.8, short
# abandon 5 s.  Skills: billing topic needs {billing, english}, sales {sales, english},
# general none.
#
# chat  topic    end_state  created accepted reply  ended  agent  outcome     rating
# c1    billing  closed        0       10     15     310   alice  resolved       5
# c2    billing  closed      100      130    140     730   bob    unresolved     2
# c3    sales    abandoned   200        -      -     203   -      (3 s: short)
# c4    sales    abandoned   300        -      -     315   -      (15 s: counted)
# c5    general  missed      400        -      -    1300   -
# c6    general  offline     500        -      -     500   -      (offline message)
# c7    sales    closed     3700     3705      -    3905   alice  resolved       4
# c8    billing  closed     3800     3820   3830    4220   alice  resolved       -
# c9    billing  abandoned  4000     4008      -    4100   bob    (answered, requeued,
#                                                               visitor left: answered)
# c10   general  closed     4200        -      -    4260   -      spam (closed unanswered)
# plus c-before (created -10 s) and c-after (created at the end): outside the period.
#
# Spans (who held what):  alice c0 [-300, 100) (a chat created before the period),
#   c1 [10, 310), c7 [3705, 3905), c8 [3820, 4220) (overlaps c7);
#   bob c2 [130, 730), c9 [4008, 4100), c-open [7100, open), c-late [7150, 7500).
# Status:  alice offline -3600, online -1800 (in force at the start), away 3000,
#   online 3800;  bob online 50, offline 7300 (after the end);  carol online -5000,
#   offline -100 (offline all period: no group).


@dataclass(frozen=True)
class Scenario:
    t0: int
    end: int
    records: list[RecordRow]
    spans: list[Span]
    changes: list[StatusChange]
    alice: str
    bob: str
    carol: str
    extra_records: list[RecordRow]
    """Records only the database test needs: the chats of spans whose record lies outside
    the period (the span's left_at None is its chat's ended_at there)."""


T0 = ms(2026, 11, 23, 23)


def scenario(t0: int = T0, prefix: str = "") -> Scenario:
    def t(seconds: float) -> int:
        return t0 + int(seconds * S)

    alice, bob, carol = prefix + "alice", prefix + "bob", prefix + "carol"
    billing = {"billing": 5, "english": 0}
    sales = {"sales": 3, "english": 0}

    def rec(
        chat: str, topic: str, state: str, created: float, accepted: float | None,
        reply: float | None, ended: float, agent: str = "", outcome: str = "",
        rating: int | None = None,
    ) -> RecordRow:
        skills = {"billing": billing, "sales": sales}.get(topic, {})
        return RecordRow(
            chat_id=prefix + chat, topic=topic, required_skills=skills, end_state=state,
            outcome=outcome, rating=rating, created_at=t(created),
            accepted_at=None if accepted is None else t(accepted),
            first_agent_reply_at=None if reply is None else t(reply),
            ended_at=t(ended), agent_id=agent,
        )

    records = [
        rec("c1", "billing", "closed", 0, 10, 15, 310, alice, "resolved", 5),
        rec("c2", "billing", "closed", 100, 130, 140, 730, bob, "unresolved", 2),
        rec("c3", "sales", "abandoned", 200, None, None, 203, outcome="visitor_left"),
        rec("c4", "sales", "abandoned", 300, None, None, 315, outcome="visitor_left"),
        rec("c5", "general", "missed", 400, None, None, 1300, outcome="missed"),
        rec("c6", "general", "offline", 500, None, None, 500),
        rec("c7", "sales", "closed", 3700, 3705, None, 3905, alice, "resolved", 4),
        rec("c8", "billing", "closed", 3800, 3820, 3830, 4220, alice, "resolved"),
        rec("c9", "billing", "abandoned", 4000, 4008, None, 4100, bob, "visitor_left"),
        rec("c10", "general", "closed", 4200, None, None, 4260, outcome="spam"),
        rec("c-before", "billing", "closed", -10, -5, -4, 50, alice, "resolved", 1),
        rec("c-after", "billing", "missed", 7200, None, None, 8000),
    ]
    extra = [
        rec("c0", "billing", "closed", -400, -300, -290, 100, alice, "resolved"),
        rec("c-open", "sales", "closed", -100, -90, None, 7300, bob, "resolved"),
        rec("c-late", "sales", "closed", -50, -40, None, 7500, bob, "resolved"),
    ]
    spans = [
        Span(prefix + "c0", alice, t(-300), t(100)),
        Span(prefix + "c1", alice, t(10), t(310)),
        Span(prefix + "c7", alice, t(3705), t(3905)),
        Span(prefix + "c8", alice, t(3820), t(4220)),
        Span(prefix + "c2", bob, t(130), t(730)),
        Span(prefix + "c9", bob, t(4008), t(4100)),
        Span(prefix + "c-open", bob, t(7100), None),
        Span(prefix + "c-late", bob, t(7150), t(7500)),
    ]
    changes = [
        StatusChange(alice, "offline", t(-3600)),
        StatusChange(alice, "online", t(-1800)),
        StatusChange(alice, "away", t(3000)),
        StatusChange(alice, "online", t(3800)),
        StatusChange(bob, "online", t(50)),
        StatusChange(bob, "offline", t(7300)),
        StatusChange(carol, "online", t(-5000)),
        StatusChange(carol, "offline", t(-100)),
    ]
    return Scenario(t0, t(7200), records, spans, changes, alice, bob, carol, extra)


def check(m: Metrics, expected: Mapping[str, Any]) -> None:
    """Every expected field equals (floats: approximately) the figure."""
    got = metrics_as_dict(m)
    for name, want in expected.items():
        if isinstance(want, (float, dict)):
            assert got[name] == pytest.approx(want), name
        else:
            assert got[name] == want, name


NO_OCCUPANCY = {"online_s": None, "busy_s": None, "occupancy": None}

# The whole period, every field:
TOTAL: dict[str, Any] = {
    "start_ms": T0,
    "end_ms": T0 + 7200 * S,
    # offered: every in-period record except the offline c6 -> c1-c5, c7-c10 = 9
    "offered": 9,
    # answered: accepted_at set -> c1, c2, c7, c8, c9 = 5
    "answered": 5,
    "abandoned": 1,  # c4 (waited 15 s >= 5)
    "short_abandoned": 1,  # c3 (waited 3 s)
    "missed": 1,  # c5
    "closed_unanswered": 1,  # c10
    "offline_messages": 1,  # c6
    # base = offered - short_abandoned = 9 - 1 = 8
    "answer_rate": 5 / 8,
    "abandon_rate": 1 / 8,
    # waits of answered: c1 10, c2 30, c7 5, c8 20, c9 8 -> sorted [5, 8, 10, 20, 30]
    "avg_speed_of_answer_s": (10 + 30 + 5 + 20 + 8) / 5,  # 14.6
    "wait_p50_s": 10.0,  # rank ceil(0.50 * 5) = 3
    "wait_p90_s": 30.0,  # rank ceil(0.90 * 5) = 5
    "wait_p95_s": 30.0,  # rank ceil(0.95 * 5) = 5
    # within 20 s (inclusive): 10, 5, 20, 8 -> 4 (c2 at 30 s is late; c4, c5, c10 count
    # against the level in the base; c3 is out of the base)
    "answered_within_target": 4,
    "service_level": 4 / 8,
    "service_level_target_s": 20.0,
    "service_level_goal": 0.8,
    "service_level_met": False,
    # first reply - created: c1 15, c2 40, c8 30
    "replied": 3,
    "avg_first_response_s": (15 + 40 + 30) / 3,
    # ended - accepted over answered closed chats: c1 300, c2 600, c7 200, c8 400
    # (c9 was answered but ended abandoned: not handled)
    "handled": 4,
    "avg_handle_s": (300 + 600 + 200 + 400) / 4,  # 375
    # ratings: c1 5, c2 2, c7 4
    "rated": 3,
    "csat": 2 / 3,
    "avg_rating": (5 + 2 + 4) / 3,
    # no NPS answers in this scenario (hand-checked NPS figures: tests/records/test_nps.py)
    "nps_responses": 0, "promoters": 0, "passives": 0, "detractors": 0, "nps": None,
    # closed: c1 resolved, c2 unresolved, c7 resolved, c8 resolved, c10 spam
    "closed": 5,
    "resolution_counts": {"resolved": 3, "spam": 1, "unresolved": 1},
    "resolution_shares": {"resolved": 3 / 5, "spam": 1 / 5, "unresolved": 1 / 5},
    # alice online [0, 3000) + [3800, 7200) = 3000 + 3400 = 6400 s
    #   held [0, 100) c0 + [10, 310) c1 -> [0, 310); [3705, 3905) + [3820, 4220) ->
    #   [3705, 4220); while online: 310 + (4220 - 3800) = 730 s
    # bob online [50, 7200) = 7150 s (offline at 7300 is after the end)
    #   held [130, 730) 600 + [4008, 4100) 92 + [7100, 7200) 100 (c-open, c-late
    #   overlap, clipped at the end) = 792 s
    # carol: offline all period
    "online_s": 6400.0 + 7150.0,
    "busy_s": 730.0 + 792.0,
    "occupancy": (730 + 792) / (6400 + 7150),
}


def test_total_every_metric() -> None:
    sc = scenario()
    m = compute(sc.records, sc.spans, sc.changes, start_ms=sc.t0, end_ms=sc.end)
    assert set(TOTAL) == {f.name for f in fields(Metrics)}
    check(m, TOTAL)


def test_by_agent() -> None:
    sc = scenario()
    groups = group_by(sc.records, sc.spans, sc.changes, key="agent", start_ms=sc.t0,
                      end_ms=sc.end)
    assert list(groups) == ["alice", "bob"]  # carol: no record, no span, no online time
    # alice: c1, c7, c8; waits 10, 5, 20 -> sorted [5, 10, 20]
    check(groups["alice"], {
        "offered": 3, "answered": 3, "abandoned": 0, "short_abandoned": 0,
        "answer_rate": 1.0, "abandon_rate": 0.0,
        "avg_speed_of_answer_s": 35 / 3,
        "wait_p50_s": 10.0,  # rank ceil(1.5) = 2
        "wait_p90_s": 20.0,  # rank ceil(2.7) = 3
        "wait_p95_s": 20.0,
        "answered_within_target": 3, "service_level": 1.0, "service_level_met": True,
        "replied": 2, "avg_first_response_s": (15 + 30) / 2,
        "handled": 3, "avg_handle_s": (300 + 200 + 400) / 3,
        "rated": 2, "csat": 1.0, "avg_rating": 4.5,
        "closed": 3, "resolution_counts": {"resolved": 3},
        "resolution_shares": {"resolved": 1.0},
        "online_s": 6400.0, "busy_s": 730.0, "occupancy": 730 / 6400,
    })
    # bob: c2, c9; waits 30, 8
    check(groups["bob"], {
        "offered": 2, "answered": 2, "abandoned": 0,
        "avg_speed_of_answer_s": 19.0,
        "wait_p50_s": 8.0,  # rank ceil(1.0) = 1
        "wait_p90_s": 30.0,  # rank ceil(1.8) = 2
        "wait_p95_s": 30.0,
        "answered_within_target": 1, "service_level": 0.5, "service_level_met": False,
        "replied": 1, "avg_first_response_s": 40.0,
        "handled": 1, "avg_handle_s": 600.0,  # c9 ended abandoned: not handled
        "rated": 1, "csat": 0.0, "avg_rating": 2.0,
        "closed": 1, "resolution_counts": {"unresolved": 1},
        "online_s": 7150.0, "busy_s": 792.0, "occupancy": 792 / 7150,
    })


def test_by_topic() -> None:
    sc = scenario()
    groups = group_by(sc.records, sc.spans, sc.changes, key="topic", start_ms=sc.t0,
                      end_ms=sc.end)
    assert list(groups) == ["billing", "general", "sales"]
    # billing: c1, c2, c8, c9 (all answered); waits 10, 30, 20, 8 -> [8, 10, 20, 30]
    check(groups["billing"], {
        "offered": 4, "answered": 4, "answer_rate": 1.0,
        "avg_speed_of_answer_s": 68 / 4,
        "wait_p50_s": 10.0,  # rank ceil(2.0) = 2
        "wait_p90_s": 30.0,  # rank ceil(3.6) = 4
        "answered_within_target": 3, "service_level": 3 / 4,
        "avg_first_response_s": (15 + 40 + 30) / 3,
        "avg_handle_s": (300 + 600 + 400) / 3,
        "csat": 1 / 2, "avg_rating": 3.5,
        "resolution_counts": {"resolved": 2, "unresolved": 1},
        **NO_OCCUPANCY,
    })
    # sales: c3 short, c4 abandoned, c7 answered in 5 s; base 3 - 1 = 2
    check(groups["sales"], {
        "offered": 3, "answered": 1, "abandoned": 1, "short_abandoned": 1,
        "answer_rate": 1 / 2, "abandon_rate": 1 / 2,
        "avg_speed_of_answer_s": 5.0, "wait_p50_s": 5.0, "wait_p95_s": 5.0,
        "service_level": 1 / 2,
        "replied": 0, "avg_first_response_s": None,
        "avg_handle_s": 200.0, "csat": 1.0,
        "resolution_counts": {"resolved": 1},
        **NO_OCCUPANCY,
    })
    # general: c5 missed, c6 offline, c10 closed unanswered; nothing answered
    check(groups["general"], {
        "offered": 2, "answered": 0, "missed": 1, "closed_unanswered": 1,
        "offline_messages": 1,
        "answer_rate": 0.0, "abandon_rate": 0.0,
        "avg_speed_of_answer_s": None, "wait_p50_s": None, "wait_p90_s": None,
        "wait_p95_s": None,
        "answered_within_target": 0, "service_level": 0.0, "service_level_met": False,
        "avg_first_response_s": None, "handled": 0, "avg_handle_s": None,
        "rated": 0, "csat": None, "avg_rating": None,
        "closed": 1, "resolution_counts": {"spam": 1}, "resolution_shares": {"spam": 1.0},
        **NO_OCCUPANCY,
    })
    assert sum(g.offered for g in groups.values()) == TOTAL["offered"]


def test_by_skill() -> None:
    sc = scenario()
    groups = group_by(sc.records, sc.spans, sc.changes, key="skill", start_ms=sc.t0,
                      end_ms=sc.end)
    # general requires no skill: in no skill group
    assert list(groups) == ["billing", "english", "sales"]
    topics = group_by(sc.records, sc.spans, sc.changes, key="topic", start_ms=sc.t0,
                      end_ms=sc.end)
    assert groups["billing"] == topics["billing"]
    assert groups["sales"] == topics["sales"]
    # english: billing + sales chats = c1, c2, c8, c9, c3, c4, c7
    # base 7 - 1 (c3) = 6; within target: c1 10, c8 20, c9 8, c7 5 = 4
    check(groups["english"], {
        "offered": 7, "answered": 5, "abandoned": 1, "short_abandoned": 1,
        "answer_rate": 5 / 6, "abandon_rate": 1 / 6,
        "avg_speed_of_answer_s": 73 / 5,
        "service_level": 4 / 6,
        "avg_handle_s": 1500 / 4,
        "rated": 3, "csat": 2 / 3,
        "resolution_counts": {"resolved": 3, "unresolved": 1},
        **NO_OCCUPANCY,
    })


HOUR_23 = {
    # c1-c6: offered c1-c5; answered c1, c2; c3 short, c4 abandoned, c5 missed; base 4
    "start_ms": T0, "end_ms": T0 + 3600 * S,
    "offered": 5, "answered": 2, "short_abandoned": 1, "abandoned": 1, "missed": 1,
    "offline_messages": 1, "closed_unanswered": 0,
    "answer_rate": 2 / 4, "abandon_rate": 1 / 4,
    "avg_speed_of_answer_s": (10 + 30) / 2,
    "wait_p50_s": 10.0, "wait_p90_s": 30.0,
    "answered_within_target": 1, "service_level": 1 / 4,
    "avg_first_response_s": (15 + 40) / 2,
    "avg_handle_s": (300 + 600) / 2,
    "csat": 1 / 2, "avg_rating": 3.5,
    "resolution_counts": {"resolved": 1, "unresolved": 1},
    # alice online [0, 3000) 3000 s, busy [0, 310) 310 s
    # bob online [50, 3600) 3550 s, busy [130, 730) 600 s
    "online_s": 3000.0 + 3550.0, "busy_s": 310.0 + 600.0,
    "occupancy": 910 / 6550,
}
HOUR_00 = {
    # c7-c10: answered c7, c8, c9; c10 closed unanswered; base 4
    "start_ms": T0 + 3600 * S, "end_ms": T0 + 7200 * S,
    "offered": 4, "answered": 3, "closed_unanswered": 1, "abandoned": 0, "missed": 0,
    "offline_messages": 0,
    "answer_rate": 3 / 4, "abandon_rate": 0.0,
    "avg_speed_of_answer_s": (5 + 20 + 8) / 3,
    "wait_p50_s": 8.0,  # [5, 8, 20] rank ceil(1.5) = 2
    "wait_p90_s": 20.0,  # rank ceil(2.7) = 3
    "answered_within_target": 3, "service_level": 3 / 4,
    "replied": 1, "avg_first_response_s": 30.0,
    "avg_handle_s": (200 + 400) / 2,
    "rated": 1, "csat": 1.0, "avg_rating": 4.0,
    "resolution_counts": {"resolved": 2, "spam": 1},
    # alice online [3800, 7200) 3400 s, busy [3800, 4220) 420 s
    # bob online [3600, 7200) 3600 s, busy 92 + 100 = 192 s
    "online_s": 3400.0 + 3600.0, "busy_s": 420.0 + 192.0,
    "occupancy": 612 / 7000,
}


def test_by_hour_and_day() -> None:
    sc = scenario()
    hours = group_by(sc.records, sc.spans, sc.changes, key="hour", start_ms=sc.t0,
                     end_ms=sc.end)
    assert list(hours) == ["2026-11-23T23:00Z", "2026-11-24T00:00Z"]
    check(hours["2026-11-23T23:00Z"], HOUR_23)
    check(hours["2026-11-24T00:00Z"], HOUR_00)
    days = group_by(sc.records, sc.spans, sc.changes, key="day", start_ms=sc.t0,
                    end_ms=sc.end)
    # the day buckets are clipped to the period: the same windows as the two hours
    assert list(days) == ["2026-11-23", "2026-11-24"]
    check(days["2026-11-23"], HOUR_23)
    check(days["2026-11-24"], HOUR_00)
    # pooled presence adds up over the buckets
    assert sum(h.online_s or 0 for h in hours.values()) == pytest.approx(TOTAL["online_s"])
    assert sum(h.busy_s or 0 for h in hours.values()) == pytest.approx(TOTAL["busy_s"])


def test_hour_buckets_zero_filled_and_clipped() -> None:
    sc = scenario()
    start, end = sc.t0 - 30 * 60 * S, sc.t0 + 2 * 3600 * S + 60 * S  # 22:30 .. 01:01
    hours = group_by(sc.records, sc.spans, sc.changes, key="hour", start_ms=start,
                     end_ms=end)
    assert list(hours) == [
        "2026-11-23T22:00Z", "2026-11-23T23:00Z", "2026-11-24T00:00Z", "2026-11-24T01:00Z"
    ]
    first, last = hours["2026-11-23T22:00Z"], hours["2026-11-24T01:00Z"]
    assert (first.start_ms, first.end_ms) == (start, sc.t0)
    assert (last.start_ms, last.end_ms) == (sc.t0 + 7200 * S, end)
    # c-before (created at -10 s) falls in the 22:00 bucket now; c-after in 01:00
    assert first.offered == 1 and last.offered == 1
    assert hours["2026-11-23T23:00Z"].offered == HOUR_23["offered"]


def test_json() -> None:
    sc = scenario()
    m = compute(sc.records, sc.spans, sc.changes, start_ms=sc.t0, end_ms=sc.end)
    d = json.loads(json.dumps(metrics_as_dict(m)))
    assert d["resolution_counts"] == {"resolved": 3, "spam": 1, "unresolved": 1}
    assert d["service_level_met"] is False
    assert list(d) == [f.name for f in fields(Metrics)]


# --- edge cases ---------------------------------------------------------------------------


def test_empty_period() -> None:
    m = compute([], [], [], start_ms=T0, end_ms=T0 + 3600 * S)
    check(m, {
        "offered": 0, "answered": 0, "abandoned": 0, "short_abandoned": 0, "missed": 0,
        "closed_unanswered": 0, "offline_messages": 0,
        "answer_rate": None, "abandon_rate": None, "avg_speed_of_answer_s": None,
        "wait_p50_s": None, "wait_p90_s": None, "wait_p95_s": None,
        "service_level": None, "service_level_met": None,
        "avg_first_response_s": None, "avg_handle_s": None,
        "rated": 0, "csat": None, "avg_rating": None,
        "closed": 0, "resolution_counts": {}, "resolution_shares": {},
        "online_s": 0.0, "busy_s": 0.0, "occupancy": None,
    })
    for key in GROUP_KEYS:
        groups = group_by([], [], [], key=key, start_ms=T0, end_ms=T0 + 3600 * S)
        if key in ("hour", "day"):
            assert len(groups) == 1 and next(iter(groups.values())).offered == 0
        else:
            assert groups == {}
        assert group_by([], [], [], key=key, start_ms=T0, end_ms=T0) == {}


def test_no_answered_chats() -> None:
    records = [
        RecordRow("a", "t", {}, "abandoned", "", None, T0, None, None, T0 + 60 * S, ""),
        RecordRow("b", "t", {}, "missed", "", None, T0, None, None, T0 + 900 * S, ""),
    ]
    m = compute(records, [], [], start_ms=T0, end_ms=T0 + 3600 * S)
    check(m, {
        "offered": 2, "answered": 0, "abandoned": 1, "missed": 1,
        "answer_rate": 0.0, "abandon_rate": 0.5, "service_level": 0.0,
        "avg_speed_of_answer_s": None, "wait_p50_s": None, "avg_first_response_s": None,
        "avg_handle_s": None, "csat": None, "avg_rating": None,
    })


def test_only_short_abandons_leave_no_base() -> None:
    records = [RecordRow("a", "t", {}, "abandoned", "", None, T0, None, None, T0 + 4999, "")]
    m = compute(records, [], [], start_ms=T0, end_ms=T0 + S * 60)
    check(m, {"offered": 1, "short_abandoned": 1, "abandoned": 0, "answer_rate": None,
              "abandon_rate": None, "service_level": None, "service_level_met": None})
    # exactly 5 s is not short
    at_limit = [replace(records[0], ended_at=T0 + 5000)]
    assert compute(at_limit, [], [], start_ms=T0, end_ms=T0 + S * 60).abandoned == 1


def test_thresholds_change_the_figures() -> None:
    sc = scenario()
    strict = Thresholds(service_level_target_s=9, service_level_goal=0.3, short_abandon_s=20)
    m = compute(sc.records, sc.spans, sc.changes, start_ms=sc.t0, end_ms=sc.end,
                thresholds=strict)
    # short now also takes c4 (15 s): base 9 - 2 = 7; within 9 s: c7 5, c9 8 = 2
    check(m, {"short_abandoned": 2, "abandoned": 0, "answered_within_target": 2,
              "service_level": 2 / 7, "service_level_target_s": 9.0,
              "service_level_goal": 0.3, "service_level_met": False,
              "answer_rate": 5 / 7})
    with pytest.raises(ValueError):
        Thresholds(service_level_goal=1.5)
    with pytest.raises(ValueError):
        Thresholds(short_abandon_s=-1)


def test_status_before_the_period() -> None:
    start, end = T0, T0 + 3600 * S
    # online an hour before, nothing since: online the whole period
    assert online_intervals([StatusChange("a", "online", start - 3600 * S)], start, end) == [
        (start, end)
    ]
    # the last change before the start wins; one exactly at the start applies from it
    changes = [
        StatusChange("a", "online", start - 20 * S),
        StatusChange("a", "away", start - 10 * S),
        StatusChange("a", "online", start + 100 * S),
    ]
    assert online_intervals(changes, start, end) == [(start + 100 * S, end)]
    at_start = [StatusChange("a", "away", start - S), StatusChange("a", "online", start)]
    assert online_intervals(at_start, start, end) == [(start, end)]
    # no change ever: offline; changes at or after the end are ignored
    assert online_intervals([StatusChange("a", "online", end)], start, end) == []
    # repeated "online" changes join up; unsorted input is sorted by time
    repeated = [StatusChange("a", "offline", start + 50 * S),
                StatusChange("a", "online", start + 10 * S),
                StatusChange("a", "online", start + 20 * S)]
    assert online_intervals(repeated, start, end) == [(start + 10 * S, start + 50 * S)]
    m = compute([], [], changes, start_ms=start, end_ms=end)
    check(m, {"online_s": 3500.0, "busy_s": 0.0, "occupancy": 0.0})


def test_spans_crossing_the_edges_and_overlapping() -> None:
    start, end = T0, T0 + 1000 * S
    spans = [
        Span("x", "a", start - 500 * S, start + 100 * S),  # crosses the start: 100 s
        Span("y", "a", start + 50 * S, start + 200 * S),  # overlaps x: adds 100 s
        Span("z", "a", start + 900 * S, end + 500 * S),  # crosses the end: 100 s
        Span("w", "a", start + 950 * S, None),  # open, inside z
        Span("v", "a", start - 900 * S, start - 800 * S),  # before the period
    ]
    assert held_intervals(spans, start, end) == [
        (start, start + 200 * S), (start + 900 * S, end)
    ]
    online = [StatusChange("a", "online", start - S)]
    m = group_by([], spans, online, key="agent", start_ms=start, end_ms=end)["a"]
    # busy 200 + 100 = 300 s of 1000 s online
    check(m, {"offered": 0, "online_s": 1000.0, "busy_s": 300.0, "occupancy": 0.3})


def test_busy_only_counts_while_online() -> None:
    start, end = T0, T0 + 1000 * S
    spans = [Span("x", "a", start, start + 600 * S)]
    changes = [StatusChange("a", "online", start), StatusChange("a", "away", start + 400 * S),
               StatusChange("a", "online", start + 500 * S)]
    m = compute([], spans, changes, start_ms=start, end_ms=end)
    # online 400 + 500 = 900 s; held 600 s of which [400, 500) was away: 500 s
    check(m, {"online_s": 900.0, "busy_s": 500.0, "occupancy": 500 / 900})
    # an agent who held chats but was never online: in the agent groups, occupancy None
    never = group_by([], spans, [], key="agent", start_ms=start, end_ms=end)
    check(never["a"], {"online_s": 0.0, "busy_s": 0.0, "occupancy": None})


def test_nearest_rank() -> None:
    assert nearest_rank([7], 50) == 7
    values = list(range(1, 21))  # 1..20
    assert [nearest_rank(values, p) for p in (5, 50, 90, 95, 100)] == [1, 10, 18, 19, 20]
    assert nearest_rank([1, 2, 3, 4], 50) == 2  # ceil(2.0) = 2, no interpolation
    with pytest.raises(ValueError):
        nearest_rank([], 50)
    with pytest.raises(ValueError):
        nearest_rank([1], 0)


def test_bucket_keys_are_utc() -> None:
    assert bucket_key(ms(2026, 11, 23, 14) + 59 * 60 * S, "hour") == "2026-11-23T14:00Z"
    assert bucket_key(ms(2026, 11, 23, 23) + 3599 * S, "day") == "2026-11-23"
    assert bucket_key(ms(2026, 11, 24), "day") == "2026-11-24"


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        group_by([], [], [], key="week", start_ms=0, end_ms=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        compute([], [], [], start_ms=10, end_ms=5)


# --- properties -----------------------------------------------------------------------------

P_START = T0
P_END = T0 + 3 * 3600 * S
AGENTS = ["a1", "a2", "a3"]


@st.composite
def record_rows(draw: st.DrawFn) -> RecordRow:
    created = draw(st.integers(P_START - 600 * S, P_END + 600 * S))
    state = draw(st.sampled_from(["closed", "abandoned", "missed", "offline"]))
    accepted = None
    reply = None
    if state != "offline" and draw(st.booleans()):
        accepted = created + draw(st.integers(0, 120 * S))
        if draw(st.booleans()):
            reply = accepted + draw(st.integers(0, 60 * S))
    ended = max(created, accepted or created, reply or created) + draw(st.integers(0, 900 * S))
    return RecordRow(
        chat_id=draw(st.uuids()).hex,
        topic=draw(st.sampled_from(["billing", "sales", "general"])),
        required_skills=draw(st.dictionaries(st.sampled_from(["x", "y", "z"]),
                                             st.integers(0, 10), max_size=3)),
        end_state=state,
        outcome=draw(st.sampled_from(["", "resolved", "unresolved"])),
        rating=draw(st.none() | st.integers(1, 5)),
        created_at=created,
        accepted_at=accepted,
        first_agent_reply_at=reply,
        ended_at=ended,
        agent_id=draw(st.sampled_from(AGENTS)) if accepted is not None else "",
    )


times = st.integers(P_START - 3600 * S, P_END + 3600 * S)
spans_st = st.lists(
    st.builds(
        lambda agent, joined, length: Span("c", agent, joined,
                                           None if length is None else joined + length),
        st.sampled_from(AGENTS), times, st.none() | st.integers(0, 3600 * S),
    ),
    max_size=12,
)
changes_st = st.lists(
    st.builds(StatusChange, st.sampled_from(AGENTS),
              st.sampled_from(["online", "away", "offline"]), times),
    max_size=12,
)
thresholds_st = st.builds(
    Thresholds, st.integers(0, 60), st.floats(0, 1), st.integers(0, 30)
)

COUNTS = ("offered", "answered", "abandoned", "short_abandoned", "missed",
          "closed_unanswered", "offline_messages", "answered_within_target", "replied",
          "handled", "rated", "closed")


def _in_unit(x: float | None) -> bool:
    return x is None or 0 <= x <= 1


@settings(max_examples=150)
@given(st.lists(record_rows(), max_size=30), spans_st, changes_st, thresholds_st)
def test_properties(
    records: list[RecordRow], spans: list[Span], changes: list[StatusChange], th: Thresholds
) -> None:
    total = compute(records, spans, changes, start_ms=P_START, end_ms=P_END, thresholds=th)
    # the classes partition the offered chats
    assert (total.answered + total.abandoned + total.short_abandoned + total.missed
            + total.closed_unanswered) == total.offered
    assert total.offered + total.offline_messages == sum(
        P_START <= r.created_at < P_END for r in records
    )
    for value in (total.service_level, total.answer_rate, total.abandon_rate, total.csat,
                  total.occupancy):
        assert _in_unit(value)
    if total.answer_rate is not None and total.abandon_rate is not None:
        assert total.answer_rate + total.abandon_rate <= 1 + 1e-9
    if total.answered:
        assert total.wait_p50_s is not None and total.wait_p90_s is not None
        assert total.wait_p95_s is not None and total.avg_speed_of_answer_s is not None
        assert total.wait_p50_s <= total.wait_p90_s <= total.wait_p95_s
    else:
        assert total.avg_speed_of_answer_s is None and total.wait_p50_s is None
    assert sum(total.resolution_counts.values()) == total.closed
    if total.closed:
        assert sum(total.resolution_shares.values()) == pytest.approx(1.0)

    # counts add up over topics, hours and days; hours and days also add up presence
    for key in ("topic", "hour", "day"):
        groups = group_by(records, spans, changes, key=key, start_ms=P_START, end_ms=P_END,
                          thresholds=th)
        for name in COUNTS:
            assert sum(getattr(g, name) for g in groups.values()) == getattr(total, name)
        if key != "topic":
            assert sum(g.online_s or 0 for g in groups.values()) == pytest.approx(
                total.online_s)
            assert sum(g.busy_s or 0 for g in groups.values()) == pytest.approx(total.busy_s)
    # skills overlap: each is at most the total
    for g in group_by(records, spans, changes, key="skill", start_ms=P_START, end_ms=P_END,
                      thresholds=th).values():
        assert g.offered <= total.offered
    # agents: every held record once; occupancy in [0, 1]; presence adds up
    agents = group_by(records, spans, changes, key="agent", start_ms=P_START, end_ms=P_END,
                      thresholds=th)
    assert sum(g.offered + g.offline_messages for g in agents.values()) == sum(
        P_START <= r.created_at < P_END and r.agent_id != "" for r in records
    )
    for g in agents.values():
        assert _in_unit(g.occupancy)
        assert g.busy_s is not None and g.online_s is not None and g.busy_s <= g.online_s
    assert sum(g.online_s or 0 for g in agents.values()) == pytest.approx(total.online_s)


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=50), st.integers(1, 100))
def test_nearest_rank_is_a_value_with_enough_below(values: list[int], pct: int) -> None:
    values.sort()
    v = nearest_rank(values, pct)
    assert v in values
    # at least pct% of the values are <= v, and fewer than pct% are < v
    assert sum(x <= v for x in values) * 100 >= pct * len(values)
    assert sum(x < v for x in values) * 100 < pct * len(values)


# --- the SQL loader -------------------------------------------------------------------------

DB_T0 = ms(2001, 2, 3, 23)
"""A day no other test writes records for (the PostgreSQL database may be shared)."""


def _async_url(url: str) -> str:
    for plain, driver in (("postgresql://", "postgresql+asyncpg://"),
                          ("postgres://", "postgresql+asyncpg://")):
        if url.startswith(plain):
            return driver + url[len(plain):]
    return url


@pytest.fixture
def metrics_db_url(database_url: str, tmp_path: Path) -> str:
    """SQLite file or a fresh PostgreSQL database (the shared ``database_url`` fixture)."""
    if not database_url:
        return f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    return _async_url(database_url)


def _interaction(r: RecordRow) -> dict[str, Any]:
    return {
        "chat_id": r.chat_id, "visitor_id": "v-" + r.chat_id, "fields": {},
        "topic": r.topic, "required_skills": dict(r.required_skills),
        "optional_skills": {}, "priority": 0, "end_state": r.end_state,
        "outcome": r.outcome, "tags": [], "rating": r.rating, "created_at": r.created_at,
        "queued_at": None if r.end_state == "offline" else r.created_at,
        "accepted_at": r.accepted_at, "first_agent_reply_at": r.first_agent_reply_at,
        "ended_at": r.ended_at, "agent_id": r.agent_id, "written_at": r.ended_at,
    }


@pytest.fixture
async def loaded(metrics_db_url: str) -> AsyncIterator[tuple[Any, Scenario]]:
    await database.migrate(metrics_db_url)
    sc = scenario(DB_T0, prefix="m" + secrets.token_hex(4) + "-")
    engine = database.create_engine(metrics_db_url)
    span_index: dict[str, int] = {}
    try:
        async with engine.begin() as conn:
            await conn.execute(interactions.insert(),
                               [_interaction(r) for r in sc.records + sc.extra_records])
            rows = []
            for s in sc.spans:
                idx = span_index[s.chat_id] = span_index.get(s.chat_id, -1) + 1
                rows.append({"chat_id": s.chat_id, "idx": idx, "agent_id": s.agent_id,
                             "joined_at": s.joined_at, "left_at": s.left_at})
            await conn.execute(interaction_agents.insert(), rows)
            await conn.execute(
                agent_status_changes.insert(),
                [{"id": f"{c.at}-{i}-{c.agent_id}", "agent_id": c.agent_id,
                  "status": c.status, "at": c.at} for i, c in enumerate(sc.changes)],
            )
        yield engine, sc
    finally:
        async with engine.begin() as conn:
            ids = [r.chat_id for r in sc.records + sc.extra_records]
            await conn.execute(delete(interactions).where(interactions.c.chat_id.in_(ids)))
            await conn.execute(
                delete(interaction_agents).where(interaction_agents.c.chat_id.in_(ids)))
            await conn.execute(delete(agent_status_changes).where(
                agent_status_changes.c.agent_id.in_([sc.alice, sc.bob, sc.carol])))
        await engine.dispose()


async def test_load_period_and_period_metrics(loaded: tuple[Any, Scenario]) -> None:
    engine, sc = loaded
    records, spans, changes = await load_period(engine, sc.t0, sc.end)
    # records created in the period (not c-before, c-after, nor the extra chats)
    assert {r.chat_id for r in records} == {
        r.chat_id for r in sc.records if sc.t0 <= r.created_at < sc.end
    }
    c1 = next(r for r in records if r.chat_id.endswith("-c1"))
    assert c1 == next(r for r in sc.records if r.chat_id == c1.chat_id)
    # every scenario span overlaps the period; the open one ends when its chat ended
    assert len(spans) == len(sc.spans)
    open_span = next(s for s in spans if s.chat_id.endswith("-c-open"))
    assert open_span.left_at == sc.t0 + 7300 * S
    # status: the last change before the start per agent, then the ones in the period
    assert [(c.agent_id, c.status, c.at - sc.t0) for c in changes] == [
        (sc.alice, "online", -1800 * S),
        (sc.carol, "offline", -100 * S),
        (sc.bob, "online", 50 * S),
        (sc.alice, "away", 3000 * S),
        (sc.alice, "online", 3800 * S),
    ]

    total = await period_metrics(engine, sc.t0, sc.end)
    check(total, {**TOTAL, "start_ms": sc.t0, "end_ms": sc.end})
    for key in GROUP_KEYS:
        from_db = await period_metrics(engine, sc.t0, sc.end, key)
        expected = group_by(sc.records, sc.spans, sc.changes, key=key, start_ms=sc.t0,
                            end_ms=sc.end)
        assert from_db == expected, key
    by_agent = await period_metrics(engine, sc.t0, sc.end, "agent",
                                    DEFAULT_THRESHOLDS)
    assert list(by_agent) == [sc.alice, sc.bob]
    assert by_agent[sc.alice].occupancy == pytest.approx(730 / 6400)
