"""Issue 9, item 8: agents' presence stays right across a Valkey restart.

Agents connect and disconnect on two hub processes while Valkey restarts.  Every
disconnect must be recorded (the agent leaves the available set and has no live
connection left) within one heartbeat interval of Valkey answering again, even though
the presence TTL is long, and no pub/sub subscribe or unsubscribe may collide with the
fan-out's reader (``RuntimeError: read() called while another coroutine ...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from redis.exceptions import RedisError

from chatserver.client import ChatClient
from chatserver.store.keys import Keys
from tests.harness import Cluster, Valkey, scaled

HEARTBEAT_S = 1.0
AGENTS = 10


async def _churn(
    cluster: Cluster, token: str, server: int, stop: asyncio.Event, opened: list[int]
) -> None:
    """Connect, stay a moment, disconnect; again until ``stop``.  Failures (Valkey down)
    are expected and retried."""
    n = 0
    while not stop.is_set():
        client: ChatClient | None = None
        try:
            client = await asyncio.wait_for(cluster.agent(token, server=server), scaled(10))
            opened[0] += 1
            await asyncio.sleep(0.02 * (n % 5))
        except Exception:
            await asyncio.sleep(0.05)
        finally:
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.close()
        n += 1
        server = 1 - server


async def _presence(cluster: Cluster, agent_ids: list[str]) -> dict[str, tuple[int, bool]]:
    """agent -> (live connections recorded, in the available set)."""
    keys = Keys(cluster.prefix)
    redis = cluster.redis()
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for agent_id in agent_ids:
                pipe.zcard(keys.agent_conns(agent_id))
                pipe.sismember(keys.available, agent_id)
            replies = await pipe.execute()
    finally:
        await redis.aclose()
    return {
        a: (int(replies[2 * i]), bool(replies[2 * i + 1])) for i, a in enumerate(agent_ids)
    }


@pytest.mark.timeout(180)
async def test_i9_08_valkey_restart_every_disconnect_recorded_within_a_heartbeat() -> None:
    valkey = Valkey(appendonly=True)
    valkey.start()
    # a long presence TTL: a disconnect that was not recorded would show for a minute
    cluster = Cluster(
        valkey.url, n=2, presence_ttl_s="60", heartbeat_interval_s=str(HEARTBEAT_S),
        offline_grace_s="60",
    )
    keeper: ChatClient | None = None
    try:
        await cluster.start()
        ids = [f"churn{i}" for i in range(AGENTS)]
        tokens = [await cluster.add_agent(a) for a in ids]
        keeper = await cluster.agent(await cluster.add_agent("keeper"), reconnect=True)
        stop = asyncio.Event()
        opened = [0]
        tasks = [
            asyncio.create_task(_churn(cluster, t, i % 2, stop, opened))
            for i, t in enumerate(tokens)
        ]
        try:
            for _ in range(2):
                await asyncio.sleep(scaled(1.5))
                await asyncio.to_thread(valkey.restart)
            await asyncio.sleep(scaled(1.5))
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        assert opened[0] > AGENTS  # the churn really happened
        # Valkey answers again (wait for it; the bound below starts from here)
        deadline = time.monotonic() + scaled(30)
        while True:
            try:
                await _presence(cluster, ids)
                break
            except (RedisError, OSError):
                assert time.monotonic() < deadline, "Valkey did not come back"
                await asyncio.sleep(0.1)
        # within one heartbeat interval (plus the time a hub needs to notice the closed
        # sockets): no churned agent is present or available
        deadline = time.monotonic() + scaled(HEARTBEAT_S + 2)
        while True:
            presence = await _presence(cluster, ids)
            ghosts = {a: p for a, p in presence.items() if p != (0, False)}
            if not ghosts:
                break
            assert time.monotonic() < deadline, f"disconnects not recorded: {ghosts}"
            await asyncio.sleep(0.1)
        # the agent who stayed is still present and available
        deadline = time.monotonic() + scaled(HEARTBEAT_S * 3 + 5)
        while (await _presence(cluster, ["keeper"]))["keeper"] != (1, True):
            assert time.monotonic() < deadline, "the connected agent is not present"
            await asyncio.sleep(0.1)
    finally:
        if keeper is not None:
            await keeper.close()
        cluster.stop()
        valkey.stop()
    logs = "".join(s.output() for s in cluster.servers)
    assert "read() called while another coroutine" not in logs
    assert "RuntimeError" not in logs
