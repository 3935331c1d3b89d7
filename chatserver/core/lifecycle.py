"""The chat state machine.

::

    queued --offer--> offered --accept--> active --close--> closed
      |  \\--assign (auto-accept)-------->/  |  \\
      |        offered --decline/lapse/requeue--> queued
      |        active  --requeue/transfer_queue--> queued
      |        active  --transfer_agent--> active
      |--abandon--> abandoned   (also from offered: the visitor left before an answer)
      |--miss-----> missed      (queued past the queue timeout)

    (offline message) --> offline   (a message left when nobody could answer: the chat is
                                     created ended, and no event leaves it)

A chat is created ``queued`` (``start``) or ``offline`` (``offline``), see
:data:`INITIAL`.  ``closed``, ``abandoned``, ``missed`` and ``offline`` are terminal.
Every transition is listed in :data:`TRANSITIONS`; anything else raises
:class:`IllegalTransition`.  The Lua scripts receive the allowed source states from
:func:`sources`, so this table is the one place the rules live.
"""

from __future__ import annotations

from enum import StrEnum


class ChatState(StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"
    ACTIVE = "active"
    CLOSED = "closed"
    ABANDONED = "abandoned"
    MISSED = "missed"
    OFFLINE = "offline"


class ChatEvent(StrEnum):
    OFFER = "offer"
    ASSIGN = "assign"
    ACCEPT = "accept"
    DECLINE = "decline"
    LAPSE = "lapse"
    REQUEUE = "requeue"
    TRANSFER_AGENT = "transfer_agent"
    TRANSFER_QUEUE = "transfer_queue"
    CLOSE = "close"
    ABANDON = "abandon"
    MISS = "miss"


S, E = ChatState, ChatEvent

TRANSITIONS: dict[tuple[ChatState, ChatEvent], ChatState] = {
    (S.QUEUED, E.OFFER): S.OFFERED,
    (S.QUEUED, E.ASSIGN): S.ACTIVE,
    (S.OFFERED, E.ACCEPT): S.ACTIVE,
    (S.OFFERED, E.DECLINE): S.QUEUED,
    (S.OFFERED, E.LAPSE): S.QUEUED,
    (S.OFFERED, E.REQUEUE): S.QUEUED,
    (S.ACTIVE, E.REQUEUE): S.QUEUED,
    (S.ACTIVE, E.TRANSFER_QUEUE): S.QUEUED,
    (S.ACTIVE, E.TRANSFER_AGENT): S.ACTIVE,
    (S.QUEUED, E.CLOSE): S.CLOSED,
    (S.OFFERED, E.CLOSE): S.CLOSED,
    (S.ACTIVE, E.CLOSE): S.CLOSED,
    (S.QUEUED, E.ABANDON): S.ABANDONED,
    (S.OFFERED, E.ABANDON): S.ABANDONED,
    (S.QUEUED, E.MISS): S.MISSED,
}

INITIAL: dict[str, ChatState] = {"start": S.QUEUED, "offline_message": S.OFFLINE}
"""The state a chat is created in, by how it was created."""

TERMINAL: frozenset[ChatState] = frozenset({S.CLOSED, S.ABANDONED, S.MISSED, S.OFFLINE})
LIVE: frozenset[ChatState] = frozenset(ChatState) - TERMINAL
HOLDS_AGENT: frozenset[ChatState] = frozenset({S.OFFERED, S.ACTIVE})
"""States in which the chat occupies one unit of its agent's capacity."""


class IllegalTransition(ValueError):
    """An event was applied to a chat in a state that does not allow it."""

    def __init__(self, state: ChatState, event: ChatEvent) -> None:
        super().__init__(f"a chat that is {state.value} cannot take the event {event.value!r}")
        self.state = state
        self.event = event


def next_state(state: ChatState, event: ChatEvent) -> ChatState:
    """The state after ``event``; raises :class:`IllegalTransition` if it is not allowed."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(state, event) from None


def sources(event: ChatEvent) -> frozenset[ChatState]:
    """Every state from which ``event`` is legal."""
    return frozenset(s for (s, e) in TRANSITIONS if e is event)


def visitor_leave_event(state: ChatState) -> ChatEvent:
    """What a visitor ending the chat means: abandoned before an agent answered, else closed."""
    if state in (S.QUEUED, S.OFFERED):
        return E.ABANDON
    if state is S.ACTIVE:
        return E.CLOSE
    raise IllegalTransition(state, E.CLOSE)
