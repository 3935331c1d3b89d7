"""The multiplexed client on a Redis/Valkey Cluster: each group of commands goes to the
master serving its keys' slot, over that master's one shared connection.

**Choosing it.**  ``REDIS_URL=redis+cluster://host:port,host:port/`` (``rediss+cluster://``
for TLS; ``user:password@`` before the first host, query options after the path, as in a
``redis://`` URL): every ``host:port`` is a seed, any one reachable is enough.
``redis_conn.connect`` returns this client for such a URL and the plain ``MuxRedis`` for
any other, unchanged.

**What the rest of the product sees.**  A ``MuxRedis`` (``store/multiplex.py``): command
methods, pipelines, ``MULTI``/``EXEC`` transactions, ``Scripts.call`` (``EVALSHA`` with
every key in KEYS, ``SCRIPT LOAD`` on ``NOSCRIPT``).  Only its ``mux`` differs: a
``ClusterMux``, which keeps one ``Multiplexer`` per master and routes each group:

- a command goes to the master of its keys' slot (keys found from ``COMMAND``, read once
  from the cluster; ``EVAL``/``EVALSHA``/``FCALL`` by their ``numkeys``, ``XREAD`` after
  ``STREAMS``, other movable-key commands by ``COMMAND GETKEYS``); a keyless command to
  any master;
- a transaction goes whole to the master of its one slot (keys in two slots are refused
  with ``CrossSlotTransactionError``: one action, one slot);
- a pipeline (no transaction) is split by master, the parts sent at once, the replies put
  back in order;
- ``SCRIPT LOAD``/``SCRIPT FLUSH``/``FLUSHALL``/``FLUSHDB`` go to every master (a script
  is then on whichever master later runs it).

**Topology changes.**  The slot map comes from ``CLUSTER SLOTS`` (asked of known masters,
then of the seeds).  A ``MOVED`` reply updates the slot at once, refreshes the map in the
background and resends the command to the new master; ``ASK`` resends it once to the
importing node after ``ASKING`` (a transaction, instead, waits for the migration to end:
``ASKING`` would not cover its queued commands); ``TRYAGAIN``, ``CLUSTERDOWN``,
``LOADING`` and a dropped or refused connection (a killed master) wait, refresh the map
and resend.  A command is resent at most ``ATTEMPTS`` times, with jittered pauses capped
at ``BACKOFF_CAP_S`` (7 to 14 s in all), then its error is raised: that bounds how long
a failover may take before callers see errors (Valkey's ``cluster-node-timeout``, 15 s
by default, plus the election; lower it where that matters).  Only commands that got a
redirection are resent, so a pipeline's other writes never run twice; a transaction is
resent whole only when ``EXEC`` was aborted.  As on one server, a command whose connection dropped
before its reply is resent (it may have run).

**The connect hook** (``redis_connect_func``, the epoch guard of
``MessageStore.guard_epoch``, set on ``connection_pool``'s options) runs on every new
connection: each master's and the pub/sub one.  Its script touches keys of one slot, so
on every other node it is answered ``MOVED``: that answer is ignored there (the hook
does its work on the connections to the master of its slot, whichever that is after a
failover).

**Pub/sub** is sharded on a cluster: a ``PUBLISH`` sent through this client goes out as
``SPUBLISH`` to the master of the channel's slot (the Lua scripts are told to use
``SPUBLISH`` too: ``PUBLISH_COMMAND``), and the fan-out subscribes with ``SSUBSCRIBE``
over one pub/sub connection per master (``pubsub.py``).

Not covered here: ``WATCH`` (refused, as on ``MuxRedis``) and reads from replicas.

**Modules.**  ``urls.py`` (the URL, the pooled client), ``topology.py`` (masters, slot
map, refresh, the connect hook), ``mux.py`` (routing and running groups), ``client.py``
(``ClusterRedis``), ``pubsub.py`` (sharded subscriptions).
"""

from chatserver.store.cluster.client import ClusterRedis
from chatserver.store.cluster.mux import ClusterMux
from chatserver.store.cluster.topology import NodeMux, Topology
from chatserver.store.cluster.urls import (
    SCHEMES,
    Address,
    is_cluster_url,
    parse_cluster_url,
    pooled_cluster,
)

__all__ = [
    "SCHEMES",
    "Address",
    "ClusterMux",
    "ClusterRedis",
    "NodeMux",
    "Topology",
    "is_cluster_url",
    "parse_cluster_url",
    "pooled_cluster",
]
