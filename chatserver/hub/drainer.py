"""The drainer: offers queued chats to eligible agents until nothing more can be assigned.

It runs whenever capacity may have appeared (an agent came online or freed a slot, a chat
was queued or relaxed; ``request``), on its own Redis connection so that a burst of client
actions never delays a routing pass.  Each pass reads a snapshot of the queue heads and
the free agents, asks ``core.routing.plan`` who gets what, and commits the plan in one
script that re-checks every pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from chatserver.core import routing as policy
from chatserver.core.lifecycle import ChatState
from chatserver.hub.notifier import Notifier
from chatserver.hub.views import ChatViews, public
from chatserver.protocol.envelope import control, publication
from chatserver.store.locks import DrainLease
from chatserver.store.publish import Assignment, Publisher
from chatserver.store.routing import RoutingStore
from chatserver.store.snapshot import MAX_WINDOW
from chatserver.store.views import ChatReads
from chatserver.telemetry import metrics

if TYPE_CHECKING:
    from chatserver.hub.catalog import Catalog

log = logging.getLogger(__name__)

LEASE_MS = 2000
"""How long a drainer holds the drain lease without extending it (a process that dies
holding it delays routing by at most this)."""
LEASE_RETRY_S = 0.02
"""How soon a drainer that found the lease taken asks again (the holder's pass may have
read the queues before the change that woke this one, so the wake-up is kept)."""


class Drainer:
    def __init__(
        self,
        *,
        routing: RoutingStore,
        reads: ChatReads,
        publisher: Publisher,
        catalog: Catalog,
        views: ChatViews,
        notifier: Notifier,
        clock: Callable[[], int],
    ) -> None:
        self.routing = routing
        self.reads = reads
        self.publisher = publisher
        self.catalog = catalog
        self.views = views
        self.notifier = notifier
        self.clock = clock
        self.stats = {"assigned": 0, "drains": 0, "lease_waits": 0, "refused": 0}
        self._lease = DrainLease(routing.scripts, routing.keys.drain_lease, secrets.token_hex(8))
        self._lease_at = 0.0
        self._wake = asyncio.Event()
        self._wake.set()  # a first pass at start: chats may have queued while none ran

    def request(self) -> None:
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await self._wake.wait()
            self._wake.clear()
            try:
                # one drainer at a time over all the processes: two passes at once plan
                # the same queue heads for the same agents and one commit is refused whole
                if not await self._hold_lease():
                    self.stats["lease_waits"] += 1
                    await asyncio.sleep(LEASE_RETRY_S)
                    self._wake.set()
                    continue
                try:
                    with metrics.timed(metrics.DRAIN_SECONDS):
                        await self.drain()
                finally:
                    with contextlib.suppress(RedisError):  # else it lapses by itself
                        await self._lease.drop()
            except RedisError as exc:
                log.warning("drain failed (%s); retrying", exc)
                await asyncio.sleep(0.5)
                self._wake.set()
            except Exception:
                log.exception("drain failed")
                await asyncio.sleep(0.5)
                self._wake.set()

    async def _hold_lease(self) -> bool:
        """Take (or extend) the drain lease; True while this drainer holds it."""
        if not await self._lease.hold(LEASE_MS):
            return False
        self._lease_at = time.monotonic()
        return True

    async def drain(self) -> int:
        """Offer queued chats to eligible agents until nothing more can be assigned."""
        assigned = 0
        failures = 0
        window: int | None = None
        topics = await self.catalog.topics()
        for _ in range(50):
            self.stats["drains"] += 1
            if time.monotonic() - self._lease_at > LEASE_MS / 2000:
                await self._hold_lease()  # a long drain: extend the lease (if held)
            t0 = time.perf_counter()
            with metrics.timed(metrics.REDIS["drain_snapshot"]):
                snap = await self.routing.snapshot(topics, window)
            if not snap.chats or not snap.agents:
                break
            t1 = time.perf_counter()
            now = self.clock()
            plan = policy.plan(snap.chats, snap.agents, now)
            t2 = time.perf_counter()
            if not plan:
                if snap.more and snap.window < MAX_WINDOW:
                    # the queue heads were all declined by (or need skills beyond) the
                    # free agents: look further back
                    window = min(MAX_WINDOW, 4 * snap.window)
                    continue
                break
            chats: dict[str, dict[Any, Any]] = {}
            with metrics.timed(metrics.REDIS["drain_commit"]):
                # the planned chats' message metadata is read beside the commit (the
                # commit does not change it, and returns the chats' hashes itself): the
                # offers then need no read after it
                results, metas = await asyncio.gather(
                    self.routing.commit(plan, snap.topic_of, now, chats),
                    self.reads.metas([a.chat_id for a in plan]),
                )
            meta_of = {a.chat_id: m for a, m in zip(plan, metas, strict=True)}
            ok = [a for a, reason in results if reason == "ok"]
            self.stats["refused"] += len(results) - len(ok)
            log.debug(
                "pass: %d agents, %d chats read (window %d), %d planned, %d assigned; "
                "snapshot %.0f ms, plan %.0f ms, commit %.0f ms",
                len(snap.agents),
                len(snap.chats),
                snap.window,
                len(plan),
                len(ok),
                1000 * (t1 - t0),
                1000 * (t2 - t1),
                1000 * (time.perf_counter() - t2),
            )
            assigned += len(ok)
            self.stats["assigned"] += len(ok)
            if ok:
                metrics.ASSIGNMENTS.inc(len(ok))
                with metrics.timed(metrics.REDIS["drain_notify"]):
                    # the queue-changed hint needs nothing the offers need: one round trip
                    # shared instead of one more after them
                    await asyncio.gather(
                        self._announce(ok, [(chats[a.chat_id], meta_of[a.chat_id]) for a in ok]),
                        self.notifier.queues_changed(self.publisher),
                    )
            else:
                # every pair lost a race with another process; re-read and try again
                failures += 1
                if failures >= 3:
                    break
        return assigned

    async def _announce(
        self,
        done: Sequence[policy.Assignment],
        raw: Sequence[tuple[dict[Any, Any], dict[str, str]]],
    ) -> None:
        """Tell the agents of a pass's assignments: an ``offer``, or (auto-accept)
        ``assigned`` plus the new chat state for its participants; one pipeline.  ``raw``:
        each chat's hash (as the commit left it) and message metadata."""
        infos = await self.views.built(
            [a.chat_id for a in done], raw, for_agent=True, reads=self.reads
        )
        now = self.clock()
        out: list[Assignment] = []
        for a, info in zip(done, infos, strict=True):
            if info is None:
                continue
            metrics.START_TO_OFFER_SECONDS.observe(max(0, now - info["created"]) / 1000)
            if info["state"] == ChatState.ACTIVE.value:
                metrics.OFFERS["auto_accepted"].inc()
                out.append(
                    Assignment(
                        a.agent_id,
                        a.chat_id,
                        control({"type": "assigned", "chat": info}, {"follow": a.chat_id}),
                        publication({"type": "chat", "chat": public(info)}),
                    )
                )
            else:
                out.append(
                    Assignment(
                        a.agent_id,
                        a.chat_id,
                        control({"type": "offer", "chat": info}, {"follow": a.chat_id}),
                    )
                )
        await self.publisher.assignments(out)
