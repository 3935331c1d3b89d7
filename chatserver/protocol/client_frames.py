"""Client frames (client -> server): typed structs and their strict decoding.

Frames are msgpack maps with a ``type`` string.  Client frames are decoded straight into
the typed structs below (``msgspec`` rejects wrong types, bytes where text is expected,
ext values, non-string keys, trailing bytes and truncated input); anything that does not
decode gets an ``error`` frame with code ``bad_frame`` and the connection stays open.
``docs/protocol.md`` is the reference for every frame.

Every client frame may carry ``rid`` (a request id, up to 64 characters); the direct reply
to it (``ok``, ``error`` or a typed answer) echoes it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from chatserver.protocol.codes import ErrorCode, ProtocolError
from chatserver.protocol.fields import Id, Rid, Seq, Short, Tag, Text, Url


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
    text: Text | None = None
    """Visitors, with typing preview on (``limits.typing_preview``): the draft so far, which
    only the chat's agents and supervisors receive; the real limit is a setting."""


class Read(_Frame, tag="read"):
    chat: Id
    seq: Seq


class Resume(_Frame, tag="resume"):
    chat: Id
    after: Seq


def resume_in_handshake(chat: str | None, after: str | None) -> Resume | None:
    """The ``resume`` a visitor's handshake asks for with its ``resume`` and ``after``
    query parameters (docs/protocol.md 2.2), or None: either absent or not valid (the
    welcome then has no ``resumed`` and the client sends ``resume`` itself)."""
    if not chat or after is None:
        return None
    try:
        return msgspec.convert(
            {"type": "resume", "chat": chat, "after": after}, Resume, strict=False
        )
    except msgspec.ValidationError:
        return None


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


class Transcript(_Frame, tag="transcript"):
    """After the chat ended: "email me the transcript" (visitor-visible messages only).
    Replied ``ok`` once queued; the e-mail goes out when the chat's record is written."""

    chat: Id
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254)]


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
VisitorFrame = CommonFrame | Start | Leave | Rate | Transcript | Offline
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
ClientFrame = VisitorFrame | AgentFrame
"""Every client frame (what the schema and the TypeScript types describe)."""

_visitor_decoder = msgspec.msgpack.Decoder(VisitorFrame)
_agent_decoder = msgspec.msgpack.Decoder(AgentFrame)


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


def peek_rid(data: bytes) -> str | None:
    """Best effort: the ``rid`` of a frame that failed validation, so the error can echo it."""
    try:
        raw = msgspec.msgpack.decode(data, type=dict[str, Any])
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeDecodeError):
        return None
    rid = raw.get("rid")
    return rid if isinstance(rid, str) and len(rid) <= 64 else None
