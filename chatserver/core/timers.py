"""Timers: what is due in, what to do out.

The timers' shell (``hub/jobs.py``) reads what is due (``RoutingStore.due``) and, for idle
chats, when each last had a message; ``actions`` decides, in a fixed order: offers that
lapsed, relaxations, chats nobody took in time (missed), idle chats (closed, or their
deadline moved to the last message + the idle timeout), agents whose presence expired,
and agents whose grace period ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Do(StrEnum):
    LAPSE = "lapse"
    """The offer was not answered in time: requeue the chat (the agent goes away)."""
    RELAX = "relax"
    """Drop the chat's optional skills (then route again)."""
    MISS = "miss"
    """Nobody took the chat in time: end it as missed."""
    TIME_OUT = "time_out"
    """No message for the idle timeout: close the chat (outcome ``timeout``)."""
    RESCHEDULE_IDLE = "reschedule_idle"
    """A message came since: check the chat again at ``at_ms``."""
    SWEEP_PRESENCE = "sweep_presence"
    """An agent's connection expired (its process died): sweep their presence."""
    END_GRACE = "end_grace"
    """An agent's grace period ended: sweep, and requeue their chats if now offline."""


@dataclass(frozen=True, slots=True)
class Due:
    offers: Sequence[str] = ()
    relax: Sequence[str] = ()
    missed: Sequence[str] = ()
    idle: Mapping[str, int] = field(default_factory=dict)
    """Idle chat -> when its last message was (ms; 0: none)."""
    presence: Sequence[str] = ()
    graces: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Action:
    do: Do
    target: str
    """A chat id, or an agent id for presence and grace."""
    at_ms: int = 0
    """For ``RESCHEDULE_IDLE``: the new deadline."""


def idle_deadline(last_message_ms: int, idle_timeout_ms: int) -> int:
    """When a chat whose last message was at ``last_message_ms`` becomes idle (0: the
    chat has no message: it is idle already)."""
    return last_message_ms + idle_timeout_ms if last_message_ms else 0


def actions(due: Due, now_ms: int, idle_timeout_ms: int) -> list[Action]:
    """One action per due item, in the order they are carried out."""
    out = [Action(Do.LAPSE, c) for c in due.offers]
    out += [Action(Do.RELAX, c) for c in due.relax]
    out += [Action(Do.MISS, c) for c in due.missed]
    for chat_id, last in due.idle.items():
        deadline = idle_deadline(last, idle_timeout_ms)
        if deadline > now_ms:
            out.append(Action(Do.RESCHEDULE_IDLE, chat_id, deadline))
        else:
            out.append(Action(Do.TIME_OUT, chat_id))
    out += [Action(Do.SWEEP_PRESENCE, a) for a in due.presence]
    out += [Action(Do.END_GRACE, a) for a in due.graces]
    return out
