"""Records through the whole product: a chat ends, the worker writes its record, the REST
API finds it; ratings, offline messages, visibility, export."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

from chatserver.client import ChatClient, http
from tests.harness import Cluster, scaled


async def wait_record(cluster: Cluster, chat_id: str, token: str | None = None,
                      until: Any = None) -> dict[str, Any]:
    deadline = time.monotonic() + scaled(15)
    while True:
        status, body = await http(
            "GET", f"{cluster.urls[0]}/api/records/{chat_id}", token=token or cluster.admin_token
        )
        if status == 200 and (until is None or until(body)):
            return dict(body)
        assert time.monotonic() < deadline, (status, body)
        await asyncio.sleep(0.1)


async def active_chat(agent: ChatClient, visitor: ChatClient, **start: Any) -> str:
    chat = await visitor.start(**start)
    offer = await agent.wait_for(
        lambda f: f["type"] == "offer" and f["chat"]["id"] == chat["id"], scaled(10)
    )
    await agent.request({"type": "accept", "chat": offer["chat"]["id"]})
    return str(chat["id"])


@pytest.mark.timeout(60)
async def test_closed_chat_becomes_a_record_with_transcript_and_rating(
    records_cluster: Cluster,
) -> None:
    cluster = records_cluster
    token = await cluster.add_agent("alice", skills={"billing": 7})
    agent = await cluster.agent(token, server=1)
    visitor = await cluster.visitor(server=0)
    chat_id = await active_chat(agent, visitor, name="Оксана", email="Oksana@Example.com",
                                page="https://shop.example/cart", locale="uk")
    await visitor.say(chat_id, "Привіт, де моє замовлення?")
    await agent.say(chat_id, "internal: check the warehouse", internal=True)
    await agent.say(chat_id, "Hello! Let me check.")
    await agent.request({"type": "close", "chat": chat_id, "outcome": "resolved",
                         "tags": ["shipping", "vip"]})
    record = await wait_record(cluster, chat_id)
    assert record["end_state"] == "closed" and record["outcome"] == "resolved"
    assert record["visitor_name"] == "Оксана"
    assert record["visitor_email"] == "oksana@example.com"
    assert record["page_url"] == "https://shop.example/cart" and record["locale"] == "uk"
    assert record["tags"] == ["shipping", "vip"] and record["agent_id"] == "alice"
    texts = [(m["sender_role"], m["internal"], m["text"]) for m in record["messages"]]
    assert texts == [
        ("visitor", False, "Привіт, де моє замовлення?"),
        ("agent", True, "internal: check the warehouse"),
        ("agent", False, "Hello! Let me check."),
    ]
    kinds = [e["kind"] for e in record["events"]]
    assert kinds == ["created", "offer", "accept", "end"]
    assert record["events"][1]["result"] == "accepted"
    assert record["created_at"] <= record["accepted_at"] <= record["first_agent_reply_at"]
    assert record["first_agent_reply_at"] <= record["ended_at"]
    assert [a["agent_id"] for a in record["agents"]] == ["alice"]
    # the rating arrives after the record was written, and lands in it
    await visitor.request({"type": "rate", "chat": chat_id, "rating": 5, "comment": "дякую"})
    rated = await wait_record(cluster, chat_id, until=lambda r: r["rating"] == 5)
    assert rated["rating_comment"] == "дякую"
    # search by a word of the transcript, in any case and language
    status, page = await http(
        "GET",
        f"{cluster.urls[1]}/api/records?"
        + urllib.parse.urlencode({"q": "ЗАМОВЛЕННЯ", "email": "OKSANA@example.com"}),
        token=cluster.admin_token,
    )
    assert status == 200 and [r["chat_id"] for r in page["items"]] == [chat_id]
    for c in (agent, visitor):
        await c.close()


@pytest.mark.timeout(60)
async def test_offline_message_and_abandoned_chat_are_recorded(records_cluster: Cluster) -> None:
    cluster = records_cluster
    visitor = await cluster.visitor()
    assert visitor.welcome["agents_available"] is False
    reply = await visitor.request(
        {"type": "offline", "email": "late@example.com", "name": "Late",
         "text": "Please call me back"}
    )
    offline = await wait_record(cluster, reply["chat"])
    assert offline["end_state"] == "offline" and offline["visitor_email"] == "late@example.com"
    assert [m["text"] for m in offline["messages"]] == ["Please call me back"]
    other = await cluster.visitor()
    chat = await other.start()
    await other.request({"type": "leave", "chat": chat["id"]})
    abandoned = await wait_record(cluster, chat["id"])
    assert abandoned["end_state"] == "abandoned" and abandoned["accepted_at"] is None
    for c in (visitor, other):
        await c.close()


@pytest.mark.timeout(60)
async def test_agents_see_their_own_records_and_their_current_visitors_history(
    records_cluster: Cluster,
) -> None:
    cluster = records_cluster
    alice_token = await cluster.add_agent("alice", capacity=1)
    alice = await cluster.agent(alice_token)
    visitor = await cluster.visitor()
    first = await active_chat(alice, visitor)
    await alice.request({"type": "close", "chat": first, "outcome": "resolved"})
    await wait_record(cluster, first)
    await alice.close()
    # bob never served this visitor: he cannot see the record
    bob_token = await cluster.add_agent("bob", capacity=1)
    status, _ = await http("GET", f"{cluster.urls[0]}/api/records/{first}", token=bob_token)
    assert status == 404
    bob = await cluster.agent(bob_token)
    second = await active_chat(bob, visitor)
    # now bob serves the visitor: their earlier chat is visible for the customer panel
    status, body = await http(
        "GET", f"{cluster.urls[0]}/api/records?visitor={visitor.welcome['visitor']}",
        token=bob_token,
    )
    assert status == 200 and [r["chat_id"] for r in body["items"]] == [first]
    await bob.request({"type": "close", "chat": second, "outcome": "resolved"})
    await wait_record(cluster, second)
    status, body = await http("GET", f"{cluster.urls[0]}/api/records", token=bob_token)
    assert [r["chat_id"] for r in body["items"]] == [second]  # no longer serving them
    for c in (bob, visitor):
        await c.close()


@pytest.mark.timeout(90)
async def test_pagination_is_stable_and_export_covers_everything(records_cluster: Cluster) -> None:
    cluster = records_cluster
    visitors = [await cluster.visitor() for _ in range(7)]
    ids = []
    for v in visitors:
        chat = await v.start(name="=HYPERLINK(\"http://evil\")")
        await v.request({"type": "leave", "chat": chat["id"]})
        ids.append(chat["id"])
    for chat_id in ids:
        await wait_record(cluster, chat_id)
    seen: list[str] = []
    cursor = None
    while True:
        url = f"{cluster.urls[0]}/api/records?limit=3&state=abandoned"
        if cursor:
            url += f"&cursor={cursor}"
        status, body = await http("GET", url, token=cluster.admin_token)
        assert status == 200
        seen += [r["chat_id"] for r in body["items"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    req = urllib.request.Request(
        f"{cluster.urls[0]}/api/records/export.csv?state=abandoned",
        headers={"Authorization": f"Bearer {cluster.admin_token}"},
    )
    data = await asyncio.to_thread(lambda: urllib.request.urlopen(req, timeout=10).read())
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert sorted(r["chat_id"] for r in rows) == sorted(ids)
    assert all(r["visitor_name"].startswith("'=") for r in rows)  # no formula injection
    status, body = await http("GET", f"{cluster.urls[0]}/api/records?limit=0",
                              token=cluster.admin_token)
    assert status == 400
    status, body = await http("GET", f"{cluster.urls[0]}/api/records?cursor=%%%",
                              token=cluster.admin_token)
    assert status == 400
    for v in visitors:
        await v.close()


@pytest.mark.timeout(90)
async def test_archive_filters_rating_name_and_a_selection(records_cluster: Cluster) -> None:
    cluster = records_cluster
    base = f"{cluster.urls[0]}/api/records"
    agent_token = await cluster.add_agent("ana", capacity=3)
    agent = await cluster.agent(agent_token)
    chats = []
    for name, stars in (("Олена Коваль", 5), ("سارة", 2), ("Bob", None)):
        visitor = await cluster.visitor()
        chat = await active_chat(agent, visitor, name=name)
        await agent.request({"type": "close", "chat": chat, "outcome": "resolved"})
        if stars:
            await visitor.request({"type": "rate", "chat": chat, "rating": stars})
        await visitor.close()
        await wait_record(cluster, chat, until=lambda r, s=stars: r["rating"] == s)
        chats.append(chat)
    await agent.close()

    async def found(params: str, token: str | None = None) -> list[str]:
        status, body = await http("GET", f"{base}?{params}", token=token or cluster.admin_token)
        assert status == 200, body
        return sorted(r["chat_id"] for r in body["items"])

    q = urllib.parse.quote
    assert await found("rating=5") == [chats[0]]
    assert await found("rating=1-2") == [chats[1]]
    assert await found("rating=5-2") == sorted(chats[:2])
    assert await found("rating=none&outcome=resolved") == [chats[2]]
    assert await found(f"name={q('олена')}") in ([chats[0]], [])  # SQLite: ASCII case only
    assert await found(f"name={q('Олена')}") == [chats[0]]
    assert await found("name=BOB") == [chats[2]]
    assert await found(f"ids={chats[0]},{chats[2]}") == sorted([chats[0], chats[2]])
    for bad in ("rating=6", "rating=0", "rating=1-", "rating=bad",
                "ids=" + ",".join(f"c{i}" for i in range(201)), "name=" + "x" * 300):
        status, body = await http("GET", f"{base}?{bad}", token=cluster.admin_token)
        assert status == 400 and body["error"] == "bad_request", (bad, body)
    req = urllib.request.Request(
        f"{base}/export.csv?ids={chats[1]}",
        headers={"Authorization": f"Bearer {cluster.admin_token}"},
    )
    data = await asyncio.to_thread(lambda: urllib.request.urlopen(req, timeout=10).read())
    assert [r["chat_id"] for r in csv.DictReader(io.StringIO(data.decode()))] == [chats[1]]
    # another agent sees none of them, unless AGENTS_SEE_ALL_RECORDS (below)
    other = await cluster.add_agent("omar", capacity=1)
    assert await found("", other) == []


@pytest.mark.timeout(90)
async def test_agents_see_every_record_when_the_setting_allows(redis_url: str) -> None:
    cluster = Cluster(redis_url, n=1, agents_see_all_records="true")
    await cluster.start()
    try:
        ana = await cluster.agent(await cluster.add_agent("ana", capacity=1))
        visitor = await cluster.visitor()
        chat = await active_chat(ana, visitor)
        await ana.request({"type": "close", "chat": chat, "outcome": "resolved"})
        await wait_record(cluster, chat)
        omar = await cluster.add_agent("omar", capacity=1)
        status, body = await http("GET", f"{cluster.urls[0]}/api/records/{chat}", token=omar)
        assert status == 200 and body["chat_id"] == chat
        for c in (ana, visitor):
            await c.close()
    finally:
        cluster.stop()
