"""The agent presence state machine (``core/agent_presence.py``): its table, the rules the
scripts receive, and invariants that hold after any sequence of events."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.core import agent_presence as ap
from chatserver.core.agent_presence import (
    RECEIVES,
    TRANSITIONS,
    AgentPresence,
    AgentStatus,
    PresenceEvent,
)

S, E = AgentStatus, PresenceEvent

CONNS = ["c1", "c2", "c3"]
Step = Callable[[AgentPresence], AgentPresence]


def _connect(c: str) -> Step:
    return lambda p: ap.connect(p, c)[0]


events: st.SearchStrategy[Step] = st.one_of(
    st.sampled_from(CONNS).map(_connect),
    st.sampled_from(CONNS).map(lambda c: lambda p: ap.disconnect(p, c)),
    st.lists(st.sampled_from(CONNS), max_size=3).map(lambda cs: lambda p: ap.heartbeat(p, cs)),
    st.sampled_from(list(AgentStatus)).map(lambda s: lambda p: ap.set_status(p, s)),
    st.just(ap.lapse),
    st.just(ap.disable),
    st.lists(st.sampled_from(CONNS), max_size=3).map(lambda cs: lambda p: ap.expire(p, cs)),
    st.just(ap.grace_end),
)


def run(steps: list[Step]) -> list[AgentPresence]:
    p = AgentPresence()
    trace = [p]
    for step in steps:
        p = step(p)
        trace.append(p)
    return trace


@settings(max_examples=500)
@given(st.lists(events, max_size=40))
def test_available_only_while_connected_online_and_enabled(steps: list[Step]) -> None:
    for p in run(steps):
        assert p.available == ap.receives_chats(p.status, p.disabled, bool(p.conns))
        if p.available:
            assert p.conns, "available with no live connection"
            assert p.status in RECEIVES and not p.disabled
        assert not (p.grace and p.conns), "a grace period while connected"


@settings(max_examples=300)
@given(st.lists(events, max_size=40))
def test_offline_always_reachable_through_grace_expiry(steps: list[Step]) -> None:
    p = run(steps)[-1]
    # every connection ends (closed, or its process died), then the grace period ends
    p = ap.expire(p, p.conns)
    assert p.grace and not p.available and not p.conns
    p = ap.grace_end(p)
    assert p.status is S.OFFLINE and not p.available and not p.grace


@settings(max_examples=300)
@given(st.lists(events, max_size=40), st.sampled_from(CONNS))
def test_a_connection_ends_the_grace_period_and_a_disabled_agent_is_refused(
    steps: list[Step], conn: str
) -> None:
    p = run(steps)[-1]
    q, accepted = ap.connect(p, conn)
    if p.disabled:
        assert not accepted and q == p
        return
    assert accepted and conn in q.conns and not q.grace
    assert q.status is (S.ONLINE if p.status is not S.AWAY else S.AWAY)
    assert q.available == (q.status is S.ONLINE)
    assert ap.grace_end(q).status is q.status  # came back in time: not set offline


def test_the_last_connection_closing_starts_the_grace_period() -> None:
    p, _ = ap.connect(AgentPresence(), "c1")
    p, _ = ap.connect(p, "c2")
    assert p.status is S.ONLINE and p.available
    p = ap.disconnect(p, "c1")
    assert p.available and not p.grace
    p = ap.disconnect(p, "c2")
    assert not p.available and p.grace and p.status is S.ONLINE  # keeps their chats
    p = ap.heartbeat(p, ["c2"])  # its process stalled: it was alive after all
    assert p.available and not p.grace


def test_the_table_covers_every_status_and_event() -> None:
    assert set(TRANSITIONS) == {(s, e) for s in AgentStatus for e in PresenceEvent}
    assert ap.changes(E.CONNECT) == {S.OFFLINE: S.ONLINE}
    assert ap.next_status(S.ONLINE, E.LAPSE) is S.AWAY
    assert ap.next_status(S.AWAY, E.GO_ONLINE) is S.ONLINE


def test_rules_for_the_scripts() -> None:
    assert ap.lua_rules() == {
        "unset": "offline",
        "receives": "online",
        "connect_from": "offline",
        "connect_to": "online",
        "grace_to": "offline",
    }


def test_only_offline_hands_the_chats_back() -> None:
    holds_none = ap.HOLDS_NO_CHATS
    assert holds_none == frozenset({S.OFFLINE})
    assert holds_none == {ap.next_status(s, E.GRACE_END) for s in AgentStatus}
