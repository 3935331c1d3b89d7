"""The inbox's rules (pure): who may claim or answer an offline message, and the reply text.

The SQL statements in ``chatserver/records/inbox.py`` apply the same conditions atomically;
these functions say *why* a refused claim or reply was refused."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str


def claim_refusal(claimed_by: str | None, answered: bool, agent: str) -> Refusal | None:
    """Why ``agent`` may not claim the message (None: they may, or hold it already)."""
    if claimed_by == agent:
        return None
    if answered:
        return Refusal(409, "already_answered", "this message is answered already")
    if claimed_by is not None:
        return Refusal(409, "claimed", f"already claimed by {claimed_by}")
    return None


def reply_refusal(claimed_by: str | None, answered: bool, agent: str) -> Refusal | None:
    """Why ``agent`` may not reply to the message (None: they may)."""
    if answered:
        return Refusal(409, "already_answered", "this message is answered already")
    if claimed_by is None:
        return Refusal(409, "not_claimed", "claim the message before replying")
    if claimed_by != agent:
        return Refusal(409, "claimed", f"claimed by {claimed_by}, not by you")
    return None


def reply_text(text: str, max_chars: int) -> str:
    """The reply as sent (without surrounding blanks); ValueError if empty or too long."""
    text = text.strip()
    if not text:
        raise ValueError("text: the reply is empty")
    if len(text) > max_chars:
        raise ValueError(f"text: at most {max_chars} characters")
    return text
