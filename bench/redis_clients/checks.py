"""Does each cluster client follow ASK and MOVED by itself?  ``python -m
bench.redis_clients.checks`` starts a 3-master cluster, lets each client cache the slot
map, then moves one slot by hand (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE):

- during the move (key already on the target, slot still owned by the source) a GET gets
  ``-ASK``: the client must send ASKING + GET to the target;
- after the move a GET gets ``-MOVED``: the client must follow and refresh its map;
- EVALSHA of a script on a key of the moved slot and an SPUBLISH/SSUBSCRIBE on a channel
  of that slot must work afterwards too;
- a sharded subscription made before the move (the server drops it with SUNSUBSCRIBE when
  the slot leaves) must still deliver afterwards: the client re-subscribes on the new owner.

Failover is not exercised (the spike cluster has no replicas)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from redis.cluster import key_slot

from bench.redis_clients.clients import CLUSTER, Adapter
from bench.redis_clients.servers import SLOTS, Node, Servers

SCRIPT = "return redis.call('GET', KEYS[1])"


def owner(servers: Servers, slot: int) -> int:
    n = len(servers.nodes)
    return next(i for i in range(n) if i * SLOTS // n <= slot <= (i + 1) * SLOTS // n - 1)


def node_id(node: Node) -> str:
    return str(node.client.execute_command("CLUSTER", "MYID").decode())


async def check(cls: type[Adapter], servers: Servers, tag: str) -> dict[str, Any]:
    key = f"spike:move:{{{tag}}}"
    channel = f"spike:movech:{{{tag}}}"
    early = f"spike:early:{{{tag}}}"
    slot = key_slot(key.encode())
    src_i = owner(servers, slot)
    src, dst = servers.nodes[src_i], servers.nodes[(src_i + 1) % len(servers.nodes)]
    out: dict[str, Any] = {"client": cls.name}
    a = cls()
    await a.open(*servers.host_port)
    try:
        await a.set(key, b"before")
        assert await a.get(key) == b"before"
        sha = await a.script_load(SCRIPT)
        got: list[bytes] = []
        await a.open_subscriber(lambda ch, data: got.append(data))
        await a.subscribe([early])  # subscribed before the move: must follow the slot
        await asyncio.sleep(0.2)
        src_id, dst_id = node_id(src), node_id(dst)
        dst.client.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        src.client.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        src.client.execute_command("MIGRATE", "127.0.0.1", dst.port, "", 0, 5000,
                                   "KEYS", key)
        for name, step in (("ask_get", lambda: a.get(key)),):
            try:
                async with asyncio.timeout(10):
                    out[name] = repr(await step())
            except Exception as e:
                out[name] = "FAILED " + repr(e)[:160]
        for n in servers.nodes:
            n.client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        await asyncio.sleep(0.2)
        try:
            async with asyncio.timeout(10):
                out["moved_get"] = repr(await a.get(key))
                out["moved_evalsha"] = repr(await a.evalsha(sha, [key], []))
        except Exception as e:
            out["moved"] = "FAILED " + repr(e)[:160]
        try:
            async with asyncio.timeout(10):
                await a.subscribe([channel])
                await asyncio.sleep(0.2)
                await a.publish(channel, b"after-move")
                while not got:  # noqa: ASYNC110 (bounded by the timeout above)
                    await asyncio.sleep(0.02)
                out["moved_sharded_pubsub"] = repr(got[0])
        except Exception as e:
            out["moved_sharded_pubsub"] = "FAILED " + repr(e)[:160]
        got.clear()
        try:
            async with asyncio.timeout(10):
                await a.publish(early, b"kept")
                while not got:  # noqa: ASYNC110 (bounded by the timeout above)
                    await asyncio.sleep(0.02)
                out["subscription_from_before_the_move"] = repr(got[0])
        except Exception as e:
            out["subscription_from_before_the_move"] = "FAILED " + repr(e)[:160]
    finally:
        await a.close()
    return out


def main() -> None:
    rows = []
    with Servers(cluster=True) as servers:
        for i, cls in enumerate(CLUSTER.values()):
            try:
                rows.append(asyncio.run(check(cls, servers, f"t{i}")))
            except Exception as e:
                rows.append({"client": cls.name, "failed": repr(e)[:300]})
            print(json.dumps(rows[-1]), flush=True)
    out = Path(__file__).resolve().parent.parent / "results" / "redis_clients_checks.json"
    out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
