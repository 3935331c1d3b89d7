"""Which user action the current task serves: the label the round-trip counts use.

A test hook, free when unused.  The issue-11 tests count each user action's Redis round
trips (``tests/test_i11_round_trips.py``); to tell an action's round trips from those of
the background loops running meanwhile (heartbeat, drainer, positions, timers, fan-out),
every action runs with a label in ``ACTION``, a context variable: set by the session
around each frame it handles and by the socket endpoints around a handshake, inherited by
the tasks the action starts itself, never by the loops (they were started before).  A
socket's handshake (to its welcome) is the action ``connect``; its end ``disconnect``.

The clients show each group of commands to an observer, when one is attached
(``Multiplexer.observer``, ``Fanout.observer``), in the caller's task, where it reads the
label; the sessions set the label only once an observer was attached in this process
(``watching``).  In production neither happens, and the cost is one global read per frame
and one attribute test per group of commands.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import NamedTuple


class Action(NamedTuple):
    """One user action: ``kind`` is the frame type (``msg``, ``start``, ...), or
    ``connect`` (a socket's handshake up to and with its welcome) or ``disconnect``;
    ``who`` the participant (``visitor:<id>``, ``agent:<id>``); ``ref`` the frame's
    ``rid`` (else its ``cid``, else '')."""

    kind: str
    who: str
    ref: str = ""


ACTION: ContextVar[Action | None] = ContextVar("chatserver_action", default=None)

_watching = False


def watch() -> None:
    """An observer was attached in this process: label every action from now on."""
    global _watching
    _watching = True


def watching() -> bool:
    return _watching


def label(action: Action) -> Token[Action | None] | None:
    """Label the current task with ``action`` when someone watches (else nothing, and
    None); pass the result to ``unlabel``."""
    return ACTION.set(action) if _watching else None


def unlabel(token: Token[Action | None] | None) -> None:
    if token is not None:
        ACTION.reset(token)
