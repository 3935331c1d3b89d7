"""Routing behaviour through real clients: who gets which chat, and when.

Every test runs real `chatserver serve` processes against a real Redis and talks to them
through :class:`chatserver.client.ChatClient`; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from chatserver.client import ChatClient, ClientError, http
from tests.harness import Cluster, scaled

Frame = dict[str, Any]


# ---- helpers -----------------------------------------------------------------------------
@asynccontextmanager
async def running(redis_url: str, n: int = 1, **env: str) -> AsyncIterator[Cluster]:
    """A cluster with its own settings (on top of FAST_SETTINGS)."""
    c = Cluster(redis_url, n=n, **env)
    await c.start()
    try:
        yield c
    finally:
        c.stop()


async def close_all(*clients: ChatClient) -> None:
    for c in clients:
        await c.close()


def is_offer(chat_id: str | None = None) -> Callable[[Frame], bool]:
    return lambda f: f["type"] == "offer" and (chat_id is None or f["chat"]["id"] == chat_id)


def offers(client: ChatClient) -> list[str]:
    return [f["chat"]["id"] for f in client.frames if f["type"] == "offer"]


async def first_offer(agents: dict[str, ChatClient], chat_id: str, timeout: float = 5) -> str:
    """Which agent receives the offer of ``chat_id`` (waits for it)."""

    async def one(name: str, client: ChatClient) -> str:
        await client.wait_for(is_offer(chat_id), scaled(timeout))
        return name

    tasks = [asyncio.create_task(one(n, c)) for n, c in agents.items()]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return next(iter(done)).result()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def chat_field(cluster: Cluster, chat_id: str, name: str = "state") -> str:
    r = cluster.redis()
    try:
        value = await r.hget(f"{cluster.prefix}:{{rt}}:chat:{chat_id}", name)
    finally:
        await r.aclose()
    return value.decode() if value is not None else ""


async def routing_events(cluster: Cluster) -> list[dict[str, str]]:
    r = cluster.redis()
    try:
        entries = await r.xrange(f"{cluster.prefix}:{{rt}}:events")
    finally:
        await r.aclose()
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


async def get_agent(cluster: Cluster, agent_id: str) -> Frame:
    status, body = await http(
        "GET", f"{cluster.urls[0]}/api/agents/{agent_id}", None, cluster.admin_token
    )
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def patch_agent(cluster: Cluster, agent_id: str, **body: Any) -> Frame:
    status, reply = await http(
        "PATCH", f"{cluster.urls[0]}/api/agents/{agent_id}", body, cluster.admin_token
    )
    assert status == 200, reply
    return reply  # type: ignore[no-any-return]


async def accept(agent: ChatClient, chat_id: str) -> None:
    await agent.request({"type": "accept", "chat": chat_id})
    await agent.wait_for(lambda f: f["type"] == "assigned" and f["chat"]["id"] == chat_id)


async def close_chat(agent: ChatClient, chat_id: str) -> None:
    await agent.request({"type": "close", "chat": chat_id, "outcome": "resolved"})


async def quiet(seconds: float = 0.6) -> None:
    """Give the server time to do something it must not do."""
    await asyncio.sleep(scaled(seconds))


def assert_capacity_respected(events: list[dict[str, str]]) -> None:
    assigns = [e for e in events if e["t"] == "assign"]
    assert assigns
    for e in assigns:
        assert int(e["load"]) <= int(e["cap"]), e


# ---- choice of agent ---------------------------------------------------------------------
async def test_most_free_capacity_wins_then_idle_longest(single: Cluster) -> None:
    # "a" sorts first but has less room: free capacity decides before anything else
    a = await single.agent(await single.add_agent("a", capacity=2))
    b = await single.agent(await single.add_agent("b", capacity=3))
    agents = {"a": a, "b": b}
    visitors = []
    winners = []
    for _ in range(4):
        v = await single.visitor()
        visitors.append(v)
        chat = await v.start()
        winners.append(await first_offer(agents, chat["id"]))
    # free: a2 b3 -> b | a2 b2, a idle longer -> a | a1 b2 -> b | a1 b1, a idle longer -> a
    assert winners == ["b", "a", "b", "a"]
    assert len(offers(a)) == 2 and len(offers(b)) == 2
    await close_all(a, b, *visitors)


async def test_ties_go_to_the_agent_idle_longest(single: Cluster) -> None:
    a1 = await single.agent(await single.add_agent("a1", capacity=1))
    v1 = await single.visitor()
    c1 = await v1.start()
    await a1.wait_for(is_offer(c1["id"]))
    await accept(a1, c1["id"])
    await close_chat(a1, c1["id"])
    # b2 has never had a chat: idle longer than a1, although a1 sorts first
    b2 = await single.agent(await single.add_agent("b2", capacity=1))
    agents = {"a1": a1, "b2": b2}
    v2 = await single.visitor()
    c2 = await v2.start()
    assert await first_offer(agents, c2["id"]) == "b2"
    await accept(b2, c2["id"])
    await close_chat(b2, c2["id"])
    # now a1's last assignment is older than b2's
    v3 = await single.visitor()
    c3 = await v3.start()
    assert await first_offer(agents, c3["id"]) == "a1"
    await close_all(a1, b2, v1, v2, v3)


async def test_required_skill_and_minimum_proficiency(single: Cluster) -> None:
    await single.set_topic("billing", required={"billing": 5})
    low = await single.agent(await single.add_agent("low", capacity=5, skills={"billing": 3}))
    plain = await single.agent(await single.add_agent("plain", capacity=5))
    high = await single.agent(await single.add_agent("high", capacity=1, skills={"billing": 7}))
    v1, v2 = await single.visitor(), await single.visitor()
    c1 = await v1.start(topic="billing")
    await high.wait_for(is_offer(c1["id"]))
    await accept(high, c1["id"])
    # high is full: the second billing chat waits rather than go to billing:3 or no skill
    c2 = await v2.start(topic="billing")
    await quiet()
    assert offers(low) == [] and offers(plain) == []
    assert await chat_field(single, c2["id"]) == "queued"
    await close_chat(high, c1["id"])
    await high.wait_for(is_offer(c2["id"]))
    assert offers(low) == [] and offers(plain) == []
    assigned = {e["agent"] for e in await routing_events(single) if e["t"] == "assign"}
    assert assigned == {"high"}
    await close_all(low, plain, high, v1, v2)


async def test_remaining_ties_go_to_the_higher_proficiency(single: Cluster) -> None:
    await single.set_topic("billing", required={"billing": 1})
    # same free capacity, both never assigned: "a" sorts first but knows less billing
    a = await single.agent(await single.add_agent("a", capacity=2, skills={"billing": 3}))
    b = await single.agent(await single.add_agent("b", capacity=2, skills={"billing": 9}))
    v = await single.visitor()
    chat = await v.start(topic="billing")
    assert await first_offer({"a": a, "b": b}, chat["id"]) == "b"
    await close_all(a, b, v)


async def test_granting_a_skill_drains_at_once(single: Cluster) -> None:
    await single.set_topic("billing", required={"billing": 4})
    agent = await single.agent(await single.add_agent("learner", capacity=2))
    v = await single.visitor()
    chat = await v.start(topic="billing")
    await quiet(0.4)
    assert offers(agent) == []
    started = time.monotonic()
    await patch_agent(single, "learner", skills={"billing": 6})
    await agent.wait_for(is_offer(chat["id"]))
    assert time.monotonic() - started < scaled(1.0)
    await close_all(agent, v)


async def test_skill_without_stated_level_counts_as_default_proficiency(single: Cluster) -> None:
    await single.set_topic("need6", required={"billing": 6})
    await single.set_topic("need5", required={"billing": 5})
    agent = await single.agent(await single.add_agent("d", capacity=3, skills={"billing": 0}))
    v6, v5 = await single.visitor(), await single.visitor()
    c6 = await v6.start(topic="need6")
    c5 = await v5.start(topic="need5")
    await agent.wait_for(is_offer(c5["id"]))
    await quiet(0.4)
    assert offers(agent) == [c5["id"]]
    assert await chat_field(single, c6["id"]) == "queued"
    await close_all(agent, v6, v5)


async def test_agent_on_other_process_gets_chat_for_skill(cluster: Cluster) -> None:
    await cluster.set_topic("sales", required={"sales": 1})
    general = await cluster.agent(await cluster.add_agent("gen", capacity=5), server=0)
    seller = await cluster.agent(
        await cluster.add_agent("seller", capacity=1, skills={"sales": 4}), server=1
    )
    v = await cluster.visitor(server=0)
    chat = await v.start(topic="sales")
    await seller.wait_for(is_offer(chat["id"]))
    assert offers(general) == []
    await close_all(general, seller, v)


# ---- status and capacity -----------------------------------------------------------------
async def test_away_agent_gets_nothing_until_online_then_queue_drains_at_once(
    single: Cluster,
) -> None:
    agent = await single.agent(await single.add_agent("amy", capacity=2))
    reply = await agent.request({"type": "status", "status": "away"})
    assert reply["status"] == "away"
    assert (await get_agent(single, "amy"))["status"] == "away"
    v1, v2 = await single.visitor(), await single.visitor()
    c1, c2 = await v1.start(), await v2.start()
    await quiet()
    assert offers(agent) == []
    assert await chat_field(single, c1["id"]) == "queued"
    started = time.monotonic()
    await agent.request({"type": "status", "status": "online"})
    await agent.wait_for(is_offer(c1["id"]))
    await agent.wait_for(is_offer(c2["id"]))
    elapsed = time.monotonic() - started
    assert elapsed < scaled(0.5), f"queue drained {elapsed:.3f}s after going online"
    await close_all(agent, v1, v2)


async def test_capacity_is_never_exceeded_second_chat_waits_first_in_line(
    single: Cluster,
) -> None:
    agent = await single.agent(await single.add_agent("solo", capacity=1))
    v1 = await single.visitor()
    c1 = await v1.start()
    await agent.wait_for(is_offer(c1["id"]))
    await accept(agent, c1["id"])
    v2 = await single.visitor()
    c2 = await v2.start()
    assert c2["state"] == "queued" and c2["position"] == 1
    queued = await v2.wait_for(lambda f: f["type"] == "queue" and f["chat"] == c2["id"])
    assert queued["position"] == 1
    await quiet()
    assert offers(agent) == [c1["id"]]
    await close_chat(agent, c1["id"])
    await agent.wait_for(is_offer(c2["id"]), scaled(1))
    assert_capacity_respected(await routing_events(single))
    await close_all(agent, v1, v2)


async def test_offers_count_against_capacity(single: Cluster) -> None:
    # an offer not yet answered already holds a unit of capacity
    agent = await single.agent(await single.add_agent("solo", capacity=1))
    v1, v2 = await single.visitor(), await single.visitor()
    c1 = await v1.start()
    await agent.wait_for(is_offer(c1["id"]))
    c2 = await v2.start()
    await quiet()
    assert offers(agent) == [c1["id"]]
    assert await chat_field(single, c2["id"]) == "queued"
    await close_all(agent, v1, v2)


async def test_raising_capacity_drains_the_queue_at_once(single: Cluster) -> None:
    agent = await single.agent(await single.add_agent("grow", capacity=1))
    v1, v2 = await single.visitor(), await single.visitor()
    c1 = await v1.start()
    await agent.wait_for(is_offer(c1["id"]))
    await accept(agent, c1["id"])
    c2 = await v2.start()
    await quiet(0.4)
    assert offers(agent) == [c1["id"]]
    started = time.monotonic()
    updated = await patch_agent(single, "grow", capacity=2)
    assert updated["capacity"] == 2
    await agent.wait_for(is_offer(c2["id"]))
    elapsed = time.monotonic() - started
    assert elapsed < scaled(1.0), f"offer came {elapsed:.3f}s after the capacity change"
    assert_capacity_respected(await routing_events(single))
    await close_all(agent, v1, v2)


async def test_lowering_capacity_to_zero_stops_new_offers(single: Cluster) -> None:
    agent = await single.agent(await single.add_agent("shrink", capacity=2))
    await patch_agent(single, "shrink", capacity=0)
    v = await single.visitor()
    chat = await v.start()
    await quiet()
    assert offers(agent) == []
    await patch_agent(single, "shrink", capacity=1)
    await agent.wait_for(is_offer(chat["id"]))
    await close_all(agent, v)


# ---- decline and lapse -------------------------------------------------------------------
async def test_decline_goes_to_the_other_agent_and_never_back(single: Cluster) -> None:
    a = await single.agent(await single.add_agent("a", capacity=2))
    b = await single.agent(await single.add_agent("b", capacity=2))
    agents = {"a": a, "b": b}
    v = await single.visitor()
    chat = await v.start()
    first = await first_offer(agents, chat["id"])
    other = "b" if first == "a" else "a"
    await agents[first].request({"type": "decline", "chat": chat["id"]})
    await agents[first].wait_for(
        lambda f: f["type"] == "revoked" and f["chat"] == chat["id"]
    )
    await agents[other].wait_for(is_offer(chat["id"]))
    # the second agent declines too: nobody eligible is left, the chat stays queued
    await agents[other].request({"type": "decline", "chat": chat["id"]})
    await quiet()
    assert offers(agents[first]) == [chat["id"]]
    assert offers(agents[other]) == [chat["id"]]
    assert await chat_field(single, chat["id"]) == "queued"
    # a new eligible agent gets it at once
    c = await single.agent(await single.add_agent("c", capacity=1))
    await c.wait_for(is_offer(chat["id"]))
    await close_all(a, b, c, v)


async def test_sole_decliner_is_not_offered_the_chat_again(single: Cluster) -> None:
    a = await single.agent(await single.add_agent("only", capacity=3))
    v = await single.visitor()
    chat = await v.start()
    await a.wait_for(is_offer(chat["id"]))
    mark = len(v.frames)
    reply = await a.request({"type": "decline", "chat": chat["id"]})
    assert reply["type"] == "ok"
    # the visitor is told they are back in the queue, first in line
    back = await v.wait_for(
        lambda f: f["type"] == "chat" and f["chat"]["state"] == "queued", since=mark
    )
    assert back["chat"]["position"] == 1
    # capacity freed and a status change (away -> online) must not bring it back
    await a.request({"type": "status", "status": "away"})
    await a.request({"type": "status", "status": "online"})
    await quiet()
    assert offers(a) == [chat["id"]]
    assert await chat_field(single, chat["id"]) == "queued"
    # another visitor's chat still reaches the same agent
    v2 = await single.visitor()
    c2 = await v2.start()
    await a.wait_for(is_offer(c2["id"]))
    await close_all(a, v, v2)


@pytest.mark.timeout(30)
async def test_unanswered_offer_lapses_to_the_next_agent(redis_url: str) -> None:
    async with running(redis_url, offer_timeout_s="1") as cl:
        a = await cl.agent(await cl.add_agent("a", capacity=2))
        b = await cl.agent(await cl.add_agent("b", capacity=2))
        agents = {"a": a, "b": b}
        v = await cl.visitor()
        started = time.monotonic()
        chat = await v.start()
        first = await first_offer(agents, chat["id"])
        other = "b" if first == "a" else "a"
        await agents[other].wait_for(is_offer(chat["id"]), scaled(5))
        waited = time.monotonic() - started
        assert 0.95 <= waited < scaled(2.5), waited
        revoked = await agents[first].wait_for(
            lambda f: f["type"] == "revoked" and f["chat"] == chat["id"]
        )
        assert revoked["reason"] == "lapse"
        assert (await get_agent(cl, first))["status"] == "away"
        assert (await get_agent(cl, other))["status"] == "online"
        # the lapsed agent cannot accept any more
        with pytest.raises(ClientError) as refused:
            await agents[first].request({"type": "accept", "chat": chat["id"]})
        assert refused.value.code == "forbidden"
        await accept(agents[other], chat["id"])
        release = [e for e in await routing_events(cl) if e["t"] == "release"]
        assert [(e["agent"], e["reason"]) for e in release] == [(first, "lapse")]
        await close_all(a, b, v)


@pytest.mark.timeout(30)
async def test_lapsed_agent_is_told_they_are_away(redis_url: str) -> None:
    async with running(redis_url, offer_timeout_s="1") as cl:
        agent = await cl.agent(await cl.add_agent("sleepy", capacity=2))
        v = await cl.visitor()
        try:
            chat = await v.start()
            await agent.wait_for(is_offer(chat["id"]))
            await agent.wait_for(lambda f: f["type"] == "revoked", scaled(5))
            assert (await get_agent(cl, "sleepy"))["status"] == "away"
            # the console must learn that the server set the agent away, or it keeps
            # showing "online" while receiving nothing
            await agent.wait_for(
                lambda f: f["type"] == "status" and f["status"] == "away", scaled(2)
            )
        finally:
            await close_all(agent, v)


@pytest.mark.timeout(30)
async def test_lapsed_agent_coming_back_online_gets_other_chats_not_the_lapsed_one(
    redis_url: str,
) -> None:
    async with running(redis_url, offer_timeout_s="1") as cl:
        agent = await cl.agent(await cl.add_agent("sleepy", capacity=2))
        v1 = await cl.visitor()
        c1 = await v1.start()
        await agent.wait_for(is_offer(c1["id"]))
        await agent.wait_for(lambda f: f["type"] == "revoked", scaled(5))
        v2 = await cl.visitor()
        c2 = await v2.start()
        await quiet(0.4)
        assert offers(agent) == [c1["id"]]  # away: nothing new
        await agent.request({"type": "status", "status": "online"})
        await agent.wait_for(is_offer(c2["id"]))
        await quiet(0.4)
        assert offers(agent) == [c1["id"], c2["id"]]
        assert await chat_field(cl, c1["id"]) == "queued"
        await close_all(agent, v1, v2)


# ---- relaxation and priority -------------------------------------------------------------
@pytest.mark.timeout(30)
async def test_optional_skill_is_dropped_after_relax_time(redis_url: str) -> None:
    async with running(redis_url, relax_after_s="1") as cl:
        await cl.set_topic("billing-fr", required={"billing": 1}, optional={"french": 1})
        agent = await cl.agent(await cl.add_agent("bill", capacity=2, skills={"billing": 5}))
        v = await cl.visitor()
        started = time.monotonic()
        chat = await v.start(topic="billing-fr")
        await asyncio.sleep(0.5)  # real time, not scaled: half the relax time
        assert offers(agent) == []
        await agent.wait_for(is_offer(chat["id"]), scaled(5))
        waited = time.monotonic() - started
        assert waited >= 0.9, waited  # not before the relax time (1 s; the clock is real)
        assert any(
            e["t"] == "relax" and e["chat"] == chat["id"] for e in await routing_events(cl)
        )
        await close_all(agent, v)


@pytest.mark.timeout(30)
async def test_agent_with_the_optional_skill_is_served_before_relaxation(
    redis_url: str,
) -> None:
    async with running(redis_url, relax_after_s="30") as cl:
        await cl.set_topic("billing-fr", required={"billing": 1}, optional={"french": 3})
        plain = await cl.agent(await cl.add_agent("bill", capacity=5, skills={"billing": 5}))
        weak = await cl.agent(
            await cl.add_agent("weak", capacity=5, skills={"billing": 5, "french": 2})
        )
        fluent = await cl.agent(
            await cl.add_agent("fluent", capacity=1, skills={"billing": 2, "french": 8})
        )
        v = await cl.visitor()
        chat = await v.start(topic="billing-fr")
        await fluent.wait_for(is_offer(chat["id"]))
        assert offers(plain) == [] and offers(weak) == []
        await close_all(plain, weak, fluent, v)


@pytest.mark.timeout(30)
async def test_declined_chat_still_relaxes_its_optional_skills(redis_url: str) -> None:
    async with running(redis_url, relax_after_s="1") as cl:
        await cl.set_topic("billing-fr", required={"billing": 1}, optional={"french": 1})
        fluent = await cl.agent(
            await cl.add_agent("fluent", capacity=1, skills={"billing": 5, "french": 5})
        )
        plain = await cl.agent(await cl.add_agent("plain", capacity=5, skills={"billing": 5}))
        v = await cl.visitor()
        try:
            chat = await v.start(topic="billing-fr")
            # only the French speaker qualifies before relaxation; they decline at once
            await fluent.wait_for(is_offer(chat["id"]))
            await fluent.request({"type": "decline", "chat": chat["id"]})
            # the chat has now waited longer than RELAX_AFTER_S: billing alone must do
            await plain.wait_for(is_offer(chat["id"]), scaled(4))
        finally:
            await close_all(fluent, plain, v)


async def test_higher_priority_chat_is_served_before_an_older_lower_one(single: Cluster) -> None:
    await single.set_topic("low", priority=1)
    await single.set_topic("high", priority=8)
    agent = await single.agent(await single.add_agent("p", capacity=1))
    v0 = await single.visitor()
    c0 = await v0.start()
    await agent.wait_for(is_offer(c0["id"]))
    await accept(agent, c0["id"])
    v_low, v_high = await single.visitor(), await single.visitor()
    c_low = await v_low.start(topic="low")
    await asyncio.sleep(0.05)
    c_high = await v_high.start(topic="high")
    assert c_high["priority"] == 8 and c_low["priority"] == 1
    await close_chat(agent, c0["id"])
    await agent.wait_for(is_offer(c_high["id"]))
    assert offers(agent) == [c0["id"], c_high["id"]]
    await accept(agent, c_high["id"])
    await close_chat(agent, c_high["id"])
    await agent.wait_for(is_offer(c_low["id"]))
    await close_all(agent, v0, v_low, v_high)


async def test_queue_order_within_a_topic_is_oldest_first(single: Cluster) -> None:
    agent = await single.agent(await single.add_agent("fifo", capacity=1))
    await agent.request({"type": "status", "status": "away"})
    visitors = [await single.visitor() for _ in range(3)]
    chats = []
    for v in visitors:
        chats.append((await v.start())["id"])
        await asyncio.sleep(0.01)
    await agent.request({"type": "status", "status": "online"})
    for c in chats:
        await agent.wait_for(is_offer(c))
        await accept(agent, c)
        await close_chat(agent, c)
    assert offers(agent) == chats
    await close_all(agent, *visitors)


async def test_chat_nobody_can_take_does_not_block_the_chats_behind_it(
    single: Cluster,
) -> None:
    await single.set_topic("rare", required={"klingon": 1}, priority=9)
    agent = await single.agent(await single.add_agent("gen", capacity=2))
    await agent.request({"type": "status", "status": "away"})
    v_rare, v_gen = await single.visitor(), await single.visitor()
    c_rare = await v_rare.start(topic="rare")
    c_gen = await v_gen.start()
    await agent.request({"type": "status", "status": "online"})
    await agent.wait_for(is_offer(c_gen["id"]))
    assert offers(agent) == [c_gen["id"]]
    assert await chat_field(single, c_rare["id"]) == "queued"
    await close_all(agent, v_rare, v_gen)


@pytest.mark.timeout(60)
async def test_chats_the_agent_declined_deeper_than_a_routing_pass_reads_do_not_block(
    single: Cluster,
) -> None:
    """A routing pass reads only the head of each queue (twice the free capacity, at
    least 16 chats).  When every chat there was declined by the only free agent, the
    pass looks further back instead of leaving the agent idle."""
    agent = await single.agent(await single.add_agent("picky", capacity=1))
    await agent.request({"type": "status", "status": "away"})
    visitors = [await single.visitor() for _ in range(20)]
    chats = [(await v.start())["id"] for v in visitors]
    await agent.request({"type": "status", "status": "online"})
    declined: list[str] = []
    for _ in range(18):
        offer = await agent.wait_for(
            lambda f: f["type"] == "offer" and f["chat"]["id"] not in declined, scaled(10)
        )
        declined.append(offer["chat"]["id"])
        await agent.request({"type": "decline", "chat": offer["chat"]["id"]})
    # 18 declined chats now stand at the head of the queue, more than one pass reads
    rest = [c for c in chats if c not in declined]
    offer = await agent.wait_for(
        lambda f: f["type"] == "offer" and f["chat"]["id"] in rest, scaled(10)
    )
    assert offer["chat"]["id"] == rest[0]
    assert len(set(offers(agent))) == 19
    await close_all(agent, *visitors)


# ---- auto-accept -------------------------------------------------------------------------
@pytest.mark.timeout(30)
async def test_auto_accept_assigns_directly(redis_url: str) -> None:
    async with running(redis_url, auto_accept="true") as cl:
        agent = await cl.agent(await cl.add_agent("auto", capacity=2))
        v = await cl.visitor()
        chat = await v.start(name="Ada")
        assigned = await agent.wait_for(
            lambda f: f["type"] == "assigned" and f["chat"]["id"] == chat["id"]
        )
        assert assigned["chat"]["state"] == "active"
        assert assigned["chat"]["visitor"]["name"] == "Ada"
        await v.wait_for(lambda f: f["type"] == "chat" and f["chat"]["state"] == "active")
        assert offers(agent) == []
        assert await chat_field(cl, chat["id"]) == "active"
        await agent.say(chat["id"], "hi, how can I help?")
        got = await v.wait_messages(chat["id"], 1)
        assert got[0]["text"] == "hi, how can I help?"
        events = [e for e in await routing_events(cl) if e["chat"] == chat["id"]]
        assert [e["t"] for e in events] == ["created", "assign"]
        assert events[1]["state"] == "active"
        await close_all(agent, v)


# ---- presence ----------------------------------------------------------------------------
@pytest.mark.timeout(30)
async def test_chats_of_an_agent_gone_past_the_grace_go_to_another_agent(
    redis_url: str,
) -> None:
    async with running(redis_url, offline_grace_s="1") as cl:
        gone = await cl.agent(await cl.add_agent("gone", capacity=2))
        v = await cl.visitor()
        chat = await v.start()
        await gone.wait_for(is_offer(chat["id"]))
        await accept(gone, chat["id"])
        back = await cl.agent(await cl.add_agent("back", capacity=2))
        mark = len(v.frames)
        await gone.close()
        # during the grace period the chat stays with its agent
        await quiet(0.4)
        assert await chat_field(cl, chat["id"], "agent") == "gone"
        await back.wait_for(is_offer(chat["id"]), scaled(5))
        requeued = await v.wait_for(
            lambda f: f["type"] == "chat" and f["chat"]["state"] == "queued", since=mark
        )
        assert requeued["chat"]["id"] == chat["id"]
        assert (await get_agent(cl, "gone"))["status"] == "offline"
        await close_all(back, v)


async def test_agent_going_offline_hands_their_chats_back_to_the_queue(single: Cluster) -> None:
    leaving = await single.agent(await single.add_agent("leaving", capacity=2))
    v = await single.visitor()
    chat = await v.start()
    await leaving.wait_for(is_offer(chat["id"]))
    await accept(leaving, chat["id"])
    staying = await single.agent(await single.add_agent("staying", capacity=2))
    mark = len(v.frames)
    reply = await leaving.request({"type": "status", "status": "offline"})
    assert reply["status"] == "offline"
    await leaving.wait_for(lambda f: f["type"] == "revoked" and f["chat"] == chat["id"])
    await leaving.wait_for(lambda f: f["type"] == "status" and f["status"] == "offline")
    await staying.wait_for(is_offer(chat["id"]))
    await v.wait_for(
        lambda f: f["type"] == "chat" and f["chat"]["state"] == "queued", since=mark
    )
    assert (await get_agent(single, "leaving"))["status"] == "offline"
    await close_all(leaving, staying, v)


@pytest.mark.timeout(30)
async def test_agent_reconnecting_within_the_grace_keeps_their_chats(redis_url: str) -> None:
    async with running(redis_url, offline_grace_s="1") as cl:
        token = await cl.add_agent("flaky", capacity=2)
        agent = await cl.agent(token)
        other = await cl.agent(await cl.add_agent("other", capacity=2))
        v = await cl.visitor()
        chat = await v.start()
        winner = await first_offer({"flaky": agent, "other": other}, chat["id"])
        if winner != "flaky":  # make sure the flaky agent holds the chat
            await other.request({"type": "decline", "chat": chat["id"]})
            await agent.wait_for(is_offer(chat["id"]))
        await accept(agent, chat["id"])
        await agent.close()
        await asyncio.sleep(0.3)
        agent = await cl.agent(token)
        assert [c["id"] for c in agent.welcome["chats"]] == [chat["id"]]
        await asyncio.sleep(scaled(1.3))  # past the end of the first grace period
        assert await chat_field(cl, chat["id"], "agent") == "flaky"
        assert await chat_field(cl, chat["id"]) == "active"
        await agent.request({"type": "resume", "chat": chat["id"], "after": 0})
        await agent.say(chat["id"], "still here")
        assert (await v.wait_messages(chat["id"], 1))[0]["text"] == "still here"
        assert offers(other) == ([chat["id"]] if winner == "other" else [])
        await close_all(agent, other, v)
