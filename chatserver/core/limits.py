"""Rate limits as small pure state machines (one per connection, owned by its shell).

Slotted: every connection holds several, so no instance dicts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class WindowCounter:
    """At most ``limit`` events per ``window_ms``, counted in fixed windows."""

    limit: int
    window_ms: int
    window_start: int = 0
    count: int = 0

    def allow(self, now_ms: int) -> bool:
        if now_ms - self.window_start >= self.window_ms:
            self.window_start = now_ms
            self.count = 0
        if self.count >= self.limit:
            return False
        self.count += 1
        return True


@dataclass(slots=True)
class Throttle:
    """Lets one event through per ``interval_ms`` (typing indicators)."""

    interval_ms: int
    last: int = -(10**15)

    def allow(self, now_ms: int) -> bool:
        if now_ms - self.last < self.interval_ms:
            return False
        self.last = now_ms
        return True

    def reset(self) -> None:
        """Let the next event through at once."""
        self.last = -(10**15)
