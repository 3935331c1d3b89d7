"""The loops a process runs beside its sockets.

Every process: the heartbeat (presence of its connections), the health check (a Redis
restart is caught up from the chat logs) and the live figures for its supervisors.  With
``BACKGROUND_JOBS`` (the worker, and web processes unless it is false): the timers (offer
lapses, relaxation, missed and idle chats, presence sweeps, visitors gone, agents
released from active chats).

What the timers do with a due item is decided in the core (``core/presence.py``,
``core/lifecycle.py``); the actions go through the service layer like a user's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from chatserver.core import released, timers
from chatserver.core.agent_presence import HOLDS_NO_CHATS
from chatserver.core.lifecycle import ChatEvent
from chatserver.core.presence import end_for_gone_visitor, gone_after_outage
from chatserver.core.timers import Do
from chatserver.hub.live import LiveFigures
from chatserver.protocol import encode
from chatserver.store.messages import participant
from chatserver.store.redis_conn import RETRY_CAP_S
from chatserver.telemetry import metrics

if TYPE_CHECKING:
    from chatserver.hub.node import Node

log = logging.getLogger(__name__)


class Jobs:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._unrecorded: list[tuple[str, str]] = []
        """(agent, connection) disconnects Redis did not take yet; the heartbeat retries."""
        self._redis_run_id = ""
        """The Redis server's run id the health loop last saw."""

    def tasks(self) -> list[asyncio.Task[None]]:
        node = self.node
        self._redis_run_id = node.messages.run_id
        loops = [
            asyncio.create_task(
                self._every(node.settings.heartbeat_interval_s, self.heartbeat, "heartbeat"),
                name="heartbeat",
            ),
            asyncio.create_task(self._every(1.0, self.health, "health check"), name="health"),
            asyncio.create_task(self._live(), name="live"),
        ]
        if node.settings.background_jobs:
            loops.append(
                asyncio.create_task(
                    self._every(node.settings.timer_interval_s, self.run_timers, "timers"),
                    name="timers",
                )
            )
        return loops

    async def _every(self, interval: float, job: object, name: str) -> None:
        assert callable(job)
        while not self.node.stopping.is_set():
            await asyncio.sleep(interval)
            try:
                await job()
            except RedisError as exc:
                log.warning("%s failed: %s", name, exc)
            except Exception:
                log.exception("%s failed", name)

    # ---- presence of this process's connections ------------------------------------------
    async def record_agent_disconnect(self, agent_id: str, conn_id: str) -> None:
        """Record that one console connection is gone.  When Redis cannot be reached (it
        is restarting) the disconnect is kept and written by the next heartbeat, so the
        agent's presence is right within one heartbeat interval of Redis coming back."""
        node = self.node
        try:
            await node.agent_presence.agent_disconnect(agent_id, conn_id, node.now())
        except Exception as exc:  # Redis down or restarting: any failure is retried
            log.warning("agent disconnect of %s not recorded yet (%s)", agent_id, exc)
            self._unrecorded.append((agent_id, conn_id))

    async def heartbeat(self) -> None:
        """Refresh the presence of this process's agent and visitor connections, on the
        background connection (never waiting behind client actions)."""
        node = self.node
        await self._record_pending_disconnects()
        now = node.now()
        registry = node.registry
        conns = {a: [c.id for c in cs] for a, cs in registry.agents.items() if cs}
        if await node.background_agents.heartbeat(conns, now):
            node.drainer.request()
        # a connection that closed while the heartbeat was on its way (Redis slow or
        # restarting) may have been refreshed after its disconnect was recorded: record
        # the disconnect again, after the heartbeat
        for agent_id, ids in conns.items():
            live = {c.id for c in registry.agents.get(agent_id, ())}
            self._unrecorded.extend((agent_id, c) for c in ids if c not in live)
        await self._record_pending_disconnects()
        if registry.visitors:
            await node.background_presence.heartbeat(
                {v: [c.id for c in cs] for v, cs in registry.visitors.items()}, now
            )

    async def _record_pending_disconnects(self) -> None:
        node = self.node
        while self._unrecorded:
            agent_id, conn_id = self._unrecorded[0]
            await node.background_agents.agent_disconnect(agent_id, conn_id, node.now())
            self._unrecorded.pop(0)

    # ---- Redis restarts ------------------------------------------------------------------
    async def health(self) -> None:
        messages = self.node.messages
        before = messages.epoch
        try:
            epoch = await messages.refresh_epoch()
        except RedisError:
            return  # down or restarting: the next check sees the new run id
        if epoch != before:
            log.warning("Redis restarted: message epoch is now %s", messages.epoch)
        # the run id, not the epoch: a reconnecting connection may have bumped the epoch
        # (and this process's copy of it) before this loop looked
        run_id = messages.run_id
        if self._redis_run_id and run_id != self._redis_run_id:
            self.node.spawn(self._catch_up_after_restart())
        self._redis_run_id = run_id

    async def _catch_up_after_restart(self) -> None:
        """After a Redis restart, catch every local connection up from the chat logs.

        The pub/sub connection may come back by itself and never run its own catch-up: a
        message published while it was away would reach nobody until the next message of
        the same chat (found by the soak: the last message of a chat before its close was
        never delivered).  By the time the new run id is seen, the pub/sub connection is
        back within its retry backoff (at most 1 s), so the pass waits that long."""
        await asyncio.sleep(2 * RETRY_CAP_S)
        await self.node.after_reconnect()

    # ---- supervisors' live figures ---------------------------------------------------------
    async def _live(self) -> None:
        node = self.node
        figures = LiveFigures(node)
        while not node.stopping.is_set():
            await asyncio.sleep(node.settings.live_metrics_interval_s)
            supervisors = node.registry.supervisors()
            if not supervisors:
                continue
            try:
                frame = await figures.snapshot()
            except Exception as exc:
                log.warning("live figures failed: %s", exc)
                continue
            data = encode(frame)
            for conn in supervisors:
                conn.send_raw(data)

    # ---- timers ----------------------------------------------------------------------------
    async def run_timers(self) -> None:
        """One pass of the timers.  What is due is read, and presence swept, on the
        background connection; the actions a timer takes (requeue, end) go through the
        shared one and, if one fails, stay due for the next pass.  Each kind is bounded
        per pass (``due``), so a backlog of leftovers (presence of a dead process's
        connections) is repaired over several passes, between live traffic."""
        node = self.node
        chats = node.actions
        now = node.now()
        routing, presence = node.background_routing, node.background_presence
        agents, timers_store = node.background_agents, node.background_timers
        resumed = await presence.timers_tick(now)
        due = await timers_store.due(now)
        last = await node.background_reads.last_message_at(due["idle"])
        plan = timers.actions(
            timers.Due(
                due["offers"], due["relax"], due["missed"], last, due["presence"], due["graces"]
            ),
            now,
            int(node.settings.chat_idle_timeout_s * 1000),
        )
        relaxed = False
        for action in plan:
            chat_id = action.target
            match action.do:
                case Do.LAPSE:
                    if await chats.requeue(chat_id, ChatEvent.LAPSE) == "ok":
                        metrics.OFFERS["lapsed"].inc()
                case Do.RELAX:
                    relaxed |= await routing.relax(chat_id, now)
                case Do.MISS:
                    await chats.end(chat_id, ChatEvent.MISS, by="system", outcome="missed")
                case Do.TIME_OUT:
                    await chats.end(chat_id, ChatEvent.CLOSE, by="system", outcome="timeout")
                case Do.RESCHEDULE_IDLE:
                    await timers_store.reschedule_idle(chat_id, action.at_ms)
                case Do.SWEEP_PRESENCE:
                    await agents.sweep_agent(action.target, now, grace_due=False)
                case Do.END_GRACE:
                    status = await agents.sweep_agent(action.target, now, grace_due=True)
                    if status in HOLDS_NO_CHATS:
                        await chats.agent_went_offline(action.target)
        if relaxed:
            node.drainer.request()
        for visitor_id in await presence.due_sweeps(now):
            await presence.sweep(visitor_id, now)
        await self._released(now)
        grace = int(node.settings.visitor_leave_grace_s * 1000)
        if gone_after_outage(0, resumed, grace) <= now:
            # (after an outage no mark is due before resumed + grace: see core/presence)
            await self._visitors_gone(now)

    async def _released(self, now: int) -> None:
        """Agents an active chat was taken from (requeued, transferred) no longer write in
        its log: the second step of those actions, done here when the process that took
        the first one died before it (``core/released.py``)."""
        node = self.node
        timers_store, chats = node.background_timers, node.background_chats
        for note, due in await timers_store.due_released(now):
            chat_id, agent_id = released.parse(note)
            chat = await chats.get_chat(chat_id)
            holder, state = (chat.agent, chat.state) if chat is not None else ("", None)
            if released.drop_participation(agent_id, holder, state):
                await node.messages.set_participants(
                    chat_id, remove=[participant("agent", agent_id)]
                )
            await timers_store.released_done(note, due)

    async def _visitors_gone(self, now: int) -> None:
        """End the chat of every visitor who counts as gone (no live socket anywhere for
        ``VISITOR_LEAVE_GRACE_S``; see ``core/presence.py``), whatever its state now."""
        node = self.node
        chats, presence = node.background_chats, node.background_presence
        for visitor_id, due in await presence.due_gone(now):
            chat_id = await chats.visitor_open_chat(visitor_id)
            chat = await chats.get_chat(chat_id) if chat_id else None
            decision = end_for_gone_visitor(chat.state) if chat is not None else None
            if chat is None or decision is None:
                await presence.clear_gone(visitor_id, due)
                continue
            event, outcome = decision
            reason = await node.actions.end(
                chat.id, event, by="system", outcome=outcome, if_visitor_gone=True
            )
            if reason not in ("ok", "invalid_state", "retry"):
                # back (a socket opened), or nothing left to end
                await presence.clear_gone(visitor_id, due)
            # the state changed in between (e.g. offered -> active): the mark stays, and
            # the next pass decides again on the new state
