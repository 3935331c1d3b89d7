"""The wire protocol: typed client frames, strict decoding, error and close codes.

Frames are msgpack maps with a ``type`` string.  Client frames are decoded straight into
the typed structs below (``msgspec`` rejects wrong types, bytes where text is expected,
ext values, non-string keys, trailing bytes and truncated input); anything that does not
decode gets an ``error`` frame with code ``bad_frame`` and the connection stays open.
``docs/protocol.md`` is the reference for every frame.

Every client frame may carry ``rid`` (a request id, up to 64 characters); the direct reply
to it (``ok``, ``error`` or a typed answer) echoes it.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal

import msgspec

PROTOCOL_VERSION = 1

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Rid = Annotated[str, msgspec.Meta(max_length=64)] | None
Short = Annotated[str, msgspec.Meta(max_length=256)]
Url = Annotated[str, msgspec.Meta(max_length=2048)]
Text = Annotated[str, msgspec.Meta(max_length=100_000)]  # the real limit is a setting
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class ErrorCode(StrEnum):
    BAD_FRAME = "bad_frame"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    INVALID_STATE = "invalid_state"
    CHAT_OPEN = "chat_open"
    UNKNOWN_TOPIC = "unknown_topic"
    AGENT_UNAVAILABLE = "agent_unavailable"
    OUTSIDE_HOURS = "outside_hours"
    """``start`` outside business hours: offer the offline form (``offline`` frame)."""
    MISSING_FIELDS = "missing_fields"
    """``start`` without a required pre-chat field (``fields`` names them)."""
    INTERNAL = "internal"
    OVERLOADED = "overloaded"
    """Storage did not answer in time (Redis unavailable, its connection pool exhausted,
    the action's deadline passed); the error carries ``retry_ms``: resend the same frame
    (a ``msg`` with the same ``cid``) after about that long."""


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    """The server is shutting down: reconnect (to another process)."""
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    TRY_AGAIN = 1013
    """The connection fell too far behind (slow consumer): reconnect and resume."""
    UNAUTHORIZED = 4401
    """Credentials revoked (agent disabled, password changed, logged out): do not retry."""
    TOO_MANY = 4409
    """Too many connections for this visitor: do not retry at once."""
    FLOODING = 4429
    """Too many frames: back off, then reconnect."""


class ProtocolError(Exception):
    """A client frame was refused; becomes an ``error`` frame on the wire."""

    def __init__(self, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


# ---- frames both roles send -------------------------------------------------------------
class _Frame(msgspec.Struct, tag_field="type", kw_only=True):
    rid: Rid = None


class Ping(_Frame, tag="ping"):
    pass


class Send(_Frame, tag="msg"):
    chat: Id
    cid: Id
    text: Text
    internal: bool = False
    """Agents only: a private note that visitors never see."""


class Typing(_Frame, tag="typing"):
    chat: Id
    on: bool = True


class Read(_Frame, tag="read"):
    chat: Id
    seq: Seq


class Resume(_Frame, tag="resume"):
    chat: Id
    after: Seq


class History(_Frame, tag="history"):
    chat: Id
    before: Seq | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100


# ---- visitor frames ---------------------------------------------------------------------
class Start(_Frame, tag="start"):
    topic: Short | None = None
    name: Short | None = None
    email: Short | None = None
    page: Url | None = None
    referrer: Url | None = None
    locale: Annotated[str, msgspec.Meta(max_length=35)] | None = None
    fields: Annotated[dict[Tag, Short], msgspec.Meta(max_length=20)] = {}


class Leave(_Frame, tag="leave"):
    chat: Id


class Rate(_Frame, tag="rate"):
    """The post-chat survey: after the chat ended, 1-5, an optional comment and, when the
    widget asks it (the ``nps_question`` widget setting), the optional "how likely are you
    to recommend us?" answer, 0-10."""

    chat: Id
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    nps: Annotated[int, msgspec.Meta(ge=0, le=10)] | None = None


class Offline(_Frame, tag="offline"):
    """A message left when nobody can answer; becomes an interaction record."""

    email: Annotated[str, msgspec.Meta(min_length=3, max_length=256)]
    text: Text
    name: Short | None = None
    topic: Short | None = None
    page: Url | None = None
    locale: Annotated[str, msgspec.Meta(max_length=35)] | None = None
    notice: Short | None = None
    """An outage notice in force: "email me when this is resolved" (linked to it)."""


# ---- agent frames -----------------------------------------------------------------------
class Status(_Frame, tag="status"):
    status: Literal["online", "away", "offline"]


class Accept(_Frame, tag="accept"):
    chat: Id


class Decline(_Frame, tag="decline"):
    chat: Id


class Transfer(_Frame, tag="transfer"):
    chat: Id
    agent: Id | None = None
    topic: Short | None = None
    note: Annotated[str, msgspec.Meta(max_length=4000)] = ""


class Close(_Frame, tag="close"):
    chat: Id
    outcome: Short = "resolved"
    tags: Annotated[list[Tag], msgspec.Meta(max_length=50)] = []


class Tags(_Frame, tag="tags"):
    """Replace a live chat's tags (its agent, or a supervisor): they stay with the chat
    through transfers and end up in its record."""

    chat: Id
    tags: Annotated[list[Tag], msgspec.Meta(max_length=50)] = []


class Watch(_Frame, tag="watch"):
    """Supervisors: follow a live chat read-only."""

    chat: Id


class Unwatch(_Frame, tag="unwatch"):
    chat: Id


class Join(_Frame, tag="join"):
    """Supervisors: join a live chat as a participant (the visitor sees them join)."""

    chat: Id


class Whisper(_Frame, tag="whisper"):
    """Supervisors: a message to the chat's agent that the visitor never sees."""

    chat: Id
    cid: Id
    text: Text


class Queues(_Frame, tag="queues"):
    """Supervisors: ask for a snapshot of queues and agents."""


CommonFrame = Ping | Send | Typing | Read | Resume | History
VisitorFrame = CommonFrame | Start | Leave | Rate | Offline
AgentFrame = (
    CommonFrame
    | Status
    | Accept
    | Decline
    | Transfer
    | Close
    | Tags
    | Watch
    | Unwatch
    | Join
    | Whisper
    | Queues
)

_visitor_decoder = msgspec.msgpack.Decoder(VisitorFrame)
_agent_decoder = msgspec.msgpack.Decoder(AgentFrame)
_encoder = msgspec.msgpack.Encoder()


def decode_visitor(data: bytes) -> VisitorFrame:
    return _decode(_visitor_decoder, data)  # type: ignore[no-any-return]


def decode_agent(data: bytes) -> AgentFrame:
    return _decode(_agent_decoder, data)  # type: ignore[no-any-return]


def _decode(decoder: msgspec.msgpack.Decoder[Any], data: bytes) -> Any:
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ProtocolError(ErrorCode.BAD_FRAME, str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"not a msgpack map: {exc}") from None
    except RecursionError:
        raise ProtocolError(ErrorCode.BAD_FRAME, "frame nested too deeply") from None
    except UnicodeDecodeError:
        # msgspec lets this escape for a str (value or key) that is not valid UTF-8
        raise ProtocolError(ErrorCode.BAD_FRAME, "a string is not valid UTF-8") from None


def encode(frame: dict[str, Any]) -> bytes:
    """Encode a server frame (a plain map with ``type``)."""
    return _encoder.encode(frame)


def error_frame(exc: ProtocolError, rid: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": exc.code.value, "message": exc.message}
    if rid is not None:
        frame["rid"] = rid
    frame.update(exc.extra)
    return frame


def peek_rid(data: bytes) -> str | None:
    """Best effort: the ``rid`` of a frame that failed validation, so the error can echo it."""
    try:
        raw = msgspec.msgpack.decode(data, type=dict[str, Any])
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeDecodeError):
        return None
    rid = raw.get("rid")
    return rid if isinstance(rid, str) and len(rid) <= 64 else None
