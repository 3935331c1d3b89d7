"""Queue positions: which of a process's waiting visitors are told a new position.

The process keeps its local queued chats (``waiting``: chat -> topic and the position
last sent, -1 for none).  A pass reads each of their topic queues once; ``ranks`` finds
each waiting chat's place, ``look_up`` the chats to read one by one (missing from their
queue, or whose visitor is not known yet), ``settle`` what to do with each of those, and
``to_send`` the positions that changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from chatserver.core.lifecycle import ChatState

QUEUED = ChatState.QUEUED.value


def ranks(
    waiting: Mapping[str, tuple[str, int]], queues: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, int]]:
    """Waiting chat -> (topic, 1-based place) for those found in a queue read."""
    found: dict[str, tuple[str, int]] = {}
    for topic, members in queues.items():
        for place, chat_id in enumerate(members, 1):
            if chat_id in waiting:
                found[chat_id] = (topic, place)
    return found


def look_up(
    waiting: Iterable[str], found: Mapping[str, object], visitor_known: Iterable[str]
) -> list[str]:
    """The waiting chats to read one by one: not in their queue, or visitor unknown."""
    known = set(visitor_known)
    return [c for c in waiting if c not in found or c not in known]


class Settle(Enum):
    VISITOR = "visitor"
    """Queued where we read it: remember its visitor."""
    MOVED = "moved"
    """Queued in another topic than we knew (transferred): read that queue next pass."""
    DROP = "drop"
    """Out of the queue (offered, active, ended): stop tracking it."""
    KEEP = "keep"
    """Out of the queue when read, but watched again meanwhile (queued again): keep."""


def settle(state: str, in_queue_read: bool, watched_at: int, mark: int) -> Settle:
    """What to do with a chat read one by one.  ``watched_at``: when it was last
    watched (a counter); ``mark``: the counter when the pass began."""
    if state == QUEUED:
        return Settle.VISITOR if in_queue_read else Settle.MOVED
    return Settle.DROP if watched_at <= mark else Settle.KEEP


@dataclass(frozen=True, slots=True)
class Update:
    chat_id: str
    topic: str
    position: int


def to_send(
    waiting: Mapping[str, tuple[str, int]], found: Mapping[str, tuple[str, int]]
) -> list[Update]:
    """The chats whose place differs from the one last sent."""
    return [
        Update(chat_id, topic, place)
        for chat_id, (topic, place) in found.items()
        if waiting.get(chat_id, ("", -1))[1] != place
    ]
