"""Server frames (server -> client): one struct per ``type``, the ``ServerFrame`` union.

``docs/protocol.md`` section 5 describes each.  A field that is sometimes absent defaults
to ``UNSET``; ``rid`` is on the frames that answer a request.  ``decode_server`` is strict
(unknown fields and unknown types fail): the tests decode every frame a real server sends
with it, and clients' TypeScript types are generated from these structs
(``chatserver/protocol/schema.py``).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from chatserver.protocol.codes import ErrorCode, ProtocolError
from chatserver.protocol.views import (
    AgentLoad,
    AgentStatus,
    AgentView,
    AvailabilityView,
    ChatView,
    FileRef,
    Limits,
    LiveAgent,
    LiveChat,
    LiveToday,
    NoticeView,
    QueueSummary,
    Reader,
    Sender,
)

OptionalRid = str | UnsetType


class _Server(msgspec.Struct, tag_field="type", kw_only=True, forbid_unknown_fields=True):
    pass


class Welcome(_Server, tag="welcome"):
    """Always the first frame of a connection."""

    protocol: int
    role: Literal["visitor", "agent"]
    limits: Limits
    notices: list[NoticeView]
    visitor: str | UnsetType = UNSET
    """Visitor endpoint: the visitor id."""
    token: str | UnsetType = UNSET
    """Visitor endpoint, only for a new visitor: the token to store."""
    chat: ChatView | UnsetType | None = UNSET
    """Visitor endpoint: the visitor's open chat (visitor view), or nil."""
    resumed: str | UnsetType = UNSET
    """Visitor endpoint: the chat the handshake's ``resume``/``after`` named, when it is
    ``chat``: this connection already follows it from ``after`` (no ``resume`` needed)."""
    agents_available: bool | UnsetType = UNSET
    availability: AvailabilityView | UnsetType = UNSET
    agent: AgentView | UnsetType = UNSET
    """Agent endpoint: who is connected."""
    chats: list[ChatView] | UnsetType = UNSET
    """Agent endpoint: every chat the agent holds (agent view)."""


class ChatChanged(_Server, tag="chat"):
    """A chat's state, as the reply to ``start``/``resume``/``watch`` or when it changed."""

    chat: ChatView
    rid: OptionalRid = UNSET


class QueuePosition(_Server, tag="queue"):
    chat: str
    position: int
    available: bool
    eta_s: int | UnsetType = UNSET


class Offer(_Server, tag="offer"):
    chat: ChatView


class Assigned(_Server, tag="assigned"):
    chat: ChatView


class Revoked(_Server, tag="revoked"):
    chat: str
    reason: Literal["decline", "lapse", "requeue", "transfer_queue", "transfer"]


class Ended(_Server, tag="ended"):
    chat: str
    by: str


class StatusChanged(_Server, tag="status"):
    status: AgentStatus


class Message(_Server, tag="msg"):
    """A stored chat message: live, in replays and in ``history``."""

    chat: str
    seq: int
    cid: str
    text: str
    kind: Literal["message", "note", "whisper", "system"]
    internal: bool
    ts: int
    sender: Sender = msgspec.field(name="from")
    file: FileRef | UnsetType = UNSET
    """An attachment (``text`` is then a caption, maybe empty)."""


class Ack(_Server, tag="ack"):
    chat: str
    cid: str
    seq: int
    dup: bool
    rid: OptionalRid = UNSET


class TypingEvent(_Server, tag="typing"):
    chat: str
    sender: Sender = msgspec.field(name="from")
    on: bool
    text: str | UnsetType = UNSET
    """Typing preview (agents and supervisors only): the visitor's draft so far."""


class ReadReceipt(_Server, tag="read"):
    chat: str
    by: Reader
    seq: int


class Resync(_Server, tag="resync"):
    chat: str
    after: int


class HistoryPage(_Server, tag="history"):
    chat: str
    msgs: list[Message]
    complete: bool
    trimmed: bool
    rid: OptionalRid = UNSET


class QueuesSnapshot(_Server, tag="queues"):
    queues: list[QueueSummary]
    agents: list[AgentLoad]
    rid: OptionalRid = UNSET


class Ok(_Server, tag="ok"):
    chat: str | UnsetType = UNSET
    invite: str | UnsetType = UNSET
    """The reply to ``invite``: the invitation's id."""
    status: AgentStatus | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET
    rid: OptionalRid = UNSET


class Pong(_Server, tag="pong"):
    ts: int
    rid: OptionalRid = UNSET


class ErrorFrame(_Server, tag="error"):
    code: ErrorCode
    message: str
    rid: OptionalRid = UNSET
    chat: str | UnsetType = UNSET
    cid: str | UnsetType = UNSET
    """The refused ``msg``/``whisper``'s ``cid``."""
    retry_ms: int | UnsetType = UNSET
    """``overloaded``: resend after about this long."""
    topics: list[str] | UnsetType = UNSET
    """``unknown_topic`` from ``start``: the valid topics."""
    fields: list[str] | UnsetType = UNSET
    """``missing_fields``: the required pre-chat fields missing."""
    offline: bool | UnsetType = UNSET
    """``outside_hours``: offer the offline form."""
    notice: str | UnsetType = UNSET
    """``not_found`` for an ``offline`` frame's notice."""


class LiveFigures(_Server, tag="live"):
    """Supervisors: pushed every ``LIVE_METRICS_INTERVAL_S``."""

    ts: int
    queues: list[QueueSummary]
    agents: list[LiveAgent]
    chats: dict[str, int]
    """Live chats by state (``queued``, ``offered``, ``active``)."""
    active: list[LiveChat]
    today: LiveToday


class AvailabilityChanged(_Server, tag="availability"):
    open: bool
    topics: dict[str, bool]
    agents_available: bool


class Notice(_Server, tag="notice"):
    id: str
    texts: dict[str, str]
    topics: list[str]
    created_at: int
    expires_at: int | None
    by: str | UnsetType = UNSET


class NoticeEnd(_Server, tag="notice_end"):
    id: str


class Invitation(_Server, tag="invite"):
    """Visitors: an agent invites them to chat (answer with ``invite_answer``)."""

    id: str
    agent: str
    """The inviting agent's name."""
    text: str
    """The agent's message ('' for none)."""


class InviteAnswered(_Server, tag="invite_answer"):
    """Agents: the visitor answered their invitation."""

    invite: str
    visitor: str
    accepted: bool


ServerFrame = (
    Welcome
    | ChatChanged
    | QueuePosition
    | Offer
    | Assigned
    | Revoked
    | Ended
    | StatusChanged
    | Message
    | Ack
    | TypingEvent
    | ReadReceipt
    | Resync
    | HistoryPage
    | QueuesSnapshot
    | Ok
    | Pong
    | ErrorFrame
    | LiveFigures
    | AvailabilityChanged
    | Notice
    | NoticeEnd
    | Invitation
    | InviteAnswered
)

_server_decoder = msgspec.msgpack.Decoder(ServerFrame)
_encoder = msgspec.msgpack.Encoder()


def decode_server(data: bytes) -> ServerFrame:
    """Strictly decode a server frame (raises ``msgspec.ValidationError``)."""
    return _server_decoder.decode(data)


def encode(frame: dict[str, Any] | msgspec.Struct) -> bytes:
    """Encode a server frame (a struct above, or a plain map with ``type``)."""
    return _encoder.encode(frame)


def error_frame(exc: ProtocolError, rid: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": exc.code.value, "message": exc.message}
    if rid is not None:
        frame["rid"] = rid
    frame.update(exc.extra)
    return frame
