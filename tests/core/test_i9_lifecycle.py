"""Issue 9, items 4, 5 and 10, the pure rules: visitor presence (``core/presence.py``),
what a gone visitor's chat becomes, and ``offline`` as a terminal lifecycle state.

The presence model is checked against an independent oracle built from the raw trace of a
visitor's sockets: each socket is alive from its open until its close, or until
``ttl`` after the last time its process said it was alive (a process that died says
nothing).  The visitor counts as gone once no socket has been alive for ``grace``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.core import presence as pr
from chatserver.core.lifecycle import (
    INITIAL,
    LIVE,
    TERMINAL,
    TRANSITIONS,
    ChatEvent,
    ChatState,
    IllegalTransition,
    next_state,
    visitor_leave_event,
)
from chatserver.core.queueing import queue_score

S, E = ChatState, ChatEvent
TTL, GRACE = 3_000, 2_000


# ---- item 10: offline is a terminal state of the lifecycle -------------------------------
def test_i9_10_offline_is_a_terminal_state() -> None:
    assert ChatState("offline") is S.OFFLINE  # a stored 'offline' chat parses
    assert S.OFFLINE in TERMINAL and S.OFFLINE not in LIVE
    assert INITIAL["offline_message"] is S.OFFLINE and INITIAL["start"] is S.QUEUED
    assert not any(src is S.OFFLINE for (src, _e) in TRANSITIONS)
    assert not any(dst is S.OFFLINE for dst in TRANSITIONS.values())
    for event in ChatEvent:
        with pytest.raises(IllegalTransition):
            next_state(S.OFFLINE, event)
    with pytest.raises(IllegalTransition):
        visitor_leave_event(S.OFFLINE)
    assert pr.end_for_gone_visitor(S.OFFLINE) is None


# ---- item 4: what a gone visitor's chat becomes ------------------------------------------
@pytest.mark.parametrize("state", list(ChatState), ids=str)
def test_i9_04_gone_visitor_ends_every_live_chat(state: ChatState) -> None:
    decision = pr.end_for_gone_visitor(state)
    if state in TERMINAL:
        assert decision is None
        return
    assert decision is not None
    event, outcome = decision
    assert outcome == pr.VISITOR_LEFT == "visitor_left"
    ended = next_state(state, event)  # legal from this state
    assert ended in TERMINAL
    # waiting chats are abandoned; a chat an agent holds in conversation is closed
    assert ended is (S.CLOSED if state is S.ACTIVE else S.ABANDONED)


@given(st.lists(st.sampled_from(list(ChatEvent)), max_size=12))
def test_i9_04_gone_visitor_ends_the_chat_whatever_states_it_passed(
    events: list[ChatEvent],
) -> None:
    # walk any legal path from queued; wherever it is, a gone visitor ends it if live
    state = S.QUEUED
    for event in events:
        if (state, event) in TRANSITIONS:
            state = next_state(state, event)
    decision = pr.end_for_gone_visitor(state)
    assert (decision is None) == (state in TERMINAL)
    if decision is not None:
        assert next_state(state, decision[0]) in TERMINAL


# ---- item 11: requeued chats keep their age order, ahead of the others -------------------
@given(
    st.lists(st.integers(0, 10**12), min_size=1, max_size=8, unique=True),
    st.lists(st.integers(0, 10**12), max_size=8),
    st.integers(0, 9),
)
def test_i9_11_requeued_chats_keep_age_order_at_the_front(
    requeued_created: list[int], waiting_created: list[int], priority: int
) -> None:
    front = {f"r{i}": queue_score(priority, c, front=True) for i, c in enumerate(requeued_created)}
    back = {f"w{i}": queue_score(priority, c) for i, c in enumerate(waiting_created)}
    order = sorted({**front, **back}, key=lambda k: {**front, **back}[k])
    # every requeued chat ahead of every waiting one, the requeued ones oldest first
    assert order[: len(front)] == sorted(front, key=lambda k: requeued_created[int(k[1:])])


# ---- item 5: presence, checked against an oracle ----------------------------------------
@dataclass
class Oracle:
    """Each socket's alive interval, from the raw trace."""

    opened: dict[str, int] = field(default_factory=dict)
    said_alive: dict[str, int] = field(default_factory=dict)
    closed: dict[str, int] = field(default_factory=dict)

    def alive_until(self, conn: str) -> int:
        if conn in self.closed:
            return self.closed[conn]
        return self.said_alive[conn] + TTL

    def last_alive(self, now: int) -> int | None:
        """None while a socket is alive (or none was ever opened)."""
        if not self.opened:
            return None
        ends = [self.alive_until(c) for c in self.opened]
        if any(end > now for end in ends):
            return None
        return max(ends)

    def gone(self, now: int) -> bool:
        last = self.last_alive(now)
        return last is not None and now >= last + GRACE


Step = tuple[str, int, int]  # (kind, connection number, milliseconds later)
steps = st.lists(
    st.tuples(
        st.sampled_from(["connect", "disconnect", "heartbeat", "sweep", "wait"]),
        st.integers(0, 3),
        st.integers(0, 4_000),
    ),
    max_size=30,
)


def run_trace(trace: list[Step], sweeps: bool) -> None:
    """Apply ``trace``; at every step the model must agree with the oracle."""
    p = pr.VisitorPresence()
    oracle = Oracle()
    now = 1_000_000
    dead: set[str] = set()  # sockets whose process "died": no heartbeat, no close
    for kind, n, later in trace:
        now += later
        conn = f"c{n}"
        open_now = conn in oracle.opened and conn not in oracle.closed
        if kind == "connect" and conn not in oracle.opened:
            p = pr.connect(p, conn, now, TTL)
            oracle.opened[conn] = oracle.said_alive[conn] = now
        elif kind == "disconnect" and open_now and conn not in dead:
            if oracle.alive_until(conn) <= now:
                # a close after a stall beyond the ttl: the socket was alive till now
                oracle.said_alive[conn] = now - TTL
            p = pr.disconnect(p, conn, now)
            oracle.closed[conn] = now
        elif kind == "heartbeat" and open_now and conn not in dead:
            p = pr.heartbeat(p, [conn], now, TTL)
            oracle.said_alive[conn] = now
        elif kind == "sweep":
            if sweeps:
                p = pr.sweep(p, now)
            if open_now:
                dead.add(conn)  # and this socket's process dies now
        assert (p.gone_at(now, GRACE) is None) == (oracle.last_alive(now) is None)
        assert p.is_gone(now, GRACE) == oracle.gone(now), (kind, conn, now)
        if oracle.last_alive(now) is not None:
            assert p.gone_at(now, GRACE) == oracle.last_alive(now) + GRACE  # type: ignore[operator]


@settings(max_examples=400)
@given(steps)
def test_i9_05_gone_exactly_grace_after_the_last_socket_ended(trace: list[Step]) -> None:
    run_trace(trace, sweeps=True)


@settings(max_examples=200)
@given(steps)
def test_i9_05_sweeping_changes_nothing_but_the_bookkeeping(trace: list[Step]) -> None:
    # whether or not the sweeper ran, the decision is the same
    run_trace(trace, sweeps=False)


def test_i9_05_grace_is_counted_from_the_close_not_from_the_ttl() -> None:
    # the bug of item 5: the delay was ttl + grace.  A close is known at once.
    p = pr.connect(pr.VisitorPresence(), "a", 0, ttl_ms=30_000)
    p = pr.disconnect(p, "a", 1_000)
    assert p.gone_at(1_000, 4_000) == 5_000
    assert not p.is_gone(4_999, 4_000) and p.is_gone(5_000, 4_000)


def test_i9_05_a_dead_process_counts_from_the_last_expiry() -> None:
    p = pr.connect(pr.VisitorPresence(), "a", 0, ttl_ms=3_000)
    p = pr.heartbeat(p, ["a"], 1_000, ttl_ms=3_000)  # then the process dies
    assert p.gone_at(3_999, 2_000) is None  # still counts as alive until its expiry
    assert p.gone_at(4_000, 2_000) == 6_000
    swept = pr.sweep(p, 4_500)
    assert swept.conns == {} and swept.left_at == 4_000
    assert swept.gone_at(4_500, 2_000) == 6_000


def test_i9_05_another_tab_keeps_the_visitor_present() -> None:
    p = pr.connect(pr.VisitorPresence(), "a", 0, 3_000)
    p = pr.connect(p, "b", 100, 3_000)
    p = pr.disconnect(p, "a", 200)
    assert p.gone_at(200, 2_000) is None
    p = pr.disconnect(p, "b", 900)
    assert p.gone_at(900, 2_000) == 2_900
    back = pr.connect(p, "c", 1_000, 3_000)
    assert back.left_at is None and back.gone_at(2_900, 2_000) is None


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**6))
def test_i9_05_an_outage_does_not_count_against_the_visitor(
    gone_at: int, resumed_at: int, grace: int
) -> None:
    due = pr.gone_after_outage(gone_at, resumed_at, grace)
    assert due >= gone_at  # never sooner than the rule says
    assert due >= resumed_at + grace  # a whole grace after the restart to come back
    assert due in (gone_at, resumed_at + grace)
