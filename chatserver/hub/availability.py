"""What this process's visitors are shown about availability, kept fresh and pushed.

One ``AvailabilityWatch`` per process.  It re-reads the agents online (``store``), the
topics and the widget settings, and decides with ``core.availability``:

- when it is woken (an ``agents`` message on the queue channel: an agent connected,
  disconnected, changed status or was swept) and at least every
  ``AVAILABILITY_INTERVAL_S`` while the process has visitors (business hours open and
  close with time; topics and skills change rarely and are seen within that delay);
- one read per process, whatever the number of visitors.

When the view changes, every welcomed local visitor connection gets one ``availability``
frame; when a topic gains its first eligible agent or loses its last, the waiting
visitors of that topic get a fresh ``queue`` frame (the wait estimate appears or goes).
Call order: ``start`` the loop; ``current`` before building a welcome; ``welcomed`` right
after (no await in between), so that a connection never misses a change nor gets one
before its welcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from chatserver.core.availability import (
    availability_view,
    changed_topics,
    eligible_counts,
    visitor_wait_s,
)
from chatserver.protocol import encode
from chatserver.store.availability import OnlineAgents
from chatserver.store.config import is_open

if TYPE_CHECKING:
    from chatserver.hub.connection import Connection
    from chatserver.hub.node import Node

log = logging.getLogger(__name__)


class AvailabilityWatch:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.online = OnlineAgents(node.redis, node.keys)
        self.counts: dict[str, int] = {}
        """Topic -> eligible agents online, as of the last read."""
        self.view: dict[str, Any] = availability_view(True, {})
        self._read_at = 0.0
        self._dirty = True
        self._wake = asyncio.Event()
        self._welcomed: dict[str, Connection] = {}
        """Visitor connections whose welcome went out (connection id -> connection)."""
        self._prune_at = 64
        self._eligible: dict[str, tuple[str, ...]] = {}
        """Agent id -> the topics they qualify for (``eligible_counts``'s memo), valid for
        ``_eligible_for``: the skills version and the topics' required skills."""
        self._eligible_for: tuple[bytes | None, dict[str, dict[str, int]]] | None = None

    # ---- entry points ---------------------------------------------------------------------
    def poke(self) -> None:
        """Something an agent did may change what visitors see: read again soon."""
        self._dirty = True
        self._wake.set()

    async def current(self) -> dict[str, Any]:
        """The view, read again first when it may be stale (a process without visitors
        does not keep it fresh)."""
        interval = self.node.settings.availability_interval_s
        if self._dirty or time.monotonic() - self._read_at > interval:
            await self.node.catalog.flights.run("availability", self.refresh)
        return self.view

    def welcomed(self, conn: Connection) -> None:
        """``conn``'s welcome (built from ``current``) is sent: it gets changes from now."""
        if len(self._welcomed) > self._prune_at:
            # closed ones are dropped when the map has doubled since the last pruning:
            # amortised O(1) a welcome (counting the live sockets each time was O(n))
            self._welcomed = {k: c for k, c in self._welcomed.items() if not c.closed}
            self._prune_at = 64 + 2 * len(self._welcomed)
        self._welcomed[conn.id] = conn

    def queue_fields(self, topic: str, position: int, avg_handle_s: float) -> dict[str, Any]:
        """The queue part of a waiting visitor's chat: ``position``, ``available`` (an
        eligible agent is online) and, only when one is, ``eta_s``."""
        eligible = self.counts.get(topic, 0)
        fields: dict[str, Any] = {"position": position, "available": eligible > 0}
        eta = visitor_wait_s(position, eligible, avg_handle_s)
        if eta is not None:
            fields["eta_s"] = eta
        return fields

    # ---- the loop -------------------------------------------------------------------------
    async def run(self) -> None:
        node = self.node
        while not node.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), timeout=node.settings.availability_interval_s
                )
            self._wake.clear()
            if not node.registry.visitors:
                continue  # nobody to tell; ``current`` reads again when one comes
            try:
                await node.catalog.flights.run("availability", self.refresh)
            except RedisError as exc:
                log.warning("availability update failed: %s", exc)
            except Exception:
                log.exception("availability update failed")
            # coalesce a burst of presence changes (a shift starting) into few reads
            await asyncio.sleep(min(0.2, node.settings.position_interval_s))

    async def refresh(self) -> None:
        node = self.node
        self._dirty = False
        agents = await self.online.read()
        topics = await node.catalog.topics()
        settings = await node.catalog.widget_settings()
        required = {n: dict(t.required) for n, t in topics.items()}
        basis = (self.online.version, required)
        if basis != self._eligible_for or len(self._eligible) > 64 + 2 * len(agents):
            self._eligible, self._eligible_for = {}, basis
        counts = eligible_counts(required, agents, self._eligible)
        view = availability_view(is_open(settings, node.now()), counts)
        flipped = changed_topics(self.counts, counts)
        self.counts, self._read_at = counts, time.monotonic()
        if view != self.view:
            self.view = view
            self._push({"type": "availability", **view})
        if flipped:
            node.positions.requote(flipped)

    def _push(self, frame: dict[str, Any]) -> None:
        data = encode(frame)
        live: dict[str, Connection] = {}
        for conn in self._welcomed.values():
            if not conn.closed:
                conn.send_raw(data)
                live[conn.id] = conn
        self._welcomed = live
