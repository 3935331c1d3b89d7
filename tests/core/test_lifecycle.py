"""The chat state machine in chatserver.core.lifecycle, checked exhaustively."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.core.lifecycle import (
    HOLDS_AGENT,
    INITIAL,
    LIVE,
    TERMINAL,
    TRANSITIONS,
    ChatEvent,
    ChatState,
    IllegalTransition,
    next_state,
    sources,
    visitor_leave_event,
)

S, E = ChatState, ChatEvent
ALL_PAIRS = list(itertools.product(ChatState, ChatEvent))

# The diagram in the module docstring, written out independently of TRANSITIONS.
EXPECTED: dict[tuple[ChatState, ChatEvent], ChatState] = {
    (S.QUEUED, E.OFFER): S.OFFERED,
    (S.QUEUED, E.ASSIGN): S.ACTIVE,
    (S.QUEUED, E.CLOSE): S.CLOSED,
    (S.QUEUED, E.ABANDON): S.ABANDONED,
    (S.QUEUED, E.MISS): S.MISSED,
    (S.OFFERED, E.ACCEPT): S.ACTIVE,
    (S.OFFERED, E.DECLINE): S.QUEUED,
    (S.OFFERED, E.LAPSE): S.QUEUED,
    (S.OFFERED, E.REQUEUE): S.QUEUED,
    (S.OFFERED, E.CLOSE): S.CLOSED,
    (S.OFFERED, E.ABANDON): S.ABANDONED,
    (S.ACTIVE, E.REQUEUE): S.QUEUED,
    (S.ACTIVE, E.TRANSFER_QUEUE): S.QUEUED,
    (S.ACTIVE, E.TRANSFER_AGENT): S.ACTIVE,
    (S.ACTIVE, E.CLOSE): S.CLOSED,
}


def test_table_matches_documented_diagram() -> None:
    assert dict(TRANSITIONS) == EXPECTED


def test_state_sets() -> None:
    assert frozenset({S.CLOSED, S.ABANDONED, S.MISSED, S.OFFLINE}) == TERMINAL
    assert frozenset({S.QUEUED, S.OFFERED, S.ACTIVE}) == LIVE
    assert frozenset({S.OFFERED, S.ACTIVE}) == HOLDS_AGENT
    assert frozenset(ChatState) == LIVE | TERMINAL
    assert not LIVE & TERMINAL
    assert HOLDS_AGENT <= LIVE


def test_enum_values_are_wire_strings() -> None:
    # Lua scripts and stored hashes use these strings verbatim.
    for state in ChatState:
        assert state.value == state.name.lower()
        assert ChatState(state.value) is state
    for event in ChatEvent:
        assert event.value == event.name.lower()
        assert ChatEvent(event.value) is event


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=lambda v: str(v))
def test_every_pair_transitions_or_raises(state: ChatState, event: ChatEvent) -> None:
    if (state, event) in TRANSITIONS:
        assert next_state(state, event) is TRANSITIONS[(state, event)]
        return
    with pytest.raises(IllegalTransition) as info:
        next_state(state, event)
    exc = info.value
    assert isinstance(exc, ValueError)
    assert exc.state is state
    assert exc.event is event
    message = str(exc)
    assert message == f"a chat that is {state.value} cannot take the event {event.value!r}"
    # A sentence a human can read: names both, no enum reprs leak through.
    assert state.value in message and event.value in message
    assert "ChatState" not in message and "ChatEvent" not in message
    assert exc.__cause__ is None and exc.__suppress_context__


@pytest.mark.parametrize("state", sorted(TERMINAL), ids=str)
def test_terminal_states_accept_nothing(state: ChatState) -> None:
    for event in ChatEvent:
        with pytest.raises(IllegalTransition):
            next_state(state, event)
    assert not any(s is state for (s, _e) in TRANSITIONS)


@pytest.mark.parametrize("state", sorted(LIVE), ids=str)
def test_live_states_can_always_end(state: ChatState) -> None:
    # Every live chat can be closed, so nothing is ever stuck.
    assert next_state(state, E.CLOSE) is S.CLOSED


def test_every_state_is_reachable_from_an_initial_state() -> None:
    assert set(INITIAL.values()) == {S.QUEUED, S.OFFLINE}
    seen = set(INITIAL.values())
    frontier = list(seen)
    while frontier:
        state = frontier.pop()
        for (src, _event), dst in TRANSITIONS.items():
            if src is state and dst not in seen:
                seen.add(dst)
                frontier.append(dst)
    assert seen == set(ChatState)


@pytest.mark.parametrize("event", list(ChatEvent), ids=str)
def test_sources_agrees_with_table(event: ChatEvent) -> None:
    expected = frozenset(s for s in ChatState if (s, event) in TRANSITIONS)
    got = sources(event)
    assert isinstance(got, frozenset)
    assert got == expected
    assert got, f"{event} is never legal"
    assert not got & TERMINAL
    for state in ChatState:
        if state in got:
            next_state(state, event)
        else:
            with pytest.raises(IllegalTransition):
                next_state(state, event)


def test_sources_spot_checks() -> None:
    assert sources(E.OFFER) == {S.QUEUED}
    assert sources(E.ASSIGN) == {S.QUEUED}
    assert sources(E.ACCEPT) == {S.OFFERED}
    assert sources(E.REQUEUE) == {S.OFFERED, S.ACTIVE}
    assert sources(E.CLOSE) == LIVE
    assert sources(E.ABANDON) == {S.QUEUED, S.OFFERED}
    assert sources(E.MISS) == {S.QUEUED}
    assert sources(E.TRANSFER_AGENT) == {S.ACTIVE}


def test_visitor_leave_event() -> None:
    assert visitor_leave_event(S.QUEUED) is E.ABANDON
    assert visitor_leave_event(S.OFFERED) is E.ABANDON
    assert visitor_leave_event(S.ACTIVE) is E.CLOSE
    for state in LIVE:
        event = visitor_leave_event(state)
        assert next_state(state, event) in TERMINAL


@pytest.mark.parametrize("state", sorted(TERMINAL), ids=str)
def test_visitor_leave_event_terminal(state: ChatState) -> None:
    with pytest.raises(IllegalTransition) as info:
        visitor_leave_event(state)
    assert info.value.state is state
    assert info.value.event is E.CLOSE
    assert state.value in str(info.value)


# ---- random walks ------------------------------------------------------------------------

# What each event does to the agent the chat holds (a model written from the docstring).
BINDS = {E.OFFER, E.ASSIGN, E.TRANSFER_AGENT}  # a (possibly new) agent is holding the chat
KEEPS = {E.ACCEPT}  # the offered agent keeps it
RELEASES = {E.DECLINE, E.LAPSE, E.REQUEUE, E.TRANSFER_QUEUE, E.CLOSE, E.ABANDON, E.MISS}


def test_agent_model_covers_every_event() -> None:
    assert set(ChatEvent) == BINDS | KEEPS | RELEASES
    assert not (BINDS & KEEPS or BINDS & RELEASES or KEEPS & RELEASES)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list(ChatEvent)), max_size=40))
def test_random_event_sequences(events: list[ChatEvent]) -> None:
    state = S.QUEUED
    agent: int | None = None  # which agent holds the chat (None = no one)
    next_agent = 0
    load = 0  # units of capacity the chat occupies across all agents
    ended = False
    for event in events:
        try:
            new = next_state(state, event)
        except IllegalTransition as exc:
            assert (state, event) not in TRANSITIONS
            assert exc.state is state and exc.event is event
            continue
        assert not ended, "a terminal state took an event"
        assert state not in TERMINAL
        assert state in sources(event)
        if event in BINDS:
            next_agent += 1
            agent = next_agent
            load = 1
        elif event in RELEASES:
            agent = None
            load = 0
        state = new
        if state in TERMINAL:
            ended = True
        # HOLDS_AGENT: a chat in offered/active holds exactly one unit of one agent.
        assert (agent is not None) == (state in HOLDS_AGENT)
        assert load == (1 if state in HOLDS_AGENT else 0)
    if ended:
        assert state in TERMINAL
        for event in ChatEvent:
            with pytest.raises(IllegalTransition):
                next_state(state, event)
    else:
        assert state in LIVE


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(list(ChatEvent)), max_size=40))
def test_legal_walks_only_enter_holds_agent_via_agent_events(events: list[ChatEvent]) -> None:
    state = S.QUEUED
    for event in events:
        if state not in sources(event):
            continue
        new = next_state(state, event)
        if new in HOLDS_AGENT and state not in HOLDS_AGENT:
            assert event in (E.OFFER, E.ASSIGN)
        if state in HOLDS_AGENT and new not in HOLDS_AGENT:
            assert event in RELEASES
        if new is S.QUEUED:
            assert event in RELEASES
        state = new
