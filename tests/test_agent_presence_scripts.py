"""The agent presence scripts (``lua/agent_*.lua``, run through ``store/agent_presence.py``)
against the pure model of ``core/agent_presence.py``, on the real Valkey: after every
step of a random trace, the agent's status, live connections, grace period and membership
of the available set are what the model says."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatserver.core import agent_presence as ap
from chatserver.core.agent_presence import AgentPresence, AgentStatus
from chatserver.settings import Settings
from chatserver.store.agent_presence import AgentPresenceStore
from chatserver.store.keys import Keys
from chatserver.store.scripts import Scripts

TTL_MS, GRACE_MS = 3_000, 2_000
trace = st.lists(
    st.tuples(
        st.sampled_from(
            ["connect", "disconnect", "kill", "heartbeat", "status", "disable", "sweep", "grace"]
        ),
        st.integers(0, 2),
        st.sampled_from(list(AgentStatus)),
    ),
    max_size=20,
)


@pytest.mark.timeout(120)
async def test_agent_presence_scripts_follow_the_model(redis_url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    keys = Keys("apm")
    store = AgentPresenceStore(
        client, keys, Scripts(client),
        Settings(presence_ttl_s=TTL_MS / 1000, offline_grace_s=GRACE_MS / 1000),
    )
    loop = asyncio.get_running_loop()
    runs = 0

    async def check(steps: list[tuple[str, int, AgentStatus]]) -> None:
        nonlocal runs
        runs += 1
        agent = f"a{runs}"
        await client.hset(keys.agent(agent), "name", agent)
        model = AgentPresence()
        now = 1_000_000
        opened: set[str] = set()  # connections whose process heartbeats them
        for kind, n, status in steps:
            now += 1
            conn = f"{agent}c{n}"
            before = model
            if kind == "connect" and conn not in model.conns:
                model, accepted = ap.connect(model, conn)
                got, became = await store.agent_connect(agent, conn, now)
                if accepted:
                    opened.add(conn)
                    assert got == model.status
                    assert became == (model.available and not before.available)
                else:
                    assert got == "disabled" and not became
            elif kind == "disconnect" and conn in opened:
                opened.discard(conn)
                model = ap.disconnect(model, conn)
                await store.agent_disconnect(agent, conn, now)
            elif kind == "kill" and conn in opened:
                opened.discard(conn)  # its process died: it is never heard of again
            elif kind == "heartbeat" and opened:
                model = ap.heartbeat(model, opened)
                back = await store.heartbeat({agent: sorted(opened)}, now)
                assert back == (model.available and not before.available)
            elif kind == "status":
                model = ap.set_status(model, status)
                got, became = await store.set_status(agent, status.value, now)
                assert got == model.status
                assert became == (model.available and not before.available)
            elif kind == "disable":
                model = ap.disable(model)
                await client.hset(keys.agent(agent), "disabled", "1")
                await client.srem(keys.available, agent)  # as the directory does
            elif kind in ("sweep", "grace"):
                # time passes beyond the presence TTL; live processes heartbeat first
                now += TTL_MS + 1
                if opened:
                    model = ap.heartbeat(model, opened)
                    await store.heartbeat({agent: sorted(opened)}, now)
                model = ap.expire(model, model.conns - opened)
                if kind == "grace":
                    model = ap.grace_end(model)
                result = await store.sweep_agent(agent, now, grace_due=kind == "grace")
                if model.conns:
                    assert result == "present"
                else:
                    assert result == ("offline" if kind == "grace" else "grace")
            raw_status, disabled = await client.hmget(keys.agent(agent), "status", "disabled")
            live = await client.zrangebyscore(keys.agent_conns(agent), f"({now}", "+inf")
            where = (steps, kind, conn)
            assert (raw_status or b"offline").decode() == model.status, where
            assert {c.decode() for c in live} == set(model.conns), where
            assert bool(await client.sismember(keys.available, agent)) == model.available, where
            assert (await client.zscore(keys.graces, agent) is not None) == model.grace, where
            assert (disabled == b"1") == model.disabled, where

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(trace)
    def run(steps: list[tuple[str, int, AgentStatus]]) -> None:
        asyncio.run_coroutine_threadsafe(check(steps), loop).result()

    try:
        await asyncio.to_thread(run)
    finally:
        await client.delete(*[k async for k in client.scan_iter("apm:*")] or ["apm:none"])
        await client.aclose()
