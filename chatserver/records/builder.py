"""Turning a finished chat's raw state into an interaction record.  Pure: no I/O.

Inputs are what Redis holds when the chat ends: the chat hash, its history list
(``kind|ms|agent|detail`` entries written by the routing scripts) and its message log.
Every time in the record is a raw event time in milliseconds since the Unix epoch; the
metrics are computed from these, so a metric's definition can change without losing
history.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chatserver.core.routing import decode_skills

END_STATES = ("closed", "abandoned", "missed", "offline")


@dataclass(frozen=True)
class Event:
    kind: str
    """created, offer, assign, accept, decline, lapse, requeue, transfer_queue, transfer,
    relax, end."""
    at: int
    agent: str = ""
    detail: str = ""
    result: str = ""
    """For offers: accepted, declined, lapsed, withdrawn (agent left, visitor left)."""


@dataclass(frozen=True)
class AgentSpan:
    agent_id: str
    joined_at: int
    left_at: int | None
    left_reason: str = ""


@dataclass(frozen=True)
class Transfer:
    """One hand-over of the chat: to an agent (``to_agent``) or to a queue (``to_topic``)."""

    at: int
    from_agent: str
    to_agent: str
    to_topic: str
    by: str
    """Who transferred it: ``agent:<id>`` or ``supervisor:<id>``."""
    note: str


@dataclass(frozen=True)
class Message:
    seq: int
    at: int
    sender_role: str
    sender_id: str
    sender_name: str
    kind: str
    internal: bool
    text: str
    file: Mapping[str, Any] | None = None
    """An attachment: ``{id, name, size, type}``."""


@dataclass(frozen=True)
class InteractionRecord:
    chat_id: str
    visitor_id: str
    visitor_name: str
    visitor_email: str
    page_url: str
    referrer: str
    locale: str
    user_agent: str
    topic: str
    required_skills: Mapping[str, int]
    optional_skills: Mapping[str, int]
    priority: int
    end_state: str
    ended_by: str
    outcome: str
    tags: Sequence[str]
    rating: int | None
    rating_comment: str
    created_at: int
    queued_at: int | None
    first_offer_at: int | None
    accepted_at: int | None
    first_agent_reply_at: int | None
    ended_at: int
    agent_id: str
    """The agent who held the chat last ('' if none ever did)."""
    agents: Sequence[AgentSpan] = field(default_factory=tuple)
    events: Sequence[Event] = field(default_factory=tuple)
    messages: Sequence[Message] = field(default_factory=tuple)
    fields: Mapping[str, str] = field(default_factory=dict)
    transfers: Sequence[Transfer] = field(default_factory=tuple)
    nps: int | None = None
    """The visitor's answer to "how likely are you to recommend us?", 0-10 (None: not
    asked or not answered)."""
    notices: Sequence[str] = field(default_factory=tuple)
    """Ids of the outage notices the visitor was shown, sorted."""

    @property
    def transcript_text(self) -> str:
        """Searchable text: every message, internal ones included (agents search them)."""
        return "\n".join(
            f"{m.text} {m.file.get('name', '')}" if m.file else m.text for m in self.messages
        )

    def as_dict(self, *, internal: bool = True) -> dict[str, Any]:
        """JSON-ready; ``internal=False`` leaves out notes and whispers."""
        return {
            "chat_id": self.chat_id,
            "visitor": {
                "id": self.visitor_id,
                "name": self.visitor_name,
                "email": self.visitor_email,
                "page_url": self.page_url,
                "referrer": self.referrer,
                "locale": self.locale,
                "user_agent": self.user_agent,
                "fields": dict(self.fields),
            },
            "topic": self.topic,
            "required_skills": dict(self.required_skills),
            "optional_skills": dict(self.optional_skills),
            "priority": self.priority,
            "end_state": self.end_state,
            "ended_by": self.ended_by,
            "outcome": self.outcome,
            "tags": list(self.tags),
            "rating": self.rating,
            "rating_comment": self.rating_comment,
            "nps": self.nps,
            "notices": list(self.notices),
            "created_at": self.created_at,
            "queued_at": self.queued_at,
            "first_offer_at": self.first_offer_at,
            "accepted_at": self.accepted_at,
            "first_agent_reply_at": self.first_agent_reply_at,
            "ended_at": self.ended_at,
            "agent_id": self.agent_id or None,
            "agents": [
                {
                    "agent_id": a.agent_id,
                    "joined_at": a.joined_at,
                    "left_at": a.left_at,
                    "left_reason": a.left_reason,
                }
                for a in self.agents
            ],
            "events": [
                {
                    "kind": e.kind,
                    "at": e.at,
                    "agent_id": e.agent or None,
                    "detail": e.detail,
                    "result": e.result or None,
                }
                for e in self.events
            ],
            "transfers": [transfer_dict(t) for t in self.transfers],
            "messages": [
                {
                    "seq": m.seq,
                    "at": m.at,
                    "sender_role": m.sender_role,
                    "sender_id": m.sender_id,
                    "sender_name": m.sender_name,
                    "kind": m.kind,
                    "internal": m.internal,
                    "text": m.text,
                    "file": dict(m.file) if m.file else None,
                }
                for m in self.messages
                if internal or not m.internal
            ],
        }


def transfer_dict(t: Transfer) -> dict[str, Any]:
    return {
        "at": t.at,
        "from": t.from_agent or None,
        "to": t.to_agent or None,
        "topic": t.to_topic or None,
        "by": t.by,
        "note": t.note,
    }


class RecordError(ValueError):
    """The chat's state cannot make a record (it has not ended)."""


def parse_transfers(entries: Sequence[str]) -> list[Transfer]:
    """The ``handoff|ms|by|{json}`` entries the transfer scripts write -> the trace."""
    out: list[Transfer] = []
    for raw in entries:
        kind, at, by, detail = [*raw.split("|", 3), "", "", ""][:4]
        if kind != "handoff":
            continue
        try:
            data = json.loads(detail or "{}")
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        out.append(
            Transfer(
                at=int(at or 0),
                from_agent=str(data.get("from") or ""),
                to_agent=str(data.get("to") or ""),
                to_topic=str(data.get("topic") or ""),
                by=by,
                note=str(data.get("note") or ""),
            )
        )
    return out


def parse_history(entries: Sequence[str]) -> list[Event]:
    """``kind|ms|agent|detail`` entries -> events, each offer with its result.  The
    ``handoff`` entries are the transfer trace (:func:`parse_transfers`), not events."""
    events: list[Event] = []
    for raw in entries:
        kind, at, agent, detail = [*raw.split("|", 3), "", "", ""][:4]
        if kind == "handoff":
            continue
        events.append(Event(kind=kind, at=int(at or 0), agent=agent, detail=detail))
    # an offer's result is what happened next to that agent and chat
    resolved: list[Event] = []
    open_offer: int | None = None
    for e in events:
        if e.kind == "offer":
            open_offer = len(resolved)
        elif open_offer is not None and e.kind in ("accept", "decline", "lapse", "requeue", "end"):
            result = {
                "accept": "accepted",
                "decline": "declined",
                "lapse": "lapsed",
                "requeue": "withdrawn",
                "end": "withdrawn",
            }[e.kind]
            offer = resolved[open_offer]
            resolved[open_offer] = Event(offer.kind, offer.at, offer.agent, offer.detail, result)
            open_offer = None
        resolved.append(e)
    if open_offer is not None:
        offer = resolved[open_offer]
        resolved[open_offer] = Event(offer.kind, offer.at, offer.agent, offer.detail, "withdrawn")
    return resolved


def agent_spans(events: Sequence[Event]) -> list[AgentSpan]:
    """When each agent held the chat (from accept or direct assignment until released)."""
    spans: list[AgentSpan] = []
    current: tuple[str, int] | None = None

    def close(at: int, reason: str) -> None:
        nonlocal current
        if current is not None:
            spans.append(AgentSpan(current[0], current[1], at, reason))
            current = None

    for e in events:
        if e.kind in ("accept", "assign"):
            close(e.at, "replaced")
            current = (e.agent, e.at)
        elif e.kind in ("requeue", "transfer_queue") and current and e.agent == current[0]:
            close(e.at, e.kind)
        elif e.kind == "transfer" and current:
            close(e.at, "transfer")
            current = (e.detail, e.at)
        elif e.kind == "end":
            close(e.at, "end")
    if current is not None:
        spans.append(AgentSpan(current[0], current[1], None, ""))
    return spans


def parse_message(frame: Mapping[str, Any]) -> Message:
    sender = frame.get("from") or {}
    return Message(
        seq=int(frame["seq"]),
        at=int(frame.get("ts", 0)),
        sender_role=str(sender.get("role", "")),
        sender_id=str(sender.get("id", "")),
        sender_name=str(sender.get("name", "")),
        kind=str(frame.get("kind", "message")),
        internal=bool(frame.get("internal", False)),
        text=str(frame.get("text", "")),
        file=_file(frame.get("file")),
    )


def _file(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    return {
        "id": str(value.get("id", "")),
        "name": str(value.get("name", "")),
        "size": int(value.get("size") or 0),
        "type": str(value.get("type", "")),
    }


def build_record(
    chat: Mapping[str, str],
    history: Sequence[str],
    messages: Sequence[Mapping[str, Any]],
    notices: Iterable[str] = (),
) -> InteractionRecord:
    """Make the record of a finished chat.  Raises :class:`RecordError` if it is live."""
    state = chat.get("state", "")
    if state not in END_STATES:
        raise RecordError(f"chat {chat.get('id')!r} has not ended (state {state!r})")
    events = parse_history(history)
    msgs = sorted((parse_message(m) for m in messages), key=lambda m: m.seq)
    try:
        details = json.loads(chat.get("details") or "{}")
    except ValueError:
        details = {}
    try:
        tags = [str(t) for t in json.loads(chat.get("tags") or "[]")]
    except ValueError:
        tags = []

    accepted = next((e.at for e in events if e.kind in ("accept", "assign")), None)
    created = int(chat.get("created") or (events[0].at if events else 0))
    ended = int(chat.get("ended_at") or (events[-1].at if events else created))
    first_reply = next(
        (m.at for m in msgs if m.sender_role == "agent" and m.kind == "message" and not m.internal),
        None,
    )
    spans = agent_spans(events)
    rating = chat.get("rating")
    nps = chat.get("nps")
    return InteractionRecord(
        chat_id=chat.get("id", ""),
        visitor_id=chat.get("visitor", ""),
        visitor_name=str(details.get("name", "")),
        visitor_email=str(details.get("email", "")),
        page_url=str(details.get("page", "")),
        referrer=str(details.get("referrer", "")),
        locale=str(details.get("locale", "")),
        user_agent=str(details.get("user_agent", "")),
        fields={str(k): str(v) for k, v in (details.get("fields") or {}).items()},
        topic=chat.get("topic", ""),
        required_skills=decode_skills(chat.get("req", "")),
        optional_skills=decode_skills(chat.get("opt", "")),
        priority=int(chat.get("priority") or 0),
        end_state=state,
        ended_by=chat.get("ended_by", ""),
        outcome=chat.get("outcome", ""),
        tags=tags,
        rating=int(rating) if rating else None,
        rating_comment=chat.get("rating_comment", ""),
        created_at=created,
        queued_at=created if state != "offline" else None,
        first_offer_at=next((e.at for e in events if e.kind in ("offer", "assign")), None),
        accepted_at=accepted,
        first_agent_reply_at=first_reply,
        ended_at=ended,
        agent_id=spans[-1].agent_id if spans else "",
        agents=spans,
        events=events,
        messages=msgs,
        transfers=parse_transfers(history),
        nps=int(nps) if nps not in (None, "") else None,
        notices=tuple(sorted(set(notices))),
    )
