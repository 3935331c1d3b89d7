"""The objects server frames carry: the chat object, agents, notices, queue and live figures.

Fields that are sometimes absent on the wire default to ``UNSET`` (absent when encoded,
optional in the schema); ``None`` is a value that is sent (``nil``).  Every struct refuses
unknown fields, so a frame that carries something these structs do not describe fails a
strict decode (``tests/test_server_frames.py``).
"""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

ChatState = Literal["queued", "offered", "active", "closed", "abandoned", "missed", "offline"]
AgentStatus = Literal["online", "away", "offline"]
AgentRole = Literal["agent", "supervisor", "admin"]
Role = Literal["visitor", "agent"]


class View(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of the objects inside server frames."""


class AgentRef(View):
    id: str
    name: str


class Sender(View):
    """Who wrote a message or is typing (supervisors are agents)."""

    role: Role
    id: str
    name: str


class FileRef(View):
    """An attachment on a ``msg``: fetch it through ``POST /api/chats/{chat}/files/{id}/link``
    (docs/files.md).  ``type`` is sniffed from the content; images (``image/*``) may be
    shown inline."""

    id: str
    name: str
    """The name the sender gave it: show it as text only."""
    size: int
    type: str


class Reader(View):
    role: Role
    id: str


class VisitorDetails(View):
    """What the visitor gave in ``start`` (empty strings when not given); agent views only."""

    id: str
    name: str
    email: str
    page: str
    referrer: str
    locale: str
    user_agent: str
    fields: dict[str, str]


class ChatView(View):
    """The chat object (docs/protocol.md 5.1)."""

    id: str
    state: ChatState
    topic: str
    priority: int
    agent: AgentRef | None
    """The agent it is offered to or held by; after it ended, the last holder."""
    created: int
    seq: int
    """The last sequence number used in the chat (internal notes included)."""
    read: dict[str, int]
    """How far each participant (``"<role>:<id>"``) has read."""
    position: int | UnsetType = UNSET
    """State ``queued``: 1-based position in the topic queue."""
    available: bool | UnsetType = UNSET
    """State ``queued``: an agent who could take the chat is online."""
    eta_s: int | UnsetType = UNSET
    """State ``queued`` and ``available``: rough wait estimate in seconds."""
    visitor: VisitorDetails | UnsetType = UNSET
    offer_expires: int | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET
    ended_by: str | UnsetType = UNSET
    ended_by_name: str | UnsetType = UNSET
    outcome: str | UnsetType = UNSET


class AgentView(View):
    """An agent as the agent endpoint's ``welcome`` shows it."""

    id: str
    name: str
    role: AgentRole
    capacity: int
    skills: dict[str, int]
    """Skill -> proficiency (0: not stated)."""
    status: AgentStatus
    disabled: bool


class AgentLoad(AgentView):
    """An agent in the supervisors' ``queues`` snapshot."""

    load: int
    """Chats held (offered and active)."""


class Limits(View):
    max_frame_bytes: int
    max_text_chars: int
    messages_per_10s: int
    typing_interval_s: float
    typing_preview: bool
    """Typing preview is on: a visitor's ``typing`` frames may carry the draft (``text``)."""
    typing_preview_chars: int
    """Longest draft a ``typing`` frame may carry."""
    typing_preview_interval_s: float
    """At most one draft per this interval is relayed (per connection)."""
    heartbeat_s: float
    visitor_tracking: bool = False
    """Visitors on the site is on: the widget reports page views (``page`` frames)."""
    file_max_bytes: int | UnsetType = UNSET
    """Largest attachment accepted (``FILE_MAX_BYTES``)."""
    file_types: list[str] | UnsetType = UNSET
    """Attachment types accepted, as sniffed from the content (``FILE_TYPES``)."""


class AvailabilityView(View):
    """What a visitor is offered: business hours, and per topic whether an agent is on."""

    open: bool
    topics: dict[str, bool]
    agents_available: bool


class NoticeView(View):
    """An outage notice in force (``by`` is shown to agents only)."""

    id: str
    texts: dict[str, str]
    """Language -> text."""
    topics: list[str]
    """The topics it is about; empty: every topic."""
    created_at: int
    expires_at: int | None
    by: str | UnsetType = UNSET


class QueueSummary(View):
    topic: str
    waiting: int
    longest_wait_s: int
    eta_s: int


class LiveAgent(View):
    id: str
    name: str
    role: AgentRole
    status: AgentStatus
    load: int
    capacity: int
    disabled: bool
    available: bool
    in_status_s: int


class LiveChat(View):
    id: str
    state: ChatState
    topic: str
    agent: str | None
    visitor_name: str
    created: int
    accepted: int | None
    last_message_at: int | None
    waiting_for_reply: bool
    messages: int


class LiveToday(View):
    """Today's figures from the interaction records; every field absent without records."""

    offered: int | UnsetType = UNSET
    answered: int | UnsetType = UNSET
    service_level: float | UnsetType | None = UNSET
    service_level_target_s: float | UnsetType = UNSET
    avg_speed_of_answer_s: float | UnsetType | None = UNSET
    abandon_rate: float | UnsetType | None = UNSET
