"""Visitors on the site: what a page view keeps and what an invitation's refusal says.

Page URLs and titles are untrusted text from the visitor's browser: they are kept as text,
cut to the limits below (the frame refuses longer ones already; control characters are
dropped so that a list row stays one line), and never interpreted by the server.  The
console links a page only when its scheme is http or https (``linkable``).
"""

from __future__ import annotations

from chatserver.protocol.codes import ErrorCode, ProtocolError

URL_MAX = 2048
"""Longest page URL kept (characters)."""
TITLE_MAX = 256
"""Longest page title kept (characters)."""
LANG_MAX = 35
"""Longest language tag kept (BCP 47)."""


def clean(value: str, limit: int) -> str:
    """``value`` without control characters, cut to ``limit`` characters."""
    return "".join(ch for ch in value if ch >= " " and ch != "\x7f")[:limit]


def clean_lang(value: str | None) -> str:
    """A language tag as kept: letters, digits and '-' only ('' when none is left)."""
    if not value:
        return ""
    tag = value[:LANG_MAX]
    return tag if all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in tag) else ""


def linkable(url: str) -> bool:
    """Whether a page URL may be shown as a link (http or https)."""
    return url.lower().startswith(("http://", "https://"))


def invite_refusal(result: str) -> ProtocolError | None:
    """The error an ``invite`` gets for the invitation script's ``result`` (None: sent)."""
    if result == "ok":
        return None
    if result == "rate_limited":
        return ProtocolError(ErrorCode.RATE_LIMITED, "too many invitations; wait a minute")
    if result == "in_chat":
        return ProtocolError(ErrorCode.IN_CHAT, "the visitor is in a chat already")
    return ProtocolError(ErrorCode.NOT_ON_SITE, "the visitor is not on the site")
