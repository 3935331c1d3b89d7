"""Live figures pushed to supervisors, and the metrics REST endpoint."""

from __future__ import annotations

import asyncio
import time

import pytest

from chatserver.client import http
from tests.harness import Cluster, scaled


@pytest.mark.timeout(60)
async def test_supervisor_gets_live_figures_that_change_as_chats_arrive(redis_url: str) -> None:
    cluster = Cluster(redis_url, n=2, live_metrics_interval_s="0.3")
    await cluster.start()
    try:
        sup = await cluster.agent(
            await cluster.add_agent("sue", role="supervisor", capacity=0), server=1
        )
        first = await sup.wait_for(lambda f: f["type"] == "live", scaled(10))
        general = next(q for q in first["queues"] if q["topic"] == "general")
        assert general["waiting"] == 0
        assert {a["id"] for a in first["agents"]} >= {"admin", "sue"}
        visitor = await cluster.visitor(server=0)
        await visitor.start()
        since = len(sup.frames)
        busy = await sup.wait_for(
            lambda f: f["type"] == "live"
            and any(q["topic"] == "general" and q["waiting"] == 1 for q in f["queues"]),
            scaled(10), since=since,
        )
        assert busy["chats"]["queued"] == 1
        plain = await cluster.agent(await cluster.add_agent("pat", capacity=0))
        await asyncio.sleep(1)
        assert not any(f["type"] == "live" for f in plain.frames)  # supervisors only
        for c in (sup, visitor, plain):
            await c.close()
    finally:
        cluster.stop()


@pytest.mark.timeout(60)
async def test_metrics_endpoint(cluster: Cluster) -> None:
    agent = await cluster.agent(await cluster.add_agent("alice"))
    visitor = await cluster.visitor()
    chat = await visitor.start()
    await agent.wait_for(lambda f: f["type"] == "offer", scaled(10))
    await agent.request({"type": "accept", "chat": chat["id"]})
    await agent.say(chat["id"], "hello")
    await agent.request({"type": "close", "chat": chat["id"], "outcome": "resolved"})
    await visitor.request({"type": "rate", "chat": chat["id"], "rating": 5})
    url = f"{cluster.urls[0]}/api/metrics"
    deadline = time.monotonic() + scaled(15)
    while True:
        status, body = await http("GET", url, token=cluster.admin_token)
        assert status == 200, body
        if body["metrics"]["answered"] == 1 and body["metrics"]["rated"] == 1:
            break
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.2)
    m = body["metrics"]
    assert m["offered"] == 1 and m["csat"] == 1.0 and m["avg_rating"] == 5.0
    status, grouped = await http("GET", url + "?group=agent", token=cluster.admin_token)
    assert status == 200 and grouped["groups"]["alice"]["answered"] == 1
    status, _ = await http("GET", url + "?group=planet", token=cluster.admin_token)
    assert status == 400
    token = await cluster.add_agent("bob")
    status, _ = await http("GET", url, token=token)
    assert status == 403
    for c in (agent, visitor):
        await c.close()
