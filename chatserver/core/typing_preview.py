"""What a connection's ``typing`` frame is relayed as: the typing indicator (to everyone
following the chat) and, with typing preview on, the visitor's draft (to the chat's agents
and supervisors only).  Pure: the session owns one gate per connection and does the
sending.  ``docs/protocol.md`` 7.1 is the reference."""

from __future__ import annotations

from dataclasses import dataclass, field

from chatserver.core.limits import Throttle


@dataclass(frozen=True, slots=True)
class TypingRelay:
    """What to relay for one ``typing`` frame."""

    on: bool
    preview: str | None = None
    """Relay the frame with this draft, to agents only (instead of the plain indicator)."""


@dataclass(slots=True)
class TypingGate:
    """A connection's typing throttles: one ``on`` indicator per ``indicator_ms`` and one
    draft per ``preview_ms``; ``on: false`` always goes through and re-arms both.

    A draft is let through half an interval early: a client that sends one per interval
    (the widget adds 50 ms) sees that spacing shortened by delivery jitter, and dropping
    its newest draft would leave the agents looking at a stale one until the visitor
    types again.  A client flooding drafts still gets at most two per interval."""

    indicator_ms: int
    preview_ms: int
    indicator: Throttle = field(init=False)
    preview: Throttle = field(init=False)

    def __post_init__(self) -> None:
        self.indicator = Throttle(self.indicator_ms)
        self.preview = Throttle(self.preview_ms // 2)

    def decide(self, now_ms: int, on: bool, draft: str | None) -> TypingRelay | None:
        """The relay of a ``typing`` frame, or None (dropped by a throttle).  ``draft`` is
        the preview text the frame may carry (None: it carries none, or may not: the
        setting is off, or the sender is not a visitor)."""
        if not on:
            # typing again after stopping is news: let the next one through at once
            self.indicator.reset()
            self.preview.reset()
            return TypingRelay(on=False)
        if draft is not None and draft.strip() and self.preview.allow(now_ms):
            # the draft stands for the indicator too (agents see both in one frame)
            self.indicator.last = now_ms
            return TypingRelay(on=True, preview=draft)
        if self.indicator.allow(now_ms):
            return TypingRelay(on=True)
        return None
