"""The store contract suite's fixture: every store concept, typed as its Protocol
(``chatserver/store/protocols.py``), backed here by the Redis classes on the real Valkey.
A different implementation passes the same suite by providing another ``Stores``.

Every contract test runs twice: ``[valkey]`` on one Valkey (``redis_url``) and ``[cluster]``
on the session's real 3-master Valkey Cluster (``valkey_cluster``, through the product's
``redis+cluster://`` client), each test with its own key prefix."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from chatserver.settings import Settings
from chatserver.store.agent_presence import AgentPresenceStore
from chatserver.store.chats import ChatStore
from chatserver.store.config import ConfigStore
from chatserver.store.directory import Directory, Role, Topic
from chatserver.store.keys import Keys
from chatserver.store.messages import MessageStore
from chatserver.store.notices import NoticeStore
from chatserver.store.outbox import Outbox as OutboxStream
from chatserver.store.protocols import (
    AgentDirectory,
    AgentPresence,
    Chats,
    Messages,
    Notices,
    Outbox,
    RateLimitStore,
    Routing,
    Timers,
    VisitorPresence,
)
from chatserver.store.protocols import Settings as SettingsStore
from chatserver.store.ratelimits import RateLimits
from chatserver.store.redis_conn import connect
from chatserver.store.routing import RoutingStore
from chatserver.store.scripts import Scripts
from chatserver.store.timers import TimerStore
from chatserver.store.visitors import VisitorStore
from tests.cluster.harness import ValkeyCluster

T0 = 1_800_000_000_000
"""The suite's clock starts here (ms); every store call is given its time."""

SETTINGS = Settings(
    offer_timeout_s=20, chat_idle_timeout_s=600, queue_timeout_s=900, relax_after_s=60,
    offline_grace_s=30, presence_ttl_s=10, visitor_leave_grace_s=5, rating_window_s=3600,
)


@dataclass(frozen=True)
class Stores:
    chats: Chats
    routing: Routing
    agents: AgentPresence
    timers: Timers
    outbox: Outbox
    visitors: VisitorPresence
    messages: Messages
    limits: RateLimitStore
    directory: AgentDirectory
    config: SettingsStore
    notices: Notices
    settings: Settings

    async def agent(
        self, agent_id: str, *, capacity: int = 2, skills: dict[str, int] | None = None,
        online: bool = True,
    ) -> None:
        """An agent, connected and online (so available) unless ``online`` is False."""
        await self.directory.create_agent(
            agent_id, name=agent_id, password_hash="", role=Role.AGENT, capacity=capacity,
            skills=skills or {}, now_ms=T0,
        )
        if online:
            status, became = await self.agents.agent_connect(agent_id, f"{agent_id}-c1", T0)
            assert (status, became) == ("online", True)

    async def topic(
        self, name: str = "general", *, required: dict[str, int] | None = None,
        optional: dict[str, int] | None = None,
    ) -> Topic:
        return await self.directory.set_topic(
            name, required=required or {}, optional=optional or {}, priority=5
        )


def cluster_url(c: ValkeyCluster) -> str:
    """The product's URL for the test cluster: three of its nodes as seeds."""
    return "redis+cluster://" + ",".join(f"{h}:{p}" for h, p in c.seed_hosts[:3]) + "/0"


@pytest.fixture(params=["valkey", "cluster"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The Redis the contract suite runs on: one Valkey, or the Valkey Cluster (started
    only when a ``[cluster]`` test runs)."""
    if request.param == "cluster":
        return cluster_url(request.getfixturevalue("valkey_cluster"))
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
async def stores(store_url: str) -> AsyncIterator[Stores]:
    prefix = f"st{uuid.uuid4().hex[:10]}"
    settings = dataclasses.replace(SETTINGS, key_prefix=prefix)
    keys = Keys(prefix)
    redis = connect(store_url)
    scripts = Scripts(redis)
    try:
        yield Stores(
            chats=ChatStore(redis, keys, scripts, settings),
            routing=RoutingStore(redis, keys, scripts, settings),
            agents=AgentPresenceStore(redis, keys, scripts, settings),
            timers=TimerStore(redis, keys, scripts, settings),
            outbox=OutboxStream(redis, keys),
            visitors=VisitorStore(redis, keys, scripts, settings),
            messages=MessageStore(redis, keys, scripts, settings),
            limits=RateLimits(redis, keys),
            directory=Directory(redis, keys),
            config=ConfigStore(redis, keys),
            notices=NoticeStore(redis, keys, scripts),
            settings=settings,
        )
    finally:
        await redis.aclose()

