"""What the chat stores share: a chat's routing state as read (``ChatRecord``) or as an
agent was offered it (``OfferHint``), the results of the scripts that change it
(``Outcome``, ``Created``: each carries the chat's hash as it now is, so no read-back
follows), and the helpers that decode them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chatserver.core import lifecycle
from chatserver.core.lifecycle import ChatEvent, ChatState
from chatserver.store.codec import text

EVENT_LOG_MAX = 200_000
"""Entries kept in the routing event stream."""


def source_states(event: ChatEvent) -> str:
    """The states ``event`` may leave, comma-separated, as the scripts take them."""
    return ",".join(sorted(s.value for s in lifecycle.sources(event)))


@dataclass(frozen=True, slots=True)
class OfferHint:
    """What an agent was told of a chat offered to them (the ``offer`` frame's chat): its
    topic, priority and creation time.  A decline passes it so that ``Routing.requeue``
    builds the script's keys and score without reading the chat first; ``requeue.lua``
    checks it against the chat and answers 'retry' when the chat differs (then it is
    read)."""

    topic: str
    priority: int
    created_ms: int


@dataclass(frozen=True)
class ChatRecord:
    """A chat's routing state as stored in its hash."""

    id: str
    state: ChatState
    visitor: str
    topic: str
    priority: int
    agent: str
    created_ms: int
    queued_at_ms: int
    details: Mapping[str, Any]
    raw: Mapping[str, str]

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state.value,
            "topic": self.topic,
            "priority": self.priority,
            "agent": self.agent or None,
            "created": self.created_ms,
        }


def chat_record(chat_id: str, raw: Mapping[Any, Any]) -> ChatRecord | None:
    """A chat's hash as read from Redis (None when there is no such chat)."""
    data = {text(k): text(v) for k, v in raw.items()}
    if not data.get("state"):
        return None
    try:
        details = json.loads(data.get("details") or "{}")
    except ValueError:
        details = {}
    return ChatRecord(
        id=chat_id,
        state=ChatState(data["state"]),
        visitor=data.get("visitor", ""),
        topic=data.get("topic", ""),
        priority=int(data.get("priority", 0)),
        agent=data.get("agent", ""),
        created_ms=int(data.get("created", 0)),
        queued_at_ms=int(data.get("queued_at", 0)),
        details=details,
        raw=data,
    )


@dataclass(frozen=True)
class Outcome:
    ok: bool
    reason: str
    agent: str = ""
    topic: str = ""
    visitor: str = ""
    chat: Mapping[str, str] = field(default_factory=dict)
    """The chat's hash after the change (empty when refused): its view needs no read."""
    position: int = 0
    """Queued: its 1-based place in its queue."""
    handle_s: float | None = None
    """Queued: its topic's average handle time (None before the first handled chat)."""


@dataclass(frozen=True)
class Created:
    created: bool
    chat_id: str
    """The new chat, or the visitor's open one (not created)."""
    chat: Mapping[str, str] = field(default_factory=dict)
    position: int = 0
    handle_s: float | None = None


def flat_hash(flat: Sequence[Any]) -> dict[str, str]:
    """A flat HGETALL reply (as scripts return it) as a dict."""
    return {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def seconds_or_none(value: Any) -> float | None:
    raw = text(value)
    return float(raw) if raw else None
