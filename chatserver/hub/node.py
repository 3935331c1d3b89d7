"""The node: one hub process.  It owns the Redis client, the stores, the pub/sub fan-out,
this process's connections, and the background loops (drainer, timers, heartbeats).

Actions that change routing state go through here so that each one is followed by the
same notifications: the agent's channel, the chat's channel, the queue channel, and a
drain whenever capacity may have appeared.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.auth import Credentials
from chatserver.clock import Clock, new_id, wall_ms
from chatserver.core import routing as policy
from chatserver.core.lifecycle import ChatEvent, ChatState
from chatserver.core.presence import end_for_gone_visitor, gone_after_outage
from chatserver.core.queueing import update_average
from chatserver.hub.availability import AvailabilityWatch
from chatserver.hub.connection import Budget, Connection
from chatserver.hub.fanout import Fanout
from chatserver.hub.live import LiveFigures
from chatserver.hub.notices import NoticeWatch
from chatserver.protocol import encode
from chatserver.records import queries
from chatserver.records.crm import CrmForwarder
from chatserver.records.database import create_engine, database_url, migrate
from chatserver.records.queries import Viewer
from chatserver.records.writer import RecordWriter
from chatserver.settings import Settings
from chatserver.store.availability import AGENTS_CHANGED
from chatserver.store.codec import text
from chatserver.store.config import ConfigStore, WidgetSettings
from chatserver.store.directory import Directory, Topic
from chatserver.store.embedded import EmbeddedRedis
from chatserver.store.keys import Keys
from chatserver.store.messages import MessageStore, participant, publication
from chatserver.store.redis_conn import RETRY_CAP_S, connect, connect_pooled, resolve_url
from chatserver.store.routing import MAX_WINDOW, RoutingStore, chat_record
from chatserver.store.scripts import Scripts
from chatserver.store.visitors import VisitorStore
from chatserver.telemetry import metrics

log = logging.getLogger(__name__)
_ctl_decoder = msgspec.msgpack.Decoder(dict[str, Any])
_AGENT_ONLY = ("visitor", "offer_expires")
"""Fields of ``chat_info`` that only agents are shown."""


def _control(frame: dict[str, Any] | None, ctl: dict[str, Any]) -> bytes:
    """A message on an agent's or visitor's channel: orders for their connections and
    optionally a frame to send to each of them (see ``_SubjectListener``)."""
    payload: dict[str, Any] = {"ctl": ctl}
    if frame is not None:
        payload["frame"] = frame
    return encode(payload)


class Node:
    def __init__(self, settings: Settings, clock: Clock = wall_ms) -> None:
        self.settings = settings
        self.clock = clock
        self.keys = Keys(settings.key_prefix)
        self.node_id = new_id("n")
        self.credentials = Credentials(settings)
        self.embedded: EmbeddedRedis | None = None
        self.redis: Redis
        self.drain_redis: Redis
        self.background_redis: Redis
        self.records_redis: Redis | None = None
        self.redis_url = ""
        self.background_routing: RoutingStore
        self.background_presence: VisitorStore
        self.directory: Directory
        self.routing: RoutingStore
        self.drain_routing: RoutingStore
        self.messages: MessageStore
        self.visitor_presence: VisitorStore
        self.fanout: Fanout
        self.engine: AsyncEngine | None = None
        self.writer: RecordWriter | None = None
        self.agents: dict[str, set[Connection]] = {}
        self.visitors: dict[str, set[Connection]] = {}
        self.by_address: dict[str, int] = {}
        """Open WebSocket connections per client address on this process."""
        self.budgets: dict[str, Budget] = {}
        """Bytes queued for sending per client address on this process (see ``Budget``)."""
        self.admission: asyncio.Semaphore | None = (
            asyncio.Semaphore(settings.max_pending_handshakes)
            if settings.max_pending_handshakes else None
        )
        """Slots for visitor connections being set up (handshake to welcome)."""
        self.waiting: dict[str, tuple[str, int]] = {}
        """Local visitors' queued chats: chat id -> (topic, last position sent)."""
        self._visitor_of: dict[str, str] = {}
        """Visitor of each chat in ``waiting`` (filled by the position loop)."""
        self._watches = 0
        self._watched: dict[str, int] = {}
        """Chat in ``waiting`` -> the value of ``_watches`` when it was last watched."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.draining = False
        """Shutdown has begun: ``/readyz`` answers 503 (the process still serves)."""
        self._loops: list[asyncio.Task[None]] = []
        self._drain = asyncio.Event()
        self._positions = asyncio.Event()
        self._topics: dict[str, Topic] = {}
        self._topics_at = 0.0
        self._widget = WidgetSettings()
        self._widget_at = 0.0
        self._flights: dict[str, asyncio.Future[None]] = {}
        self._generation = 0
        self.stats = {"assigned": 0, "drains": 0}
        self._subject_listeners: dict[tuple[str, str], _SubjectListener] = {}
        """The fan-out listener of each agent and visitor with local connections."""
        self._unrecorded_disconnects: list[tuple[str, str]] = []
        """(agent, connection) disconnects Redis did not take yet; the heartbeat retries."""
        self._redis_run_id = ""
        """The Redis server's run id the health loop last saw."""

    # ---- lifecycle -----------------------------------------------------------------------
    async def start(self, serve: bool = True) -> None:
        """Connect and, when ``serve``, start fan-out and the background loops (an admin
        command uses the node without them)."""
        url, self.embedded = resolve_url(self.settings)
        self.redis_url = url
        s = self.settings
        # every client action shares one multiplexed connection (no pool to wait on)
        self.redis = connect(url, max_inflight=s.redis_max_inflight)
        # the drainer's own connection: a burst of client requests (a thousand visitors
        # starting at once) queued ahead of a routing pass must not delay it
        self.drain_redis = connect(url, max_inflight=s.redis_max_inflight)
        # and the heartbeat's and timers': they never queue behind client actions
        self.background_redis = connect(url, max_inflight=s.redis_max_inflight)
        scripts = Scripts(self.redis)
        self.directory = Directory(self.redis, self.keys)
        self.config = ConfigStore(self.redis, self.keys)
        self.routing = RoutingStore(self.redis, self.keys, scripts, self.settings)
        self.drain_routing = RoutingStore(
            self.drain_redis, self.keys, Scripts(self.drain_redis), self.settings
        )
        self.messages = MessageStore(self.redis, self.keys, scripts, self.settings)
        self.availability = AvailabilityWatch(self)
        self.notices = NoticeWatch(self)
        self.visitor_presence = VisitorStore(self.redis, self.keys, scripts, self.settings)
        background_scripts = Scripts(self.background_redis)
        self.background_routing = RoutingStore(
            self.background_redis, self.keys, background_scripts, self.settings
        )
        self.background_presence = VisitorStore(
            self.background_redis, self.keys, background_scripts, self.settings
        )
        self.messages.guard_epoch()
        await self.messages.refresh_epoch()
        self._redis_run_id = self.messages.run_id
        await self.directory.ensure_default_topic(self.settings.default_topic)
        self.fanout = Fanout(self.redis, self.keys.queue_channel, self._after_reconnect)
        if not serve:
            return
        self.engine = create_engine(database_url(self.settings))
        await self._migrate()
        await self.fanout.start()
        await self.fanout.subscribe(self.keys.queue_channel, _QueueListener(self))
        await self.fanout.subscribe(self.keys.notice_channel, self.notices)
        await self.notices.start()
        self._loops = [
            asyncio.create_task(self._drain_loop(), name="drainer"),
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self._positions_loop(), name="positions"),
            asyncio.create_task(self._health_loop(), name="health"),
            asyncio.create_task(self._live_loop(), name="live"),
            asyncio.create_task(self.availability.run(), name="availability"),
            asyncio.create_task(self.notices.run(), name="notices"),
        ]
        if self.settings.background_jobs:
            self._loops.append(asyncio.create_task(self._timer_loop(), name="timers"))
            # the writer's own connection: its blocking read of the outbox never takes
            # one from client actions (nor from the heartbeat and timers)
            self.records_redis = connect_pooled(self.redis_url, max_connections=2)
            self.writer = RecordWriter(
                self.records_redis, self.keys, self.engine, self.settings, self.clock,
                self.node_id,
            )
            self._loops.append(asyncio.create_task(self.writer.run(), name="records"))
            if self.settings.crm_webhook_url:
                everything = Viewer("system", supervisor=True)
                engine = self.engine

                async def fetch(chat_id: str) -> dict[str, Any] | None:
                    return await queries.fetch(engine, chat_id, everything)

                crm = CrmForwarder(self.engine, self.settings, self.clock, fetch)
                self._loops.append(asyncio.create_task(crm.run(), name="crm"))
        self._drain.set()

    async def stop(self, code: int = 1001) -> None:
        """Close every local socket with ``code`` (1001: reconnect elsewhere), stop the
        loops, and stop the embedded server if this process started it."""
        self.draining = True
        for conns in [*self.agents.values(), *self.visitors.values()]:
            for conn in list(conns):
                conn.close(code, "server shutting down")
        await asyncio.sleep(0.05)
        self._stopping = True
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        # a task inside a Redis call may take a moment to see its cancellation; never
        # let it hold the process open
        pending = [*self._loops, *self._tasks]
        if pending:
            await asyncio.wait(pending, timeout=3)
        with contextlib.suppress(Exception):
            await self.fanout.stop()
        if self.engine is not None:
            with contextlib.suppress(Exception):
                await self.engine.dispose()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        with contextlib.suppress(Exception):
            await self.drain_redis.aclose()
        with contextlib.suppress(Exception):
            await self.background_redis.aclose()
        if self.records_redis is not None:
            with contextlib.suppress(Exception):
                await self.records_redis.aclose()
        if self.embedded is not None:
            self.embedded.stop()

    async def _migrate(self) -> None:
        """Bring the records schema up to date; one process at a time (a Redis lock)."""
        assert self.engine is not None
        lock = self.keys.migrate_lock
        deadline = time.monotonic() + 120
        while not await self.redis.set(lock, self.node_id, nx=True, px=120_000):
            if time.monotonic() > deadline:
                raise RuntimeError("another process holds the migration lock")
            await asyncio.sleep(0.1)
        try:
            await migrate(str(self.engine.url.render_as_string(hide_password=False)))
        finally:
            await self.redis.delete(lock)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def now(self) -> int:
        return self.clock()

    def keys_chat_of_channel(self, channel: str) -> str:
        # "<prefix>:{c:<chat>}:ch"
        return channel[channel.index("{c:") + 3 : channel.rindex("}")]

    async def topics(self) -> dict[str, Topic]:
        if time.monotonic() - self._topics_at > 1.0:
            await self._single_flight("topics", self._read_topics)
        return self._topics

    async def _read_topics(self) -> None:
        generation = self._generation
        topics = await self.directory.topics()
        if generation == self._generation:  # not read before a change this process made
            self._topics, self._topics_at = topics, time.monotonic()

    async def _single_flight(
        self, name: str, read: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        """Run ``read`` once for every caller that arrives while it is in flight: when a
        cache expires under a burst (thousands of reconnecting clients), one Redis read
        refreshes it instead of one per caller."""
        flight = self._flights.get(name)
        if flight is None:
            flight = self._flights[name] = asyncio.ensure_future(read())

            def landed(done: asyncio.Future[None]) -> None:
                if self._flights.get(name) is done:
                    del self._flights[name]

            flight.add_done_callback(landed)
        await asyncio.shield(flight)

    async def topic(self, name: str) -> Topic | None:
        """A topic by name; a miss re-reads Redis (another process may have just added it)."""
        found = (await self.topics()).get(name)
        if found is None:
            self.forget_topics()
            found = (await self.topics()).get(name)
        return found

    async def widget_settings(self) -> WidgetSettings:
        """The widget settings (cached for a second; an admin change clears the cache
        of the process that made it)."""
        if time.monotonic() - self._widget_at > 1.0:
            await self._single_flight("widget", self._read_widget_settings)
        return self._widget

    async def _read_widget_settings(self) -> None:
        generation = self._generation
        widget = await self.config.widget()
        if generation == self._generation:
            self._widget, self._widget_at = widget, time.monotonic()

    def forget_widget_settings(self) -> None:
        self._widget_at = 0.0
        self._forget_flights()

    def forget_topics(self) -> None:
        self._topics_at = 0.0
        self._forget_flights()

    def _forget_flights(self) -> None:
        # a read in flight may have been answered before the change: the next caller
        # starts a new one, and the old one's answer is not kept
        self._generation += 1
        self._flights.clear()

    # ---- registries ----------------------------------------------------------------------
    async def add_connection(self, conn: Connection) -> None:
        table = self.agents if conn.role == "agent" else self.visitors
        conns = table.setdefault(conn.subject, set())
        conns.add(conn)
        metrics.CONNECTIONS[conn.role].inc()
        if len(conns) == 1:
            listener = _SubjectListener(self, conn.role, conn.subject)
            self._subject_listeners[(conn.role, conn.subject)] = listener
            await self.fanout.subscribe(self._subject_channel(conn.role, conn.subject), listener)

    async def remove_connection(self, conn: Connection) -> int:
        """Returns how many local connections the subject still has.

        The connection leaves the registry first (so a heartbeat never refreshes it
        again), then its subscriptions; a failed unsubscribe (Redis restarting) is
        logged, not raised: the fan-out drops channels without listeners when it
        reconnects, and the caller must still record the disconnect."""
        table = self.agents if conn.role == "agent" else self.visitors
        conns = table.get(conn.subject, set())
        if conn in conns:
            conns.discard(conn)
            metrics.CONNECTIONS[conn.role].dec()
        left = len(conns)
        listener = None
        if not conns:
            table.pop(conn.subject, None)
            listener = self._subject_listeners.pop((conn.role, conn.subject), None)
        try:
            await conn.unfollow_all()
        except RedisError as exc:  # Redis restarting: the fan-out drops them on reconnect
            log.warning("could not unfollow the chats of %s (%s)", conn.id, exc)
        except Exception:
            log.exception("could not unfollow the chats of %s", conn.id)
        if listener is not None:
            try:
                await self.fanout.unsubscribe(
                    self._subject_channel(conn.role, conn.subject), listener
                )
            except RedisError as exc:
                log.warning("could not unsubscribe %s %s (%s)", conn.role, conn.subject, exc)
            except Exception:
                log.exception("could not unsubscribe %s %s", conn.role, conn.subject)
        return left

    def _subject_channel(self, role: str, subject: str) -> str:
        if role == "agent":
            return self.keys.agent_channel(subject)
        return self.keys.visitor_channel(subject)

    async def record_agent_disconnect(self, agent_id: str, conn_id: str) -> None:
        """Record that one console connection is gone.  When Redis cannot be reached (it
        is restarting) the disconnect is kept and written by the next heartbeat, so the
        agent's presence is right within one heartbeat interval of Redis coming back."""
        try:
            await self.routing.agent_disconnect(agent_id, conn_id, self.now())
        except Exception as exc:  # Redis down or restarting: any failure is retried
            log.warning("agent disconnect of %s not recorded yet (%s)", agent_id, exc)
            self._unrecorded_disconnects.append((agent_id, conn_id))

    async def _after_heartbeat(self, sent: dict[str, list[str]]) -> None:
        """A connection that closed while the heartbeat was on its way (Redis slow or
        restarting) may have been refreshed after its disconnect was recorded: record
        the disconnect again, after the heartbeat."""
        for agent_id, ids in sent.items():
            live = {c.id for c in self.agents.get(agent_id, ())}
            self._unrecorded_disconnects.extend(
                (agent_id, conn_id) for conn_id in ids if conn_id not in live
            )
        await self._record_pending_disconnects()

    async def _record_pending_disconnects(self) -> None:
        """Part of the heartbeat, so on its pool: never behind client actions."""
        while self._unrecorded_disconnects:
            agent_id, conn_id = self._unrecorded_disconnects[0]
            await self.background_routing.agent_disconnect(agent_id, conn_id, self.now())
            self._unrecorded_disconnects.pop(0)

    def local(self, role: str, subject: str) -> set[Connection]:
        table = self.agents if role == "agent" else self.visitors
        return table.get(subject, set())

    async def _after_reconnect(self) -> None:
        await self.messages.refresh_epoch()
        with contextlib.suppress(RedisError):
            await self.notices.refresh()  # a notice or its end may have been missed
        for conns in [*self.agents.values(), *self.visitors.values()]:
            for conn in list(conns):
                await conn.catch_up_all()
        self.request_drain()
        self._positions.set()

    # ---- notifications -------------------------------------------------------------------
    async def notify_agent(
        self, agent_id: str, frame: dict[str, Any] | None = None, **ctl: Any
    ) -> None:
        await self.redis.publish(self.keys.agent_channel(agent_id), _control(frame, ctl))

    async def notify_visitor(
        self, visitor_id: str, frame: dict[str, Any] | None = None, **ctl: Any
    ) -> None:
        await self.redis.publish(self.keys.visitor_channel(visitor_id), _control(frame, ctl))

    async def queues_changed(self, redis: Redis | None = None) -> None:
        await (redis or self.redis).publish(self.keys.queue_channel, b"changed")

    async def chat_info(self, chat_id: str, *, for_agent: bool) -> dict[str, Any] | None:
        """What a client is told about a chat (agents also see the visitor's details)."""
        return (await self.chat_infos([chat_id], for_agent=for_agent))[0]

    async def chat_infos(
        self, chat_ids: Sequence[str], *, for_agent: bool, redis: Redis | None = None
    ) -> list[dict[str, Any] | None]:
        """``chat_info`` of many chats in two round trips (and one more per queued chat),
        through ``redis`` (default: the shared client)."""
        redis = redis or self.redis
        async with redis.pipeline(transaction=False) as pipe:
            for chat_id in chat_ids:
                pipe.hgetall(self.keys.chat(chat_id))
                pipe.hgetall(self.keys.chat_meta(chat_id))
            replies = await pipe.execute()
        chats = [chat_record(c, replies[2 * i]) for i, c in enumerate(chat_ids)]
        agent_ids = sorted(
            {c.agent for c in chats if c is not None and c.agent}
            | {_closer(c.raw) for c in chats if c is not None and _closer(c.raw)}
        )
        names: dict[str, str] = {}
        if agent_ids:
            async with redis.pipeline(transaction=False) as pipe:
                for agent_id in agent_ids:
                    pipe.hget(self.keys.agent(agent_id), "name")
                for agent_id, name in zip(agent_ids, await pipe.execute(), strict=True):
                    names[agent_id] = text(name) or agent_id
        out: list[dict[str, Any] | None] = []
        for i, chat in enumerate(chats):
            if chat is None:
                out.append(None)
                continue
            info = chat.public()
            meta = {text(k): text(v) for k, v in replies[2 * i + 1].items()}
            info["seq"] = int(meta.get("seq", 0))
            info["read"] = {k[5:]: int(v) for k, v in meta.items() if k.startswith("read:")}
            if chat.agent:
                info["agent"] = {"id": chat.agent, "name": names.get(chat.agent, chat.agent)}
            if chat.state is ChatState.QUEUED:
                info.update(await self.position_of(chat.id, chat.topic))
            if for_agent:
                info["visitor"] = {"id": chat.visitor, **chat.details}
                if "offer_deadline" in chat.raw:
                    info["offer_expires"] = int(chat.raw["offer_deadline"])
            if chat.state not in (ChatState.QUEUED, ChatState.OFFERED, ChatState.ACTIVE):
                info["ended_by"] = chat.raw.get("ended_by", "")
                info["outcome"] = chat.raw.get("outcome", "")
                closer = _closer(chat.raw)
                if closer:
                    # the name of the agent or supervisor who closed it, who may not be
                    # the agent who held it
                    info["ended_by_name"] = names.get(closer, closer)
            if for_agent:
                info["tags"] = _tags(chat.raw.get("tags", ""))
            out.append(info)
        return out

    async def position_of(self, chat_id: str, topic: str) -> dict[str, Any]:
        """``position``, ``available`` and (only with an eligible agent online) ``eta_s``."""
        position = await self.routing.queue_position(topic, chat_id) or 0
        avg = float(await self.redis.hget(self.keys.handle_time, topic) or 300.0)
        await self.availability.current()
        return self.availability.queue_fields(topic, position, avg)

    # ---- routing -------------------------------------------------------------------------
    def request_drain(self) -> None:
        self._drain.set()

    async def _drain_loop(self) -> None:
        while not self._stopping:
            await self._drain.wait()
            self._drain.clear()
            try:
                with metrics.timed(metrics.DRAIN_SECONDS):
                    await self.drain()
            except RedisError as exc:
                log.warning("drain failed (%s); retrying", exc)
                await asyncio.sleep(0.5)
                self._drain.set()
            except Exception:
                log.exception("drain failed")
                await asyncio.sleep(0.5)
                self._drain.set()

    async def drain(self) -> int:
        """Offer queued chats to eligible agents until nothing more can be assigned."""
        assigned = 0
        failures = 0
        window: int | None = None
        topics = await self.topics()
        for _ in range(50):
            self.stats["drains"] += 1
            with metrics.timed(metrics.REDIS["drain_snapshot"]):
                snap = await self.drain_routing.snapshot(topics, window)
            if not snap.chats or not snap.agents:
                break
            now = self.now()
            plan = policy.plan(snap.chats, snap.agents, now)
            if not plan:
                if snap.more and snap.window < MAX_WINDOW:
                    # the queue heads were all declined by (or need skills beyond) the
                    # free agents: look further back
                    window = min(MAX_WINDOW, 4 * snap.window)
                    continue
                break
            with metrics.timed(metrics.REDIS["drain_commit"]):
                results = await self.drain_routing.commit(plan, snap.topic_of, now)
            ok = [a for a, reason in results if reason == "ok"]
            assigned += len(ok)
            self.stats["assigned"] += len(ok)
            if ok:
                metrics.ASSIGNMENTS.inc(len(ok))
                with metrics.timed(metrics.REDIS["drain_notify"]):
                    await self._after_assign(ok)
                await self.queues_changed(self.drain_redis)
            else:
                # every pair lost a race with another process; re-read and try again
                failures += 1
                if failures >= 3:
                    break
        return assigned

    async def _after_assign(self, done: Sequence[policy.Assignment]) -> None:
        """Tell the agents of a routing pass's assignments: an ``offer``, or (auto-accept)
        ``assigned`` plus the new chat state for its participants; one pipeline."""
        infos = await self.chat_infos(
            [a.chat_id for a in done], for_agent=True, redis=self.drain_redis
        )
        now = self.now()
        for info in infos:
            if info is not None:
                metrics.START_TO_OFFER_SECONDS.observe(max(0, now - info["created"]) / 1000)
                if info["state"] == ChatState.ACTIVE.value:
                    metrics.OFFERS["auto_accepted"].inc()
        async with self.drain_redis.pipeline(transaction=False) as pipe:
            for a, info in zip(done, infos, strict=True):
                if info is None:
                    continue
                agent_channel = self.keys.agent_channel(a.agent_id)
                if info["state"] == ChatState.ACTIVE.value:
                    pipe.hset(
                        self.keys.chat_meta(a.chat_id),
                        f"p:{participant('agent', a.agent_id)}", "1",
                    )
                    pipe.publish(agent_channel, _control(
                        {"type": "assigned", "chat": info}, {"follow": a.chat_id}
                    ))
                    public = {k: v for k, v in info.items() if k not in _AGENT_ONLY}
                    pipe.publish(
                        self.keys.chat_channel(a.chat_id),
                        publication({"type": "chat", "chat": public}),
                    )
                else:
                    pipe.publish(agent_channel, _control(
                        {"type": "offer", "chat": info}, {"follow": a.chat_id}
                    ))
            await pipe.execute()

    async def publish_chat_state(self, chat_id: str) -> None:
        info = await self.chat_info(chat_id, for_agent=False)
        if info is not None:
            await self.messages.publish(chat_id, {"type": "chat", "chat": info})

    async def release(self, chat_id: str, agent_id: str, reason: str) -> None:
        """Tell an agent a chat is no longer theirs."""
        await self.messages.set_participants(chat_id, remove=[participant("agent", agent_id)])
        await self.notify_agent(
            agent_id, {"type": "revoked", "chat": chat_id, "reason": reason}, unfollow=chat_id
        )

    async def requeue(self, chat_id: str, event: ChatEvent, **kw: Any) -> str:
        """Put a chat back in a queue; returns 'ok' or why not."""
        outcome = await self.routing.requeue(chat_id, event, self.now(), **kw)
        if not outcome.ok:
            return outcome.reason
        if outcome.agent:
            await self.release(chat_id, outcome.agent, event.value)
            if event is ChatEvent.LAPSE:
                # an unanswered offer sets the agent away (not responding)
                await self.notify_agent(outcome.agent, {"type": "status", "status": "away"})
        await self.publish_chat_state(chat_id)
        # the visitor's process tracks queue positions only of chats that are queued
        await self.notify_visitor(outcome.visitor, watch=chat_id, topic=outcome.topic)
        await self.queues_changed()
        self.request_drain()
        return "ok"

    async def end_chat(
        self,
        chat_id: str,
        event: ChatEvent,
        *,
        by: str,
        outcome: str = "",
        tags: list[str] | None = None,
        required_agent: str = "",
        if_visitor_gone: bool = False,
    ) -> str:
        """Close, abandon or miss a chat; returns 'ok' or why not.  ``if_visitor_gone``:
        only if the visitor has no live socket (else 'visitor_back')."""
        now = self.now()
        record = await self.routing.get_chat(chat_id)
        result = await self.routing.end_chat(
            chat_id, event, now, by=by, outcome=outcome, tags=tags or [],
            required_agent=required_agent, if_visitor_gone=if_visitor_gone,
        )
        if not result.ok:
            return result.reason
        if result.agent:
            # capacity is free from this moment: route before telling anyone
            self.request_drain()
        await self.messages.close_chat(chat_id)
        await self.publish_chat_state(chat_id)
        if result.agent:
            await self.notify_agent(
                result.agent, {"type": "ended", "chat": chat_id, "by": by}, unfollow=chat_id
            )
            accepted = record.raw.get("accepted_at") if record else None
            if accepted:
                seconds = max(0.0, (now - int(accepted)) / 1000)
                old = float(await self.redis.hget(self.keys.handle_time, result.topic) or 0)
                await self.redis.hset(
                    self.keys.handle_time, result.topic, update_average(old, seconds)
                )
        if result.visitor:
            await self.notify_visitor(result.visitor, unfollow=chat_id)
        await self.queues_changed()
        return "ok"

    async def agent_went_offline(self, agent_id: str) -> None:
        for chat_id in await self.routing.agent_chat_ids(agent_id):
            await self.requeue(chat_id, ChatEvent.REQUEUE, expected_agent=agent_id)
        await self.notify_agent(agent_id, {"type": "status", "status": "offline"})

    # ---- loops ---------------------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.settings.heartbeat_interval_s)
            try:
                await self.heartbeat()
            except RedisError as exc:
                log.warning("heartbeat failed: %s", exc)

    async def heartbeat(self) -> None:
        """Refresh the presence of this process's agent and visitor connections, on the
        background pool (never waiting behind client actions for a connection)."""
        await self._record_pending_disconnects()
        now = self.now()
        conns = {a: [c.id for c in cs] for a, cs in self.agents.items() if cs}
        if await self.background_routing.heartbeat(conns, now):
            self.request_drain()
        await self._after_heartbeat(conns)
        if self.visitors:
            await self.background_presence.heartbeat(
                {v: [c.id for c in cs] for v, cs in self.visitors.items()}, now
            )

    async def _live_loop(self) -> None:
        """Push live figures to this node's supervisor connections."""
        figures = LiveFigures(self)
        while not self._stopping:
            await asyncio.sleep(self.settings.live_metrics_interval_s)
            supervisors = [
                c for conns in self.agents.values() for c in conns if c.supervisor
            ]
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

    async def _health_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(1.0)
            try:
                before = self.messages.epoch
                if await self.messages.refresh_epoch() != before:
                    log.warning("Redis restarted: message epoch is now %s", self.messages.epoch)
                # the run id, not the epoch: a reconnecting pool connection may have
                # bumped the epoch (and this process's copy of it) before this loop looked
                run_id = self.messages.run_id
                if self._redis_run_id and run_id != self._redis_run_id:
                    self.spawn(self._catch_up_after_restart())
                self._redis_run_id = run_id
            except RedisError:
                pass

    async def _catch_up_after_restart(self) -> None:
        """After a Redis restart, catch every local connection up from the chat logs.

        redis-py reconnects the pub/sub connection by itself (the pool's retry policy)
        and subscribes it again, so the fan-out may never see the outage and never run
        its own catch-up: a message published while the pub/sub connection was away
        would reach nobody until the next message of the same chat (found by the soak:
        the last message of a chat before its close was never delivered).  By the time the
        new run id is seen, the pub/sub connection is back within its retry backoff
        (at most 1 s), so the pass waits that long and reads the logs after it."""
        await asyncio.sleep(2 * RETRY_CAP_S)
        await self._after_reconnect()

    async def _positions_loop(self) -> None:
        """Tell local visitors their queue position whenever it changes.

        ``waiting`` holds the local visitors' queued chats; one that leaves its queue
        (offered, active, ended) leaves ``waiting`` too, and comes back through
        ``watch_position`` when it is queued again."""
        while not self._stopping:
            await self._positions.wait()
            self._positions.clear()
            try:
                await self._update_positions()
            except RedisError as exc:
                log.warning("position update failed: %s", exc)
            # coalesce: under load the queues change many times a second, and a pass
            # reads every local waiting chat
            await asyncio.sleep(self.settings.position_interval_s)

    async def _update_positions(self) -> None:
        """One pass: each topic queue with a local waiting visitor is read once (ZRANGE),
        and only chats missing from their queue (offered, active, ended, moved to another
        topic) or new here are looked up one by one."""
        if not self.waiting:
            return
        await self.availability.current()
        mark = self._watches
        topics = sorted({topic for topic, _ in self.waiting.values()})
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic in topics:
                pipe.zrange(self.keys.queue(topic), 0, -1)
                pipe.hget(self.keys.handle_time, topic)
            replies = await pipe.execute()
        handle: dict[str, float] = {}
        ranks: dict[str, tuple[str, int]] = {}
        for i, topic in enumerate(topics):
            handle[topic] = float(replies[2 * i + 1] or 300.0)
            for rank, member in enumerate(replies[2 * i]):
                chat_id = text(member)
                if chat_id in self.waiting:
                    ranks[chat_id] = (topic, rank + 1)
        unknown = [c for c in self.waiting if c not in ranks or c not in self._visitor_of]
        if unknown:
            async with self.redis.pipeline(transaction=False) as pipe:
                for chat_id in unknown:
                    pipe.hmget(self.keys.chat(chat_id), "state", "topic", "visitor")
                states = await pipe.execute()
            moved = False
            for chat_id, (state, topic, visitor) in zip(unknown, states, strict=True):
                state = text(state)
                if state == ChatState.QUEUED.value:
                    self._visitor_of[chat_id] = text(visitor)
                    if chat_id not in ranks:
                        # queued in another topic than we knew (transferred): next pass
                        self.waiting[chat_id] = (text(topic), -1)
                        moved = True
                elif self._watched.get(chat_id, 0) <= mark:
                    # offered, active or ended: out of the queue.  If it is queued again
                    # (declined, lapsed, agent gone, transferred to a queue), ``requeue``
                    # tells the visitor's process, which watches it again.  (Watched
                    # again while this pass was reading: keep it.)
                    self.waiting.pop(chat_id, None)
                    self._visitor_of.pop(chat_id, None)
                    self._watched.pop(chat_id, None)
            if moved:
                self._positions.set()
        for chat_id, (topic, position) in ranks.items():
            if self.waiting.get(chat_id, ("", -1))[1] == position:
                continue
            self.waiting[chat_id] = (topic, position)
            fields = self.availability.queue_fields(topic, position, handle[topic])
            data = encode({"type": "queue", "chat": chat_id, **fields})
            for conn in self.local("visitor", self._visitor_of.get(chat_id, "")):
                conn.send_raw(data)

    def requote(self, topics: set[str]) -> None:
        """Send the waiting visitors of ``topics`` their ``queue`` frame again (an
        eligible agent came or the last one went: the wait estimate appears or goes)."""
        for chat_id, (topic, _) in list(self.waiting.items()):
            if topic in topics:
                self.waiting[chat_id] = (topic, -1)
        if self.waiting:
            self._positions.set()

    def watch_position(self, chat_id: str, topic: str) -> None:
        """Track a local visitor's live chat for queue position updates."""
        self.waiting.setdefault(chat_id, (topic, -1))
        self._watches += 1
        self._watched[chat_id] = self._watches
        self._positions.set()

    async def _timer_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.settings.timer_interval_s)
            try:
                await self.run_timers()
            except RedisError as exc:
                log.warning("timers failed: %s", exc)
            except Exception:
                log.exception("timers failed")

    async def run_timers(self) -> None:
        """One pass of the timers.  What is due is read, and presence swept, on the
        timers' own pool (``background_redis``); the actions a timer takes (requeue, end)
        go through the shared one and, if one fails, stay due for the next pass.  Each
        kind is bounded per pass (``due``), so a backlog of leftovers (presence of a dead
        process's connections) is repaired over several passes, between live traffic."""
        now = self.now()
        routing, presence = self.background_routing, self.background_presence
        resumed = await presence.timers_tick(now)
        due = await routing.due(now)
        for chat_id in due["offers"]:
            if await self.requeue(chat_id, ChatEvent.LAPSE) == "ok":
                metrics.OFFERS["lapsed"].inc()
        relaxed = False
        for chat_id in due["relax"]:
            relaxed |= await routing.relax(chat_id, now)
        if relaxed:
            self.request_drain()
        for chat_id in due["missed"]:
            await self.end_chat(chat_id, ChatEvent.MISS, by="system", outcome="missed")
        for chat_id in due["idle"]:
            last = int((await self.messages.meta(chat_id)).get("last_ts", 0))
            deadline = last + int(self.settings.chat_idle_timeout_s * 1000)
            if last and deadline > now:
                await routing.reschedule_idle(chat_id, deadline)
            else:
                await self.end_chat(chat_id, ChatEvent.CLOSE, by="system", outcome="timeout")
        for agent_id in due["presence"]:
            await routing.sweep_agent(agent_id, now, grace_due=False)
        for agent_id in due["graces"]:
            if await routing.sweep_agent(agent_id, now, grace_due=True) == "offline":
                await self.agent_went_offline(agent_id)
        for visitor_id in await presence.due_sweeps(now):
            await presence.sweep(visitor_id, now)
        grace = int(self.settings.visitor_leave_grace_s * 1000)
        if gone_after_outage(0, resumed, grace) <= now:
            # (after an outage no mark is due before resumed + grace: see core/presence)
            await self._visitors_gone(now)

    async def _visitors_gone(self, now: int) -> None:
        """End the chat of every visitor who counts as gone (no live socket anywhere for
        ``VISITOR_LEAVE_GRACE_S``; see ``core/presence.py``), whatever its state now."""
        for visitor_id, due in await self.background_presence.due_gone(now):
            chat_id = await self.background_routing.visitor_open_chat(visitor_id)
            chat = await self.background_routing.get_chat(chat_id) if chat_id else None
            decision = end_for_gone_visitor(chat.state) if chat is not None else None
            if chat is None or decision is None:
                await self.background_presence.clear_gone(visitor_id, due)
                continue
            event, outcome = decision
            reason = await self.end_chat(
                chat.id, event, by="system", outcome=outcome, if_visitor_gone=True
            )
            if reason not in ("ok", "invalid_state", "retry"):
                # back (a socket opened), or nothing left to end
                await self.background_presence.clear_gone(visitor_id, due)
            # the state changed in between (e.g. offered -> active): the mark stays, and
            # the next pass decides again on the new state


def _closer(raw: Mapping[str, str]) -> str:
    """The agent id in ``ended_by`` (``agent:<id>`` or ``supervisor:<id>``), else ''."""
    role, _, who = raw.get("ended_by", "").partition(":")
    return who if role in ("agent", "supervisor") else ""


def _tags(raw: str) -> list[str]:
    try:
        tags = json.loads(raw or "[]")
    except ValueError:
        return []
    return [str(t) for t in tags] if isinstance(tags, list) else []


class _SubjectListener:
    """Control messages for one agent or visitor, applied to their local connections."""

    def __init__(self, node: Node, role: str, subject: str) -> None:
        self.node, self.role, self.subject = node, role, subject

    def on_publish(self, channel: str, data: bytes) -> None:
        payload = _ctl_decoder.decode(data)
        self.node.spawn(self._apply(payload))

    async def _apply(self, payload: dict[str, Any]) -> None:
        ctl = payload.get("ctl", {})
        frame = payload.get("frame")
        # encoded once for all the subject's connections, not once per connection
        data = encode(frame) if frame is not None else None
        status = encode({"type": "status", "status": ctl["status"]}) if "status" in ctl else None
        for conn in list(self.node.local(self.role, self.subject)):
            if "revoke_below" in ctl and conn.version < ctl["revoke_below"]:
                conn.close(4401, "credentials revoked")
                continue
            if data is not None:
                conn.send_raw(data)
            if "follow" in ctl:
                await conn.follow(ctl["follow"], 0)
            if "unfollow" in ctl:
                await conn.unfollow(ctl["unfollow"])
            if status is not None:
                conn.send_raw(status)
        if "watch" in ctl and self.node.local(self.role, self.subject):
            self.node.watch_position(ctl["watch"], ctl["topic"])


class _QueueListener:
    def __init__(self, node: Node) -> None:
        self.node = node

    def on_publish(self, channel: str, data: bytes) -> None:
        if data == b"drain":
            self.node.request_drain()
        elif data == AGENTS_CHANGED:
            self.node.availability.poke()
        if self.node.waiting:
            self.node._positions.set()
