"""``ClusterRedis``: the ``MuxRedis`` the product uses on a cluster."""

from __future__ import annotations

from redis.asyncio import Redis

from chatserver.store.cluster.mux import ClusterMux
from chatserver.store.cluster.topology import HookOptions, PoolFactory
from chatserver.store.cluster.urls import parse_cluster_url
from chatserver.store.multiplex import MuxRedis


class ClusterRedis(MuxRedis):
    """A ``MuxRedis`` on a cluster: see the module's docstring.  ``connection_pool`` is
    the first seed's (unused: the fan-out's sharded pub/sub opens a connection per
    master, ``pubsub.py``)."""

    publish_command = "SPUBLISH"
    """What the Lua scripts publish with (``Scripts``): sharded pub/sub."""

    def __init__(
        self,
        url: str,
        pool_for: PoolFactory,
        *,
        max_inflight: int = 10_000,
    ) -> None:
        seeds, node_url = parse_cluster_url(url)
        seed_pool = pool_for(node_url(*seeds[0]))
        seed_pool.connection_kwargs = HookOptions(seed_pool.connection_kwargs)
        Redis.__init__(self, connection_pool=seed_pool)
        self.mux: ClusterMux = ClusterMux(
            seeds, node_url, pool_for, seed_pool, max_inflight=max_inflight
        )
