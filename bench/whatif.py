"""Run `chatserver serve` with an experimental change applied in memory (nothing in
``chatserver/`` is edited): the bench uses it to measure what a suggested fix would gain.

    python -m bench.whatif CHANGE[,CHANGE...]

Changes:

- ``pool``: the Redis client queues for a free connection (``BlockingConnectionPool``,
  up to 20 s) instead of failing at once with ``MaxConnectionsError`` when 200 commands
  are in flight (``chatserver/store/redis_conn.py``).
- ``tracemalloc``: not a change but a measurement: Python allocations are traced; SIGUSR1
  takes a snapshot, SIGUSR2 another and writes what grew in between, by line and by file,
  to ``bench/results/profiles/tracemalloc-<port>.txt`` (the idle scenario sends both
  around its connection steps: what each idle connection holds).
- ``singleflight``: the widget-settings and topics caches refresh once per expiry, however
  many requests find them stale at the same moment (``Node.widget_settings``/``topics``).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any


def patch_pool() -> None:
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    import chatserver.hub.node as node_mod
    import chatserver.store.redis_conn as rc

    def connect(url: str, *, max_connections: int = 200) -> Redis:
        pool = BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=20,
            decode_responses=False, health_check_interval=5, socket_connect_timeout=2,
            socket_keepalive=True,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=8),
            retry_on_error=[RedisConnectionError, RedisTimeoutError, ConnectionResetError],
        )
        return Redis(connection_pool=pool)

    rc.connect = connect
    node_mod.connect = connect  # type: ignore[attr-defined]


def patch_singleflight() -> None:
    from chatserver.hub.node import Node

    for name in ("widget_settings", "topics"):
        original = getattr(Node, name)

        def make(orig: Any, attr: str) -> Any:
            async def shared(self: Any) -> Any:
                pending = getattr(self, attr, None)
                if pending is not None and not pending.done():
                    return await asyncio.shield(pending)
                fut = asyncio.ensure_future(orig(self))
                setattr(self, attr, fut)
                return await fut

            return shared

        setattr(Node, name, make(original, f"_whatif_{name}"))


def trace_allocations() -> None:
    import os
    import signal
    import tracemalloc
    from pathlib import Path

    tracemalloc.start(1)
    out = Path(__file__).resolve().parent / "results" / "profiles"
    state: dict[str, Any] = {}

    def first(*_: Any) -> None:
        state["a"] = tracemalloc.take_snapshot()

    def second(*_: Any) -> None:
        if "a" not in state:
            return
        b = tracemalloc.take_snapshot()
        lines = []
        for key in ("lineno", "filename"):
            stats = b.compare_to(state["a"], key)
            total = sum(s.size_diff for s in stats)
            lines.append(f"== grown by {key}: {total / 2**20:.1f} MiB in total")
            for st in stats[:40]:
                lines.append(f"{st.size_diff / 1024:10.1f} KiB {st.count_diff:+8d} blocks  "
                             f"{st.traceback}")
        out.mkdir(parents=True, exist_ok=True)
        (out / f"tracemalloc-{os.environ.get('PORT', 'hub')}.txt").write_text(
            "\n".join(lines) + "\n")

    signal.signal(signal.SIGUSR1, first)
    signal.signal(signal.SIGUSR2, second)


def apply(spec: str) -> None:
    for c in [c for c in spec.split(",") if c]:
        {"pool": patch_pool, "singleflight": patch_singleflight,
         "tracemalloc": trace_allocations}[c]()


def main() -> None:
    apply(sys.argv[1])
    from chatserver.cli import main as cli_main

    cli_main(["serve"])


if __name__ == "__main__":
    main()
