"""The agent presence state machine: an agent's status, their console connections, the
offline grace period, and whether they receive chats (are *available*).

::

    (unset) = offline --connect--> online            away --connect--> away
    any --go_online / go_away / go_offline--> online / away / offline   (the agent says)
    any --lapse--> away           (an offer they let lapse: not responding)
    any --grace_end--> offline    (no connection for the whole grace period)

Connections are counted apart from the status: an agent may be ``online`` with no
connection while their grace period runs (they keep their chats, they receive none).
Several tabs are one agent.  A connection ends when its console closes (``disconnect``)
or, when its process died, when its expiry passes (``expire``, the sweeper); a process
that stalled past the expiry brings it back with its ``heartbeat``.  With no connection
left, the grace period starts; a connection ends it; at its end the agent goes offline
and their chats are re-queued (``hub/node.py``).

The agent is **available** (in the available set the router draws from) exactly when
:func:`receives_chats`: status ``online``, not disabled, at least one live connection.

The status changes are the table :data:`TRANSITIONS`.  ``lua/agent_*.lua`` keep this
state in Redis (the agent hash, a sorted set of connections, the graces and available
sets); they receive the rules from here through ARGV (:func:`lua_rules`), the way chat
transitions come from ``core/lifecycle.py``.  :class:`AgentPresence` and the functions
below are the model they follow, step for step; ``tests/core/test_agent_presence.py``
checks its invariants.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum


class AgentStatus(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class PresenceEvent(StrEnum):
    CONNECT = "connect"
    GO_ONLINE = "go_online"
    GO_AWAY = "go_away"
    GO_OFFLINE = "go_offline"
    LAPSE = "lapse"
    GRACE_END = "grace_end"


S, E = AgentStatus, PresenceEvent

UNSET = S.OFFLINE
"""The status of an agent whose record has none yet (never connected)."""

RECEIVES: frozenset[AgentStatus] = frozenset({S.ONLINE})
"""The statuses in which a connected, enabled agent is offered chats."""

HOLDS_NO_CHATS: frozenset[AgentStatus] = frozenset({S.OFFLINE})
"""The statuses in which an agent keeps no chat: entering one (by their own word, or at
the end of the grace period) hands their chats back to the queues."""

SAYS: dict[AgentStatus, PresenceEvent] = {
    S.ONLINE: E.GO_ONLINE,
    S.AWAY: E.GO_AWAY,
    S.OFFLINE: E.GO_OFFLINE,
}
"""The event of an agent setting their own status."""

TRANSITIONS: dict[tuple[AgentStatus, PresenceEvent], AgentStatus] = {
    (S.OFFLINE, E.CONNECT): S.ONLINE,
    (S.ONLINE, E.CONNECT): S.ONLINE,
    (S.AWAY, E.CONNECT): S.AWAY,
    **{(s, SAYS[t]): t for s in AgentStatus for t in AgentStatus},
    **{(s, E.LAPSE): S.AWAY for s in AgentStatus},
    **{(s, E.GRACE_END): S.OFFLINE for s in AgentStatus},
}
"""Every event is allowed in every status: the table says what it becomes."""


def status_of(raw: str | None) -> AgentStatus:
    """The status stored in an agent record ('' or None: :data:`UNSET`)."""
    return AgentStatus(raw) if raw else UNSET


def next_status(status: AgentStatus, event: PresenceEvent) -> AgentStatus:
    return TRANSITIONS[(status, event)]


def changes(event: PresenceEvent) -> dict[AgentStatus, AgentStatus]:
    """The statuses ``event`` changes, and to what."""
    return {s: t for (s, e), t in TRANSITIONS.items() if e is event and t is not s}


def receives_chats(status: AgentStatus, disabled: bool, connected: bool) -> bool:
    """Whether the agent is available: offered chats by the router."""
    return status in RECEIVES and not disabled and connected


def _set(statuses: Iterable[AgentStatus]) -> str:
    return ",".join(sorted(s.value for s in statuses))


def lua_rules() -> dict[str, str]:
    """The rules the scripts need, by ARGV name (see ``store/routing.py``):

    - ``unset``: the status of an agent record without one;
    - ``receives``: statuses in which a connected, enabled agent is available (comma list);
    - ``connect_from`` / ``connect_to``: the statuses a connect changes, and to what;
    - ``grace_to``: the status at the end of the grace period.
    """
    connect = changes(E.CONNECT)
    (connect_to,) = set(connect.values())
    (grace_to,) = {TRANSITIONS[(s, E.GRACE_END)] for s in AgentStatus}
    return {
        "unset": UNSET.value,
        "receives": _set(RECEIVES),
        "connect_from": _set(connect),
        "connect_to": connect_to.value,
        "grace_to": grace_to.value,
    }


# ---- the model ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AgentPresence:
    """One agent as the scripts keep them."""

    status: AgentStatus = UNSET
    disabled: bool = False
    conns: frozenset[str] = frozenset()
    """Live connections (one per console tab, on any process)."""
    grace: bool = False
    """The grace period runs (no connection; it ends in ``grace_end``)."""
    available: bool = False
    """In the available set."""


def _settle(p: AgentPresence) -> AgentPresence:
    return replace(p, available=receives_chats(p.status, p.disabled, bool(p.conns)))


def connect(p: AgentPresence, conn: str) -> tuple[AgentPresence, bool]:
    """A console connected (``agent_connect.lua``).  Returns the agent and whether the
    connection is accepted: a disabled agent's is refused, and nothing changes."""
    if p.disabled:
        return p, False
    status = next_status(p.status, E.CONNECT)
    return _settle(replace(p, status=status, conns=p.conns | {conn}, grace=False)), True


def disconnect(p: AgentPresence, conn: str) -> AgentPresence:
    """A console closed (``agent_disconnect.lua``): with none left, the agent stops
    receiving chats and the grace period starts (a running one keeps its end)."""
    conns = p.conns - {conn}
    if conns:
        return replace(p, conns=conns)
    return replace(p, conns=conns, grace=True, available=False)


def heartbeat(p: AgentPresence, conns: Iterable[str]) -> AgentPresence:
    """A process says these connections live (``agent_heartbeat.lua``): ones the sweeper
    dropped during a stall come back, and so does availability, while the status says so."""
    ids = frozenset(conns)
    if not ids:
        return p
    return _settle(replace(p, conns=p.conns | ids, grace=False))


def set_status(p: AgentPresence, status: AgentStatus) -> AgentPresence:
    """The agent sets their status (``agent_status.lua``)."""
    return _settle(replace(p, status=next_status(p.status, SAYS[status])))


def lapse(p: AgentPresence) -> AgentPresence:
    """An offer lapsed unanswered (``requeue.lua``): the agent is set away."""
    return _settle(replace(p, status=next_status(p.status, E.LAPSE)))


def disable(p: AgentPresence) -> AgentPresence:
    """An admin disabled the agent (``store/directory.py``)."""
    return replace(p, disabled=True, available=False)


def expire(p: AgentPresence, conns: Iterable[str]) -> AgentPresence:
    """The sweeper found these connections past their expiry (``agent_sweep.lua``):
    with none left alive the agent is unavailable and the grace period starts."""
    left = p.conns - frozenset(conns)
    if left:
        return replace(p, conns=left, grace=False)
    return replace(p, conns=left, grace=True, available=False)


def grace_end(p: AgentPresence) -> AgentPresence:
    """The grace period ended (``agent_sweep.lua`` with the grace due): an agent with no
    connection goes offline; one who came back is left as they are."""
    if p.conns:
        return replace(p, grace=False)
    return replace(p, status=next_status(p.status, E.GRACE_END), grace=False, available=False)
