"""The node: one hub process.  It wires the parts together, starts them and stops them;
it holds no cache and no business rule.

- ``store/``: the Redis connections and the stores on them (client actions share one
  multiplexed connection; the drainer and the background jobs have their own);
- ``hub/``: the connection ``registry``, the ``notifier`` (control messages and
  listeners), the ``catalog`` (cached topics and widget settings), chat ``views``,
  ``positions``, the ``drainer``, ``availability``, ``notices`` and the ``jobs``;
- ``service/``: the actions sessions and REST handlers call;
- ``records/``: the SQL engine and the records writer (with ``BACKGROUND_JOBS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.auth import Credentials
from chatserver.clock import Clock, new_id, wall_ms
from chatserver.filestore import FileStore, LocalFileStore, load_scan_hook
from chatserver.hub.availability import AvailabilityWatch
from chatserver.hub.catalog import Catalog
from chatserver.hub.drainer import Drainer
from chatserver.hub.fanout import Fanout
from chatserver.hub.jobs import Jobs
from chatserver.hub.notices import NoticeWatch
from chatserver.hub.notifier import Notifier
from chatserver.hub.positions import Positions
from chatserver.hub.registry import Registry
from chatserver.hub.views import ChatViews
from chatserver.records import runner as records
from chatserver.records.database import create_engine, database_url
from chatserver.records.writer import RecordWriter
from chatserver.service.admin import AdminActions
from chatserver.service.agents import AgentActions
from chatserver.service.chats import ChatActions
from chatserver.service.messages import MessageActions
from chatserver.service.onsite import OnSiteActions
from chatserver.service.visitors import VisitorActions
from chatserver.settings import Settings
from chatserver.store.agent_presence import AgentPresenceStore
from chatserver.store.chats import ChatStore
from chatserver.store.config import ConfigStore
from chatserver.store.directory import Directory
from chatserver.store.embedded import EmbeddedRedis
from chatserver.store.keys import Keys
from chatserver.store.locks import Lease
from chatserver.store.messages import MessageStore
from chatserver.store.onsite import OnSiteStore
from chatserver.store.outbox import Outbox
from chatserver.store.profiles import VisitorProfiles
from chatserver.store.publish import Publisher
from chatserver.store.ratelimits import RateLimits
from chatserver.store.redis_conn import connect, resolve_url
from chatserver.store.routing import RoutingStore
from chatserver.store.scripts import Scripts
from chatserver.store.timers import TimerStore
from chatserver.store.views import ChatReads
from chatserver.store.visitors import VisitorStore
from chatserver.store.watchers import Watchers

log = logging.getLogger(__name__)


class Node:
    def __init__(self, settings: Settings, clock: Clock = wall_ms) -> None:
        self.settings = settings
        self.clock = clock
        self.keys = Keys(settings.key_prefix)
        self.node_id = new_id("n")
        self.credentials = Credentials(settings)
        self.files: FileStore = LocalFileStore(settings.files_path)
        self.scan_hook = load_scan_hook(settings.file_scan_hook)
        self.embedded: EmbeddedRedis | None = None
        self.redis_url = ""
        self.records_redis: Redis | None = None
        self.engine: AsyncEngine | None = None
        self.writer: RecordWriter | None = None
        self.registry = Registry(settings)
        self.jobs = Jobs(self)
        self.actions = ChatActions(self)
        self.agent_actions = AgentActions(self)
        self.visitor_actions = VisitorActions(self)
        self.message_actions = MessageActions(self)
        self.admin = AdminActions(self)
        self.onsite_actions = OnSiteActions(self)
        self.stopping = asyncio.Event()
        self.draining = False
        """Shutdown has begun: ``/readyz`` answers 503 (the process still serves)."""
        self._loops: list[asyncio.Task[Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    # ---- wiring --------------------------------------------------------------------------
    def _connect(self) -> None:
        url, self.embedded = resolve_url(self.settings)
        self.redis_url = url
        s, keys = self.settings, self.keys
        # every client action shares one multiplexed connection (no pool to wait on); the
        # drainer has its own (a burst of client requests must not delay a routing pass),
        # and so do the heartbeat and timers (never queued behind client actions)
        self.redis = connect(url, max_inflight=s.redis_max_inflight)
        self.drain_redis = connect(url, max_inflight=s.redis_max_inflight)
        self.background_redis = connect(url, max_inflight=s.redis_max_inflight)
        scripts = Scripts(self.redis)
        self.directory = Directory(self.redis, keys)
        self.config = ConfigStore(self.redis, keys)
        self.routing = RoutingStore(self.redis, keys, scripts, s)
        self.chats = ChatStore(self.redis, keys, scripts, s)
        self.agent_presence = AgentPresenceStore(self.redis, keys, scripts, s)
        self.outbox = Outbox(self.redis, keys)
        self.messages = MessageStore(self.redis, keys, scripts, s)
        self.visitor_presence = VisitorStore(self.redis, keys, scripts, s)
        self.profiles = VisitorProfiles(self.redis, keys)
        self.onsite = OnSiteStore(self.redis, keys, scripts, s)
        self.watchers = Watchers(self.redis, keys)
        self.rate_limits = RateLimits(self.redis, keys)
        self.reads = ChatReads(self.redis, keys)
        self.publisher = Publisher(self.redis, keys)
        drain_scripts = Scripts(self.drain_redis)
        self.drain_routing = RoutingStore(self.drain_redis, keys, drain_scripts, s)
        background_scripts = Scripts(self.background_redis)
        self.background_reads = ChatReads(self.background_redis, keys)
        self.background_routing = RoutingStore(self.background_redis, keys, background_scripts, s)
        self.background_chats = ChatStore(self.background_redis, keys, background_scripts, s)
        self.background_agents = AgentPresenceStore(
            self.background_redis, keys, background_scripts, s
        )
        self.background_timers = TimerStore(self.background_redis, keys, background_scripts, s)
        self.background_presence = VisitorStore(self.background_redis, keys, background_scripts, s)

    def _wire(self) -> None:
        self.catalog = Catalog(self.directory, self.config)
        self.fanout = Fanout(self.redis, self.keys.queue_channel, self.after_reconnect)
        self.notifier = Notifier(self, self.publisher, self.keys)
        self.registry.notifier = self.notifier
        self.availability = AvailabilityWatch(self)
        self.notices = NoticeWatch(self)
        self.views = ChatViews(self.reads, self.routing, self.availability)
        self.positions = Positions(self.settings, self.reads, self.registry, self.availability)
        self.drainer = Drainer(
            routing=self.drain_routing,
            reads=self.reads.using(self.drain_redis),
            publisher=self.publisher.using(self.drain_redis),
            catalog=self.catalog,
            views=self.views,
            notifier=self.notifier,
            clock=self.clock,
        )

    # ---- lifecycle -----------------------------------------------------------------------
    async def start(self, serve: bool = True) -> None:
        """Connect and, when ``serve``, start fan-out and the background loops (an admin
        command uses the node without them)."""
        self._connect()
        self._wire()
        self.messages.guard_epoch()
        await self.messages.refresh_epoch()
        await self.directory.ensure_default_topic(self.settings.default_topic)
        if not serve:
            return
        self.engine = create_engine(database_url(self.settings))
        await records.migrate_once(
            self.engine, Lease(self.redis, self.keys.migrate_lock, self.node_id)
        )
        await self.fanout.start()
        await self.notifier.start()
        await self.fanout.subscribe(self.keys.notice_channel, self.notices)
        await self.notices.start()
        stopping = self.stopping
        self._loops = [
            asyncio.create_task(self.drainer.run(stopping), name="drainer"),
            asyncio.create_task(self.positions.run(stopping), name="positions"),
            asyncio.create_task(self.availability.run(), name="availability"),
            asyncio.create_task(self.notices.run(), name="notices"),
            *self.jobs.tasks(),
        ]
        if self.settings.background_jobs:
            self.records_redis, self.writer, tasks = records.start(
                self.redis_url, self.keys, self.engine, self.settings, self.clock, self.node_id
            )
            self._loops += tasks

    async def stop(self, code: int = 1001) -> None:
        """Close every local socket with ``code`` (1001: reconnect elsewhere), stop the
        loops, and stop the embedded server if this process started it."""
        self.draining = True
        self.registry.close_all(code, "server shutting down")
        await asyncio.sleep(0.05)
        self.stopping.set()
        pending = [*self._loops, *self._tasks]
        for task in pending:
            task.cancel()
        # a task inside a Redis call may take a moment to see its cancellation; never
        # let it hold the process open
        if pending:
            await asyncio.wait(pending, timeout=3)
        with contextlib.suppress(Exception):
            await self.fanout.stop()
        if self.engine is not None:
            with contextlib.suppress(Exception):
                await self.engine.dispose()
        for redis in (self.redis, self.drain_redis, self.background_redis, self.records_redis):
            if redis is not None:
                with contextlib.suppress(Exception):
                    await redis.aclose()
        if self.embedded is not None:
            self.embedded.stop()

    async def after_reconnect(self) -> None:
        """Redis came back (or its pub/sub connection did): catch every local connection
        up from the chat logs and route and quote again."""
        await self.messages.refresh_epoch()
        with contextlib.suppress(Exception):
            await self.notices.refresh()  # a notice or its end may have been missed
        for conn in list(self.registry.all()):
            await conn.catch_up_all()
        self.drainer.request()
        self.positions.wake()

    # ---- for the parts ------------------------------------------------------------------
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
