"""Chat behaviour through real clients: queue feedback, typing, receipts, transfers, notes,
supervisors, the ways a chat ends, tabs and history.

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

from chatserver.client import ChatClient, ClientError
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


async def quiet(seconds: float = 0.5) -> None:
    """Give the server time to do something it must not do."""
    await asyncio.sleep(scaled(seconds))


def chat_frame(chat_id: str, state: str | None = None) -> Callable[[Frame], bool]:
    return lambda f: (
        f["type"] == "chat"
        and f["chat"]["id"] == chat_id
        and (state is None or f["chat"]["state"] == state)
    )


def of_type(kind: str, chat_id: str) -> Callable[[Frame], bool]:
    return lambda f: f["type"] == kind and f.get("chat") == chat_id


def count(client: ChatClient, kind: str, chat_id: str) -> int:
    return sum(1 for f in client.frames if of_type(kind, chat_id)(f))


def texts(client: ChatClient, chat_id: str) -> list[str]:
    return [m["text"] for m in client.messages.get(chat_id, [])]


async def open_chat(agent: ChatClient, visitor: ChatClient, **start: Any) -> str:
    """Start a chat, let ``agent`` accept it, wait until the visitor sees it active."""
    chat = await visitor.start(**start)
    await agent.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == chat["id"])
    await agent.request({"type": "accept", "chat": chat["id"]})
    await agent.wait_for(lambda f: f["type"] == "assigned" and f["chat"]["id"] == chat["id"])
    await visitor.wait_for(chat_frame(chat["id"], "active"))
    return str(chat["id"])


async def post(client: ChatClient, chat_id: str, text: str, **extra: Any) -> Frame:
    """Send a message as a request, so that a refusal raises ClientError."""
    frame = {"type": "msg", "chat": chat_id, "cid": f"p{time.monotonic_ns()}", "text": text}
    return await client.request({**frame, **extra})


async def chat_hash(cluster: Cluster, chat_id: str) -> dict[str, str]:
    r = cluster.redis()
    try:
        raw = await r.hgetall(f"{cluster.prefix}:{{rt}}:chat:{chat_id}")
    finally:
        await r.aclose()
    return {k.decode(): v.decode() for k, v in raw.items()}


async def wait_state(cluster: Cluster, chat_id: str, state: str, timeout: float) -> float:
    """Poll the chat's routing state until it is ``state``; returns the seconds it took."""
    started = time.monotonic()
    deadline = started + scaled(timeout)
    while time.monotonic() < deadline:
        if (await chat_hash(cluster, chat_id)).get("state") == state:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"chat {chat_id} did not become {state} within {timeout}s")


async def routing_events(cluster: Cluster) -> list[dict[str, str]]:
    r = cluster.redis()
    try:
        entries = await r.xrange(f"{cluster.prefix}:{{rt}}:events")
    finally:
        await r.aclose()
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


# ---- queue feedback ----------------------------------------------------------------------
async def test_queue_position_and_wait_estimate_follow_the_queue(cluster: Cluster) -> None:
    # an agent online but busy (an estimate needs someone who will come); visitors on
    # both processes
    busy = await cluster.agent(await cluster.add_agent("busy", capacity=1), server=0)
    v0 = await cluster.visitor(server=0)
    await open_chat(busy, v0)
    v1 = await cluster.visitor(server=0)
    v2 = await cluster.visitor(server=1)
    v3 = await cluster.visitor(server=0)
    c1, c2, c3 = await v1.start(), await v2.start(), await v3.start()
    assert (c1["position"], c2["position"], c3["position"]) == (1, 2, 3)

    def queue_at(chat_id: str, position: int) -> Callable[[Frame], bool]:
        return lambda f: of_type("queue", chat_id)(f) and f["position"] == position

    q2 = await v2.wait_for(queue_at(c2["id"], 2))
    q3 = await v3.wait_for(queue_at(c3["id"], 3))
    assert 0 < q2["eta_s"] < q3["eta_s"]
    # the first chat leaves the queue: everyone behind moves up, on both processes
    await v1.request({"type": "leave", "chat": c1["id"]})
    q2b = await v2.wait_for(queue_at(c2["id"], 1))
    q3b = await v3.wait_for(queue_at(c3["id"], 2))
    assert q2b["eta_s"] < q2["eta_s"] and q3b["eta_s"] < q3["eta_s"]
    # an agent takes the head of the queue: the last one moves up again
    agent = await cluster.agent(await cluster.add_agent("ann", capacity=1), server=1)
    await agent.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == c2["id"])
    await v3.wait_for(queue_at(c3["id"], 1))
    assert count(v2, "queue", c2["id"]) == 2  # no position frame once offered
    await close_all(v0, v1, v2, v3, agent, busy)


async def test_wait_estimate_learns_from_handled_chats(single: Cluster) -> None:
    agent = await single.agent(await single.add_agent("quick", capacity=1))
    v1, v2, v3 = await single.visitor(), await single.visitor(), await single.visitor()
    c1 = await open_chat(agent, v1)
    slow = await v2.start()
    assert slow["position"] == 1
    assert slow["eta_s"] >= 60  # nothing handled yet: a conservative default
    await agent.request({"type": "close", "chat": c1})  # handled in well under a minute
    await agent.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == slow["id"])
    quick = await v3.start()
    assert quick["position"] == 1
    assert quick["eta_s"] <= 5
    await close_all(agent, v1, v2, v3)


async def test_requeued_visitor_is_told_when_the_queue_moves(single: Cluster) -> None:
    await single.set_topic("later", required={"nobody-has-this": 1})
    a = await single.agent(await single.add_agent("a", capacity=1))
    v1, v2, v3 = await single.visitor(), await single.visitor(), await single.visitor()
    b: ChatClient | None = None
    try:
        c1 = await open_chat(a, v1)
        b = await single.agent(await single.add_agent("b", capacity=1))
        c2 = await open_chat(b, v2)
        # ordinary queue activity while both chats are active (another visitor arrives
        # and is told their position): the server's position pass sees them active
        c3 = (await v3.start())["id"]
        await v3.wait_for(of_type("queue", c3))
        mark1, mark2 = len(v1.frames), len(v2.frames)
        await a.request({"type": "transfer", "chat": c1, "topic": "later"})
        first = await v1.wait_for(chat_frame(c1, "queued"), since=mark1)
        assert first["chat"]["position"] == 1
        await b.request({"type": "transfer", "chat": c2, "topic": "later"})
        second = await v2.wait_for(chat_frame(c2, "queued"), since=mark2)
        assert second["chat"]["position"] == 2
        # the chat ahead leaves the queue: the visitor behind it must hear they moved up
        mark2 = len(v2.frames)
        await v1.request({"type": "leave", "chat": c1})
        moved = await v2.wait_for(of_type("queue", c2), 3, since=mark2)
        assert moved["position"] == 1
    finally:
        await close_all(a, v1, v2, v3, *([b] if b else []))


# ---- typing and read receipts ------------------------------------------------------------
async def test_typing_is_relayed_throttled_and_kept_within_its_chat(single: Cluster) -> None:
    agent = await single.agent(await single.add_agent("tia", capacity=2))
    v1, v2 = await single.visitor(), await single.visitor()
    c1 = await open_chat(agent, v1)
    c2 = await open_chat(agent, v2)
    for _ in range(10):
        await v1.send({"type": "typing", "chat": c1})
    typing = await agent.wait_for(of_type("typing", c1))
    assert typing["from"]["role"] == "visitor" and typing["on"] is True
    await quiet(0.4)
    assert count(agent, "typing", c1) == 1  # ten frames within the interval: one event
    assert count(v2, "typing", c2) == 0 and count(v2, "typing", c1) == 0
    # the agent types in the first chat: its visitor sees it, the other visitor does not
    await agent.send({"type": "typing", "chat": c1})
    from_agent = await v1.wait_for(
        lambda f: of_type("typing", c1)(f) and f["from"]["role"] == "agent"
    )
    assert from_agent["from"]["id"] == "tia"
    # after the interval the visitor's typing goes through again; stopping always does
    await asyncio.sleep(1.05)
    await v1.send({"type": "typing", "chat": c1})
    await v1.send({"type": "typing", "chat": c1, "on": False})
    await agent.wait_for(lambda f: of_type("typing", c1)(f) and f["on"] is False)
    from_visitor = [
        f for f in agent.frames if of_type("typing", c1)(f) and f["from"]["role"] == "visitor"
    ]
    assert [f["on"] for f in from_visitor] == [True, True, False]
    await quiet(0.3)
    assert not any(f["type"] == "typing" for f in v2.frames)
    await close_all(agent, v1, v2)


async def test_typing_again_right_after_stopping_is_relayed(single: Cluster) -> None:
    agent = await single.agent(await single.add_agent("tia", capacity=1))
    v = await single.visitor()
    try:
        chat = await open_chat(agent, v)
        await v.send({"type": "typing", "chat": chat})
        await agent.wait_for(lambda f: of_type("typing", chat)(f) and f["on"] is True)
        await v.send({"type": "typing", "chat": chat, "on": False})
        await agent.wait_for(lambda f: of_type("typing", chat)(f) and f["on"] is False)
        await v.send({"type": "typing", "chat": chat})
        await quiet(0.4)
        states = [f["on"] for f in agent.frames if of_type("typing", chat)(f)]
        assert states[-1] is True, states
    finally:
        await close_all(agent, v)


async def test_typing_in_a_chat_one_is_not_in_is_refused(single: Cluster) -> None:
    agent = await single.agent(await single.add_agent("tia", capacity=2))
    v1, v2 = await single.visitor(), await single.visitor()
    c1 = await open_chat(agent, v1)
    await v2.send({"type": "typing", "chat": c1, "rid": "t1"})
    err = await v2.wait_for(lambda f: f["type"] == "error" and f.get("rid") == "t1")
    assert err["code"] == "forbidden"
    await quiet(0.3)
    assert count(agent, "typing", c1) == 0
    await close_all(agent, v1, v2)


async def test_read_receipts_are_relayed_and_never_go_backwards(single: Cluster) -> None:
    agent = await single.agent(await single.add_agent("rita", capacity=2))
    v = await single.visitor()
    chat = await open_chat(agent, v)
    await v.say(chat, "one")
    await agent.say(chat, "two")
    await v.wait_messages(chat, 2)
    await v.send({"type": "read", "chat": chat, "seq": 2})
    read = await agent.wait_for(of_type("read", chat))
    assert read["by"] == {"role": "visitor", "id": v.welcome["visitor"]}
    assert read["seq"] == 2
    # going backwards is ignored: no event, the stored position stays
    await v.send({"type": "read", "chat": chat, "seq": 1})
    await v.send({"type": "read", "chat": chat, "seq": 2})
    await quiet(0.4)
    assert count(agent, "read", chat) == 1
    await agent.send({"type": "read", "chat": chat, "seq": 2})
    by_agent = await v.wait_for(lambda f: of_type("read", chat)(f) and f["by"]["role"] == "agent")
    assert by_agent["by"]["id"] == "rita" and by_agent["seq"] == 2
    resumed = await agent.request({"type": "resume", "chat": chat, "after": 2})
    assert resumed["chat"]["read"] == {
        f"visitor:{v.welcome['visitor']}": 2, "agent:rita": 2,
    }
    await close_all(agent, v)


async def test_read_receipt_never_points_past_the_last_message(single: Cluster) -> None:
    agent = await single.agent(await single.add_agent("rita", capacity=2))
    v = await single.visitor()
    try:
        chat = await open_chat(agent, v)
        await agent.say(chat, "one")
        await v.wait_messages(chat, 1)
        await v.send({"type": "read", "chat": chat, "seq": 99})
        read = await agent.wait_for(of_type("read", chat))
        stored = await agent.request({"type": "resume", "chat": chat, "after": 1})
        assert stored["chat"]["read"][f"visitor:{v.welcome['visitor']}"] == 1
        assert read["seq"] == 1
    finally:
        await close_all(agent, v)


# ---- transfers ---------------------------------------------------------------------------
async def test_transfer_to_another_agent(cluster: Cluster) -> None:
    old = await cluster.agent(await cluster.add_agent("old", capacity=2), server=0)
    v = await cluster.visitor(server=0)
    chat = await open_chat(old, v)
    new = await cluster.agent(await cluster.add_agent("new", capacity=2), server=1)
    await v.say(chat, "my invoice is wrong")
    await old.say(chat, "let me check")
    await old.say(chat, "customer since 2019", internal=True)
    reply = await old.request(
        {"type": "transfer", "chat": chat, "agent": "new", "note": "billing issue, VIP"}
    )
    assert reply["type"] == "ok"
    assigned = await new.wait_for(lambda f: f["type"] == "assigned" and f["chat"]["id"] == chat)
    assert assigned["chat"]["agent"]["id"] == "new" and assigned["chat"]["state"] == "active"
    revoked = await old.wait_for(of_type("revoked", chat))
    assert revoked["reason"] == "transfer"
    # the new agent gets the whole history, internal notes and the transfer note included,
    # then the notice that tells everyone who has the chat now (issue 9, item 9)
    history = await new.wait_messages(chat, 5)
    assert [m["text"] for m in history] == [
        "my invoice is wrong", "let me check", "customer since 2019", "billing issue, VIP",
        "transferred",
    ]
    assert [m["internal"] for m in history] == [False, False, True, True, False]
    page = await new.request({"type": "history", "chat": chat})
    assert [m["text"] for m in page["msgs"]] == [m["text"] for m in history]
    # the visitor sees who serves them now, and never the notes
    await v.wait_for(
        lambda f: chat_frame(chat)(f) and (f["chat"]["agent"] or {}).get("id") == "new"
    )
    await new.say(chat, "hello, I am taking over")
    got = await v.wait_messages(chat, 4)
    assert [m["text"] for m in got] == [
        "my invoice is wrong", "let me check", "transferred", "hello, I am taking over",
    ]
    vpage = await v.request({"type": "history", "chat": chat})
    assert all(not m["internal"] for m in vpage["msgs"])
    assert len(vpage["msgs"]) == 4
    # the old agent can no longer write in it
    with pytest.raises(ClientError) as refused:
        await post(old, chat, "still me?")
    assert refused.value.code == "forbidden"
    events = [e for e in await routing_events(cluster) if e["chat"] == chat]
    assert ("release", "old") in [(e["t"], e.get("agent")) for e in events]
    assert events[-1]["t"] == "assign" and events[-1]["agent"] == "new"
    await close_all(old, new, v)


async def test_transfer_to_an_agent_who_cannot_take_it_is_refused(single: Cluster) -> None:
    holder = await single.agent(await single.add_agent("holder", capacity=2))
    v = await single.visitor()
    chat = await open_chat(holder, v)
    full = await single.agent(await single.add_agent("full", capacity=0))
    away = await single.agent(await single.add_agent("away", capacity=3))
    await away.request({"type": "status", "status": "away"})
    for target in ("full", "away", "holder"):
        with pytest.raises(ClientError) as refused:
            await holder.request(
                {"type": "transfer", "chat": chat, "agent": target, "note": "take it"}
            )
        assert refused.value.code in ("agent_unavailable", "invalid_state"), target
    # nothing moved, and the refused notes were not written into the chat
    assert (await chat_hash(single, chat))["agent"] == "holder"
    await holder.say(chat, "still with you")
    got = await v.wait_messages(chat, 1)
    assert got[0]["seq"] == 1
    assert not any(f["type"] == "assigned" for f in full.frames + away.frames)
    await close_all(holder, v, full, away)


async def test_transfer_to_a_topic_queue(single: Cluster) -> None:
    await single.set_topic("billing", required={"billing": 5})
    first = await single.agent(await single.add_agent("first", capacity=3))
    v = await single.visitor()
    chat = await open_chat(first, v)
    expert = await single.agent(
        await single.add_agent("expert", capacity=1, skills={"billing": 8})
    )
    await v.say(chat, "it is about my bill")
    mark = len(v.frames)
    await first.request(
        {"type": "transfer", "chat": chat, "topic": "billing", "note": "needs billing"}
    )
    revoked = await first.wait_for(of_type("revoked", chat))
    assert revoked["reason"] == "transfer_queue"
    requeued = await v.wait_for(chat_frame(chat, "queued"), since=mark)
    assert requeued["chat"]["topic"] == "billing"
    offer = await expert.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == chat)
    assert offer["chat"]["topic"] == "billing"
    await expert.request({"type": "accept", "chat": chat})
    msgs = await expert.wait_messages(chat, 2)
    assert [m["text"] for m in msgs] == ["it is about my bill", "needs billing"]
    await v.wait_for(
        lambda f: chat_frame(chat, "active")(f) and f["chat"]["agent"]["id"] == "expert"
    )
    await quiet(0.3)
    assert texts(v, chat) == ["it is about my bill"]
    await close_all(first, expert, v)


# ---- internal notes and supervisors ------------------------------------------------------
async def test_internal_notes_never_reach_the_visitor(single: Cluster) -> None:
    agent = await single.agent(await single.add_agent("nora", capacity=2))
    v = await single.visitor()
    chat = await open_chat(agent, v)
    await v.say(chat, "hello")
    note = await agent.say(chat, "looks like a refund case", internal=True)
    await agent.say(chat, "hi there")
    await agent.say(chat, "check order 42", internal=True)
    await v.say(chat, "thanks")
    assert note["seq"] == 2
    got = await v.wait_messages(chat, 3)
    await quiet(0.3)
    assert [m["text"] for m in v.messages[chat]] == ["hello", "hi there", "thanks"]
    assert all(not m["internal"] for m in got)
    # the agent sees everything
    assert texts(agent, chat) == [
        "hello", "looks like a refund case", "hi there", "check order 42", "thanks",
    ]
    # not through history ...
    page = await v.request({"type": "history", "chat": chat})
    assert [m["text"] for m in page["msgs"]] == ["hello", "hi there", "thanks"]
    assert page["complete"] is True
    # pages count what the visitor may see; the notes in between do not use up the limit
    newest = await v.request({"type": "history", "chat": chat, "limit": 2})
    assert [m["text"] for m in newest["msgs"]] == ["hi there", "thanks"]
    assert newest["complete"] is False
    before = newest["msgs"][0]["seq"]
    rest = await v.request({"type": "history", "chat": chat, "before": before, "limit": 2})
    assert [m["text"] for m in rest["msgs"]] == ["hello"]
    assert rest["complete"] is True
    # ... nor through a resume on a new connection
    tab = await ChatClient.visitor(single.urls[0], token=v.token)
    await tab.request({"type": "resume", "chat": chat, "after": 0})
    await tab.wait_messages(chat, 3)
    await quiet(0.3)
    assert texts(tab, chat) == ["hello", "hi there", "thanks"]
    # and visitors cannot write notes
    with pytest.raises(ClientError) as refused:
        await post(v, chat, "sneaky", internal=True)
    assert refused.value.code == "forbidden"
    await close_all(agent, v, tab)


async def test_supervisor_watch_and_whisper(cluster: Cluster) -> None:
    agent = await cluster.agent(await cluster.add_agent("al", capacity=2), server=0)
    sup = await cluster.agent(
        await cluster.add_agent("sue", capacity=0, role="supervisor"), server=1
    )
    v = await cluster.visitor(server=1)
    chat = await open_chat(agent, v)
    await v.say(chat, "I want a discount")
    watched = await sup.request({"type": "watch", "chat": chat})
    assert watched["chat"]["id"] == chat and watched["chat"]["state"] == "active"
    await sup.wait_messages(chat, 1)
    whisper = await sup.request(
        {"type": "whisper", "chat": chat, "cid": "w1", "text": "offer 10% max"}
    )
    assert whisper["type"] == "ack" and whisper["seq"] == 2
    msgs = await agent.wait_messages(chat, 2)
    assert msgs[1]["text"] == "offer 10% max"
    assert msgs[1]["kind"] == "whisper" and msgs[1]["internal"] is True
    assert msgs[1]["from"]["id"] == "sue"
    await agent.say(chat, "I can give you 10%")
    await v.say(chat, "deal")
    # the supervisor follows the conversation live
    seen = await sup.wait_messages(chat, 4)
    assert [m["text"] for m in seen] == [
        "I want a discount", "offer 10% max", "I can give you 10%", "deal",
    ]
    await v.wait_messages(chat, 3)
    await quiet(0.3)
    assert texts(v, chat) == ["I want a discount", "I can give you 10%", "deal"]
    page = await v.request({"type": "history", "chat": chat})
    assert "offer 10% max" not in [m["text"] for m in page["msgs"]]
    snapshot = await sup.request({"type": "queues"})
    assert {q["topic"]: q["waiting"] for q in snapshot["queues"]} == {"general": 0}
    loads = {a["id"]: a["load"] for a in snapshot["agents"]}
    assert loads["al"] == 1 and loads["sue"] == 0
    # plain agents cannot whisper, watch or look at the queues
    for frame in (
        {"type": "queues"},
        {"type": "whisper", "chat": chat, "cid": "w2", "text": "x"},
        {"type": "watch", "chat": chat},
    ):
        with pytest.raises(ClientError) as refused:
            await agent.request(frame)
        assert refused.value.code == "forbidden"
    # a supervisor may close a chat that is not theirs
    await sup.request({"type": "close", "chat": chat, "outcome": "escalated"})
    closed = await v.wait_for(chat_frame(chat, "closed"))
    assert closed["chat"]["ended_by"] == "supervisor:sue"  # issue 9, item 9
    assert closed["chat"]["outcome"] == "escalated"
    await agent.wait_for(of_type("ended", chat))
    await close_all(agent, sup, v)


# ---- ending a chat -----------------------------------------------------------------------
async def test_agent_closes_with_outcome_and_tags(single: Cluster) -> None:
    agent = await single.agent(await single.add_agent("cora", capacity=1))
    v = await single.visitor()
    chat = await open_chat(agent, v)
    await agent.request(
        {"type": "close", "chat": chat, "outcome": "sale", "tags": ["upsell", "vip"]}
    )
    closed = await v.wait_for(chat_frame(chat, "closed"))
    assert closed["chat"]["outcome"] == "sale"
    assert closed["chat"]["ended_by"] == "agent:cora"
    ended = await agent.wait_for(of_type("ended", chat))
    assert ended["by"] == "agent:cora"
    record = await chat_hash(single, chat)
    assert record["state"] == "closed" and record["outcome"] == "sale"
    assert record["tags"] == '["upsell", "vip"]'
    end = [e for e in await routing_events(single) if e["t"] == "end"]
    assert [(e["chat"], e["reason"], e["agent"]) for e in end] == [(chat, "close", "cora")]
    # nothing more can be written; the visitor may start again and the agent is free
    with pytest.raises(ClientError) as refused:
        await post(v, chat, "wait!")
    assert refused.value.code == "invalid_state"
    # sent without a rid (as the widget does), the refusal still names the message
    with pytest.raises(ClientError) as refused:
        await v.say(chat, "still there?", cid="late-1", timeout=scaled(5))
    assert refused.value.frame["cid"] == "late-1"
    assert refused.value.code == "invalid_state" and "late-1" not in v.unacked
    again = await v.start()
    await agent.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == again["id"])
    await close_all(agent, v)


async def test_agent_cannot_close_someone_elses_chat(single: Cluster) -> None:
    agent = await single.agent(await single.add_agent("cora", capacity=1))
    other = await single.agent(await single.add_agent("zed", capacity=0))
    v = await single.visitor()
    chat = await open_chat(agent, v)
    with pytest.raises(ClientError) as refused:
        await other.request({"type": "close", "chat": chat})
    assert refused.value.code == "forbidden"
    assert (await chat_hash(single, chat))["state"] == "active"
    await close_all(agent, other, v)


async def test_visitor_leaving_an_active_chat_closes_it_and_frees_the_agent(
    single: Cluster,
) -> None:
    agent = await single.agent(await single.add_agent("lea", capacity=1))
    v1, v2 = await single.visitor(), await single.visitor()
    chat = await open_chat(agent, v1)
    waiting = await v2.start()
    reply = await v1.request({"type": "leave", "chat": chat})
    assert reply["type"] == "ok"
    closed = await v1.wait_for(chat_frame(chat, "closed"))
    assert closed["chat"]["ended_by"] == f"visitor:{v1.welcome['visitor']}"
    assert closed["chat"]["outcome"] == "visitor_left"
    ended = await agent.wait_for(of_type("ended", chat))
    assert ended["by"].startswith("visitor:")
    await agent.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == waiting["id"])
    # leaving twice is refused
    with pytest.raises(ClientError) as refused:
        await v1.request({"type": "leave", "chat": chat})
    assert refused.value.code == "invalid_state"
    await close_all(agent, v1, v2)


async def test_visitor_leaving_a_queued_chat_abandons_it(single: Cluster) -> None:
    v = await single.visitor()
    chat = await v.start()
    await v.request({"type": "leave", "chat": chat["id"]})
    gone = await v.wait_for(chat_frame(chat["id"], "abandoned"))
    assert gone["chat"]["ended_by"].startswith("visitor:")
    # an agent arriving later is not offered it
    agent = await single.agent(await single.add_agent("late", capacity=1))
    await quiet(0.4)
    assert not any(f["type"] == "offer" for f in agent.frames)
    await close_all(agent, v)


async def test_visitor_leaving_while_offered_abandons_and_withdraws_the_offer(
    single: Cluster,
) -> None:
    agent = await single.agent(await single.add_agent("olga", capacity=1))
    v1, v2 = await single.visitor(), await single.visitor()
    chat = (await v1.start())["id"]
    await agent.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == chat)
    waiting = (await v2.start())["id"]
    await v1.request({"type": "leave", "chat": chat})
    await v1.wait_for(chat_frame(chat, "abandoned"))
    await agent.wait_for(lambda f: f["type"] in ("ended", "revoked") and f["chat"] == chat)
    with pytest.raises(ClientError) as refused:
        await agent.request({"type": "accept", "chat": chat})
    assert refused.value.code == "invalid_state"
    # the unit of capacity the offer held is free again
    await agent.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == waiting)
    await close_all(agent, v1, v2)


@pytest.mark.timeout(30)
async def test_queued_visitor_gone_past_the_grace_abandons_the_chat(redis_url: str) -> None:
    async with running(
        redis_url, visitor_leave_grace_s="1", presence_ttl_s="1", heartbeat_interval_s="0.3"
    ) as cl:
        v = await cl.visitor()
        token = v.token
        chat = (await v.start())["id"]
        await v.close()
        took = await wait_state(cl, chat, "abandoned", 5)
        assert took >= 0.8
        assert (await chat_hash(cl, chat))["ended_by"] == "system"
        back = await ChatClient.visitor(cl.urls[0], token=token)
        assert back.welcome["chat"] is None
        agent = await cl.agent(await cl.add_agent("late", capacity=1))
        await quiet(0.4)
        assert not any(f["type"] == "offer" for f in agent.frames)
        await close_all(back, agent)


@pytest.mark.timeout(30)
async def test_queued_visitor_back_within_the_grace_keeps_the_chat(redis_url: str) -> None:
    async with running(
        redis_url, visitor_leave_grace_s="1", presence_ttl_s="1", heartbeat_interval_s="0.3"
    ) as cl:
        v = await cl.visitor()
        chat = (await v.start())["id"]
        await v.say(chat, "anyone?")
        await v.close()
        await asyncio.sleep(0.3)
        v = await ChatClient.visitor(cl.urls[0], token=v.token)
        assert v.welcome["chat"]["id"] == chat
        assert v.welcome["chat"]["state"] == "queued"
        assert v.welcome["chat"]["position"] == 1
        # nobody online who could answer: no estimate (issue 9, item 6)
        assert v.welcome["chat"]["available"] is False and "eta_s" not in v.welcome["chat"]
        await asyncio.sleep(scaled(2.5))  # well past grace + presence ttl
        assert (await chat_hash(cl, chat))["state"] == "queued"
        await v.request({"type": "resume", "chat": chat, "after": 0})
        agent = await cl.agent(await cl.add_agent("late", capacity=1))
        await agent.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == chat)
        await agent.request({"type": "accept", "chat": chat})
        await agent.say(chat, "here!")
        got = await v.wait_messages(chat, 2)
        assert [m["text"] for m in got] == ["anyone?", "here!"]
        await close_all(v, agent)


@pytest.mark.timeout(30)
async def test_closing_one_of_two_tabs_on_different_processes_keeps_the_chat(
    redis_url: str,
) -> None:
    async with running(
        redis_url, n=2, visitor_leave_grace_s="1", presence_ttl_s="1",
        heartbeat_interval_s="0.3",
    ) as cl:
        first = await cl.visitor(server=0)
        second = await ChatClient.visitor(cl.urls[1], token=first.token)
        chat = (await first.start())["id"]
        await first.close()  # the last tab on process 0; one is still open on process 1
        await asyncio.sleep(scaled(2.5))
        assert (await chat_hash(cl, chat))["state"] == "queued"
        await second.close()
        await wait_state(cl, chat, "abandoned", 5)


@pytest.mark.timeout(30)
async def test_idle_chat_times_out_and_frees_the_agent(redis_url: str) -> None:
    async with running(redis_url, chat_idle_timeout_s="2") as cl:
        agent = await cl.agent(await cl.add_agent("ida", capacity=1))
        v1, v2 = await cl.visitor(), await cl.visitor()
        chat = await open_chat(agent, v1)
        accepted = time.monotonic()
        waiting = (await v2.start())["id"]
        await asyncio.sleep(1.0)
        await v1.say(chat, "still thinking")  # activity pushes the deadline back
        await asyncio.sleep(max(0.0, 2.3 - (time.monotonic() - accepted)))
        assert (await chat_hash(cl, chat))["state"] == "active"
        closed = await v1.wait_for(chat_frame(chat, "closed"), scaled(4))
        assert time.monotonic() - accepted >= 2.8
        assert closed["chat"]["outcome"] == "timeout"
        assert closed["chat"]["ended_by"] == "system"
        ended = await agent.wait_for(of_type("ended", chat))
        assert ended["by"] == "system"
        await agent.wait_for(
            lambda f: f["type"] == "offer" and f["chat"]["id"] == waiting, scaled(2)
        )
        await close_all(agent, v1, v2)


@pytest.mark.timeout(30)
async def test_chat_nobody_takes_is_missed(redis_url: str) -> None:
    async with running(redis_url, queue_timeout_s="1") as cl:
        v = await cl.visitor()
        started = time.monotonic()
        chat = (await v.start())["id"]
        missed = await v.wait_for(chat_frame(chat, "missed"), scaled(5))
        assert time.monotonic() - started >= 0.9
        assert missed["chat"]["outcome"] == "missed"
        assert missed["chat"]["ended_by"] == "system"
        end = [e for e in await routing_events(cl) if e["t"] == "end"]
        assert [(e["chat"], e["reason"]) for e in end] == [(chat, "miss")]
        # the visitor may try again
        again = await v.start()
        assert again["id"] != chat and again["state"] == "queued"
        await close_all(v)


# ---- tabs, errors and history ------------------------------------------------------------
async def test_second_tab_sees_the_same_chat_and_messages(cluster: Cluster) -> None:
    agent = await cluster.agent(await cluster.add_agent("tab", capacity=1), server=0)
    first = await cluster.visitor(server=0)
    chat = await open_chat(agent, first)
    await first.say(chat, "from the first tab")
    second = await ChatClient.visitor(cluster.urls[1], token=first.token)
    assert second.welcome["visitor"] == first.welcome["visitor"]
    assert second.welcome["chat"]["id"] == chat
    assert second.welcome["chat"]["state"] == "active"
    assert "token" not in second.welcome
    resumed = await second.request({"type": "resume", "chat": chat, "after": 0})
    assert resumed["chat"]["id"] == chat
    await second.wait_messages(chat, 1)
    await agent.say(chat, "to both tabs")
    await second.say(chat, "from the second tab", cid="second-tab-1")
    for tab in (first, second):
        got = await tab.wait_messages(chat, 3)
        assert [m["text"] for m in got] == [
            "from the first tab", "to both tabs", "from the second tab",
        ]
    # a second start from either tab is refused
    with pytest.raises(ClientError) as refused:
        await second.start()
    assert refused.value.code == "chat_open"
    assert refused.value.frame["chat"] == chat
    await close_all(agent, first, second)


async def test_two_tabs_writing_with_default_message_ids_both_get_through(
    single: Cluster,
) -> None:
    agent = await single.agent(await single.add_agent("tab", capacity=1))
    first = await single.visitor()
    second = await ChatClient.visitor(single.urls[0], token=first.token)
    try:
        chat = await open_chat(agent, first)
        await second.request({"type": "resume", "chat": chat, "after": 0})
        one = await first.say(chat, "from the first tab")
        two = await second.say(chat, "from the second tab")
        assert two["dup"] is False and two["seq"] == one["seq"] + 1
        got = await agent.wait_messages(chat, 2, timeout=3)
        assert [m["text"] for m in got] == ["from the first tab", "from the second tab"]
    finally:
        await close_all(agent, first, second)


async def test_tab_open_before_the_chat_starts_follows_it(single: Cluster) -> None:
    first = await single.visitor()
    second = await ChatClient.visitor(single.urls[0], token=first.token)
    assert second.welcome["chat"] is None
    chat = (await first.start())["id"]
    told = await second.wait_for(chat_frame(chat))
    assert told["chat"]["state"] == "queued"
    await first.say(chat, "hello")
    assert [m["text"] for m in await second.wait_messages(chat, 1)] == ["hello"]
    await close_all(first, second)


async def test_start_errors(single: Cluster) -> None:
    await single.set_topic("billing")
    v = await single.visitor()
    with pytest.raises(ClientError) as unknown:
        await v.start(topic="astrology")
    assert unknown.value.code == "unknown_topic"
    assert unknown.value.frame["topics"] == ["billing", "general"]
    chat = await v.start(topic="Billing")  # topic names are case-insensitive
    assert chat["topic"] == "billing"
    with pytest.raises(ClientError) as open_already:
        await v.start()
    assert open_already.value.code == "chat_open"
    assert open_already.value.frame["chat"] == chat["id"]
    await close_all(v)


async def test_history_pages_back_in_order(single: Cluster) -> None:
    agent = await single.agent(await single.add_agent("hal", capacity=1))
    v = await single.visitor()
    chat = await open_chat(agent, v)
    for i in range(1, 8):
        sender = v if i % 2 else agent
        await sender.say(chat, f"m{i}")
    whole = await v.request({"type": "history", "chat": chat})
    assert [m["seq"] for m in whole["msgs"]] == [1, 2, 3, 4, 5, 6, 7]
    assert [m["text"] for m in whole["msgs"]] == [f"m{i}" for i in range(1, 8)]
    assert whole["complete"] is True
    newest = await v.request({"type": "history", "chat": chat, "limit": 3})
    assert [m["seq"] for m in newest["msgs"]] == [5, 6, 7]
    assert newest["complete"] is False
    older = await v.request({"type": "history", "chat": chat, "before": 5, "limit": 3})
    assert [m["seq"] for m in older["msgs"]] == [2, 3, 4]
    assert older["complete"] is False
    oldest = await v.request({"type": "history", "chat": chat, "before": 2, "limit": 3})
    assert [m["seq"] for m in oldest["msgs"]] == [1]
    assert oldest["complete"] is True
    # someone else's chat is not readable
    stranger = await single.visitor()
    with pytest.raises(ClientError) as refused:
        await stranger.request({"type": "history", "chat": chat})
    assert refused.value.code == "forbidden"
    await close_all(agent, v, stranger)
