"""Visitor presence: when a visitor counts as gone, and what that does to their chat.

A visitor is present while at least one of their sockets, on any process, is alive.  Each
socket is a *connection* with an expiry: opening it sets the expiry to ``now + ttl``, and
its process's heartbeat pushes the expiry on while it stays open.  A connection ends when
its socket closes (the process says so at once) or, if its process died without saying so
(``kill -9``, a host lost), when its expiry passes.

The visitor has *left* at the moment their last connection ended: the close, or the expiry
of a connection whose process stopped heartbeating.  They count as **gone** once
``grace`` has passed since then with no connection opened again::

    gone_at = left_at + grace         (none while a connection is alive)

So a visitor whose last tab closed is gone ``grace`` after the close, on whichever process
it was; one whose process was killed is gone at most ``ttl + grace`` after the kill.

Nobody can reconnect while nothing serves: after an outage (no process ran the timers for
longer than the presence TTL), a visitor who left before or during it counts as gone no
sooner than ``grace`` after the timers resumed (:func:`gone_after_outage`).

What a gone visitor's chat becomes depends only on its state at that moment, whatever
states it went through before (:func:`end_for_gone_visitor`): still waiting (queued or
offered) it is ``abandoned``; held by an agent (active) it is ``closed``; both with the
outcome ``visitor_left``.  An ended chat is left alone.

This module is the rule, pure.  ``lua/visitor_*.lua`` keep the same state in Redis
(connections per visitor in a sorted set, the due time of each gone visitor in another)
and ``close_chat.lua`` checks, in the step that ends the chat, that the visitor has no live
connection; ``tests/test_i9_visitor_presence.py`` checks the scripts against this model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from chatserver.core.lifecycle import ChatEvent, ChatState

VISITOR_LEFT = "visitor_left"
"""The outcome of a chat ended because its visitor left."""


@dataclass(frozen=True)
class VisitorPresence:
    """One visitor's connections and, when none is open, when the last one ended."""

    conns: Mapping[str, int] = field(default_factory=dict)
    """Connection id -> expiry (ms).  Entries past their expiry are ended connections the
    sweeper has not removed yet."""
    left_at: int | None = None
    """When the last connection was closed (None: never, or one was opened since)."""

    def live(self, now: int) -> dict[str, int]:
        """The connections alive at ``now``."""
        return {c: e for c, e in self.conns.items() if e > now}

    def last_seen(self, now: int) -> int | None:
        """When the visitor left: None while a connection is alive (or they never had
        one), else the latest of the last close and the expiries of dead connections."""
        if self.live(now):
            return None
        ends = [*self.conns.values(), *([self.left_at] if self.left_at is not None else [])]
        return max(ends) if ends else None

    def gone_at(self, now: int, grace_ms: int) -> int | None:
        """When the visitor counts as gone (None: present, or never connected)."""
        seen = self.last_seen(now)
        return None if seen is None else seen + grace_ms

    def is_gone(self, now: int, grace_ms: int) -> bool:
        due = self.gone_at(now, grace_ms)
        return due is not None and due <= now


def connect(p: VisitorPresence, conn_id: str, now: int, ttl_ms: int) -> VisitorPresence:
    """A socket opened: the visitor is present again, whatever happened before."""
    return VisitorPresence({**p.live(now), conn_id: now + ttl_ms}, None)


def heartbeat(
    p: VisitorPresence, conn_ids: Iterable[str], now: int, ttl_ms: int
) -> VisitorPresence:
    """A process says these sockets are still open.  One dropped by the sweeper while the
    process stalled comes back: it was alive all along."""
    ids = list(conn_ids)
    if not ids:
        return p
    conns = dict(p.conns)
    conns.update({c: now + ttl_ms for c in ids})
    return VisitorPresence(conns, None)


def disconnect(p: VisitorPresence, conn_id: str, now: int) -> VisitorPresence:
    """A socket closed.  With none other alive, the visitor left now."""
    conns = {c: e for c, e in p.live(now).items() if c != conn_id}
    if conns:
        return VisitorPresence(conns, p.left_at)
    return VisitorPresence({}, max(now, p.last_seen(now) or now))


def sweep(p: VisitorPresence, now: int) -> VisitorPresence:
    """Drop connections past their expiry (their process died); with none alive, the
    visitor left when the last of them expired."""
    live = p.live(now)
    if len(live) == len(p.conns):
        return p
    if live:
        return replace(p, conns=live)
    return VisitorPresence({}, p.last_seen(now))


def gone_after_outage(gone_at: int, resumed_at: int, grace_ms: int) -> int:
    """When a visitor due to count as gone at ``gone_at`` is ended, the timers having
    resumed at ``resumed_at`` after an outage: the time they could not reconnect does not
    count."""
    return max(gone_at, resumed_at + grace_ms)


def end_for_gone_visitor(state: ChatState) -> tuple[ChatEvent, str] | None:
    """How the chat of a visitor who is gone ends, by its state now: ``(event, outcome)``,
    or None when it has ended already.  Which states it passed through does not matter
    (a chat that was active, then re-queued when its agent left, is abandoned)."""
    if state in (ChatState.QUEUED, ChatState.OFFERED):
        return ChatEvent.ABANDON, VISITOR_LEFT
    if state is ChatState.ACTIVE:
        return ChatEvent.CLOSE, VISITOR_LEFT
    return None
