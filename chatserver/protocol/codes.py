"""Error codes (the ``code`` of an ``error`` frame), WebSocket close codes, and the
exception a refused client frame raises (it becomes an ``error`` frame on the wire)."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any


class ErrorCode(StrEnum):
    BAD_FRAME = "bad_frame"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    INVALID_STATE = "invalid_state"
    CHAT_OPEN = "chat_open"
    UNKNOWN_TOPIC = "unknown_topic"
    UNKNOWN_TAG = "unknown_tag"
    """A tag not in the admin's list (and FREE_TAGS is off); ``tags`` names them."""
    AGENT_UNAVAILABLE = "agent_unavailable"
    OUTSIDE_HOURS = "outside_hours"
    """``start`` outside business hours: offer the offline form (``offline`` frame)."""
    MISSING_FIELDS = "missing_fields"
    """``start`` without a required pre-chat field (``fields`` names them)."""
    BAD_EMAIL = "bad_email"
    """``transcript``: the address is not a valid e-mail address."""
    TOO_MANY = "too_many"
    """``transcript``: this chat's transcript was asked for ``TRANSCRIPT_MAX_PER_CHAT``
    times already."""
    MAIL_NOT_CONFIGURED = "mail_not_configured"
    """``transcript``: the server sends no e-mail (no ``SMTP_HOST``)."""
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
