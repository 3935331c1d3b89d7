"""A visitor on one process talks with an agent on the other."""

from __future__ import annotations

from tests.harness import Cluster


async def test_visitor_and_agent_on_different_processes(cluster: Cluster) -> None:
    token = await cluster.add_agent("alice", capacity=2)
    agent = await cluster.agent(token, server=1)
    visitor = await cluster.visitor(server=0)
    chat = await visitor.start(name="Ada")
    assert chat["state"] in ("queued", "offered")
    await visitor.say(chat["id"], "hello from process 0")
    offer = await agent.wait_for(lambda f: f["type"] == "offer")
    assert offer["chat"]["id"] == chat["id"]
    assert offer["chat"]["visitor"]["name"] == "Ada"
    await agent.request({"type": "accept", "chat": chat["id"]})
    # the agent receives the history that was written before the offer
    history = await agent.wait_messages(chat["id"], 1)
    assert history[0]["text"] == "hello from process 0"
    await visitor.wait_for(
        lambda f: f["type"] == "chat" and f["chat"]["state"] == "active"
    )
    await agent.say(chat["id"], "hello from process 1")
    got = await visitor.wait_messages(chat["id"], 2)
    assert [m["text"] for m in got] == ["hello from process 0", "hello from process 1"]
    assert [m["seq"] for m in got] == [1, 2]
    await agent.request({"type": "close", "chat": chat["id"], "outcome": "resolved"})
    closed = await visitor.wait_for(
        lambda f: f["type"] == "chat" and f["chat"]["state"] == "closed"
    )
    assert closed["chat"]["outcome"] == "resolved"
    for c in (agent, visitor):
        await c.close()
