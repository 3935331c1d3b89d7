"""Outage notices: posted by a supervisor, relayed by every process to the visitors
waiting in its topics, to new visitors and to agents, ended everywhere; queued chats
closed with the outcome ``incident``; the records name the notices their visitors saw."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest

from chatserver.client import ChatClient, ClientError, http
from chatserver.store.codec import text
from chatserver.store.keys import Keys
from tests.harness import Cluster, close_quietly, running, scaled, written_record

TEXTS = {"en": "Payments are down; we are on it.", "ar": "المدفوعات متوقفة؛ نعمل على ذلك.",
         "uk": "Платежі не працюють; ми це виправляємо."}


def is_notice(notice_id: str) -> Any:
    return lambda f: f["type"] == "notice" and f["id"] == notice_id


def is_end(notice_id: str) -> Any:
    return lambda f: f["type"] == "notice_end" and f["id"] == notice_id


async def supervisor(cluster: Cluster) -> str:
    # capacity 0: no chat is offered to her, they all wait
    return await cluster.add_agent("sue", role="supervisor", capacity=0)


async def post(cluster: Cluster, token: str, server: int = 0, **body: Any) -> tuple[int, Any]:
    return await http("POST", f"{cluster.urls[server]}/api/notices", body, token)


async def test_notice_reaches_waiting_visitors_on_both_processes_and_ends(
    cluster: Cluster,
) -> None:
    await cluster.set_topic("billing")
    await cluster.set_topic("tech")
    sue = await supervisor(cluster)
    agent = await cluster.agent(sue, server=1)
    v0 = await cluster.visitor(server=0)
    v1 = await cluster.visitor(server=1)
    other = await cluster.visitor(server=1)
    clients = [agent, v0, v1, other]
    try:
        c0 = await v0.start(topic="billing")
        await v1.start(topic="billing")
        await other.start(topic="tech")
        assert c0["state"] == "queued"  # nobody online: they wait
        status, notice = await post(cluster, sue, server=1, texts=TEXTS, topics=["billing"])
        assert status == 201, notice
        nid = notice["id"]
        assert notice["topics"] == ["billing"] and notice["texts"] == TEXTS
        assert notice["expires_at"] is None and notice["by"] == "supervisor:sue"
        # both processes relay it at once to the visitors waiting in billing
        for client in (v0, v1, agent):
            frame = await client.wait_for(is_notice(nid), scaled(10))
            assert frame["texts"] == TEXTS and frame["topics"] == ["billing"]
            # visitors are not told who posted it; agents are
            assert frame.get("by") == (None if client.role == "visitor" else "supervisor:sue")
        # a new visitor sees it in their welcome, on either process; so does an agent
        fresh = await cluster.visitor(server=0)
        clients.append(fresh)
        assert [n["id"] for n in fresh.welcome["notices"]] == [nid]
        assert "by" not in fresh.welcome["notices"][0]
        # and the widget's configuration, fetched before the socket opens
        status, config = await http("GET", f"{cluster.urls[1]}/api/widget/config")
        assert status == 200 and [n["id"] for n in config["notices"]] == [nid]
        console = await cluster.agent(sue, server=0)
        clients.append(console)
        assert [n["id"] for n in console.welcome["notices"]] == [nid]
        status, listed = await http("GET", f"{cluster.urls[0]}/api/notices", token=sue)
        assert status == 200 and [n["id"] for n in listed] == [nid]
        # ending it removes it everywhere
        status, ended = await http(
            "POST", f"{cluster.urls[0]}/api/notices/{nid}/end", {}, sue
        )
        assert status == 200 and ended == {"notice": notice, "closed": 0}
        for client in (v0, v1, agent, console, fresh):
            await client.wait_for(is_end(nid), scaled(10))
        # the tech visitor never got it
        assert not any(f["type"] == "notice" for f in other.frames)
        status, listed = await http("GET", f"{cluster.urls[1]}/api/notices", token=sue)
        assert listed == []
        later = await cluster.visitor(server=1)
        clients.append(later)
        assert later.welcome["notices"] == []
        status, config = await http("GET", f"{cluster.urls[0]}/api/widget/config")
        assert config["notices"] == []
        status, _ = await http("DELETE", f"{cluster.urls[0]}/api/notices/{nid}", token=sue)
        assert status == 404
        # a notice with an expiry ends by itself, on both processes
        soon = int(time.time() * 1000) + 1500
        status, brief = await post(cluster, sue, texts={"en": "Short blip"}, expires_at=soon)
        assert status == 201, brief
        for client in (v0, v1, other):  # no topics: every topic
            await client.wait_for(is_notice(brief["id"]), scaled(10))
        for client in (v0, v1, other):
            await client.wait_for(is_end(brief["id"]), scaled(10))
    finally:
        await close_quietly(clients)


async def test_bad_notices_are_refused(single: Cluster) -> None:
    sue = await supervisor(single)
    agent = await single.add_agent("al")
    now = int(time.time() * 1000)
    cases: list[tuple[dict[str, Any], str, int]] = [
        ({"texts": {"en": "x" * 1001}}, sue, 400),
        ({"texts": {"fr": "Panne"}}, sue, 400),
        ({"texts": {}}, sue, 400),
        ({"texts": {"en": "   "}}, sue, 400),
        ({"texts": {"en": "down"}, "expires_at": now - 1000}, sue, 400),
        ({"texts": {"en": "down"}, "expires_at": "tomorrow"}, sue, 400),
        ({"texts": {"en": "down"}, "expires_at": now + 40 * 86_400_000}, sue, 400),
        ({"texts": {"en": "down"}, "topics": ["nosuchtopic"]}, sue, 400),
        ({"texts": {"en": "down"}, "colour": "red"}, sue, 400),
        ({"texts": {"en": "down"}}, agent, 403),
        ({"texts": {"en": "down"}}, "", 401),
    ]
    for body, token, expected in cases:
        status, reply = await post(single, token, **body)
        assert status == expected, (body, reply)
        assert "error" in reply
    status, reply = await http("GET", f"{single.urls[0]}/api/notices", token=agent)
    assert status == 403
    status, reply = await http("POST", f"{single.urls[0]}/api/notices/nope/end", {}, sue)
    assert status == 404 and reply["error"] == "not_found"


async def test_email_me_and_closing_queued_chats_are_recorded(
    records_cluster: Cluster,
) -> None:
    cluster = records_cluster
    await cluster.set_topic("billing")
    sue = await supervisor(cluster)
    waiting = await cluster.visitor(server=1)
    newcomer = await cluster.visitor(server=0)
    clients: list[ChatClient] = [waiting, newcomer]
    try:
        chat = await waiting.start(topic="billing", locale="uk")
        status, notice = await post(cluster, sue, texts=TEXTS, topics=["billing"])
        assert status == 201
        nid = notice["id"]
        await waiting.wait_for(is_notice(nid), scaled(10))
        # "email me when this is resolved": an offline message linked to the notice
        await newcomer.wait_for(is_notice(nid), scaled(10))
        reply = await newcomer.request({
            "type": "offline", "email": "ada@example.com", "topic": "billing",
            "text": "Email me when this is resolved", "notice": nid,
        })
        offline_id = reply["chat"]
        # a notice not in force is refused
        with pytest.raises(ClientError) as refused:
            await newcomer.request({
                "type": "offline", "email": "ada@example.com", "text": "x", "notice": "nope",
            })
        assert refused.value.frame["code"] == "not_found"
        status, ended = await http(
            "POST", f"{cluster.urls[1]}/api/notices/{nid}/end",
            {"close_queued": True, "message": {"en": "Fixed, sorry.", "uk": "Виправлено."}},
            sue,
        )
        assert status == 200 and ended["closed"] == 1, ended
        await waiting.wait_for(is_end(nid), scaled(10))
        closed = await waiting.wait_for(
            lambda f: f["type"] == "chat" and f["chat"]["state"] == "closed", scaled(10)
        )
        assert closed["chat"]["outcome"] == "incident"
        last = await waiting.wait_messages(chat["id"], 1)
        assert last[-1]["text"] == "Виправлено." and last[-1]["kind"] == "system"
        record = await written_record(cluster, chat["id"], 15)
        assert record["outcome"] == "incident" and record["notices"] == [nid]
        offline = await written_record(cluster, offline_id, 15)
        assert offline["end_state"] == "offline" and offline["notices"] == [nid]
        assert offline["fields"] == {"notice": nid}
        status, page = await http(
            "GET", f"{cluster.urls[0]}/api/records?outcome=incident", token=sue
        )
        assert [r["notices"] for r in page["items"]] == [[nid]]
    finally:
        await close_quietly(clients)


async def test_closing_queued_chats_goes_in_batches_and_keeps_other_topics(
    redis_url: str,
) -> None:
    async with running(redis_url, n=2, notice_close_batch="2") as cluster:
        await cluster.set_topic("billing")
        await cluster.set_topic("tech")
        sue = await supervisor(cluster)
        visitors = [await cluster.visitor(server=i % 2) for i in range(6)]
        try:
            chats = [await v.start(topic="billing") for v in visitors[:5]]
            tech = await visitors[5].start(topic="tech")
            status, notice = await post(cluster, sue, texts={"en": "Down"}, topics=["billing"])
            assert status == 201
            status, ended = await http(
                "POST", f"{cluster.urls[0]}/api/notices/{notice['id']}/end",
                {"close_queued": True}, sue,
            )
            assert status == 200 and ended["closed"] == 5, ended
            for v, chat in zip(visitors, chats, strict=False):
                closed = await v.wait_for(
                    lambda f, c=chat: f["type"] == "chat" and f["chat"]["id"] == c["id"]
                    and f["chat"]["state"] == "closed", scaled(10)
                )
                assert closed["chat"]["outcome"] == "incident"
                # the last message is the notice's text (no text given at the end)
                last = await v.wait_messages(chat["id"], 1)
                assert last[-1]["text"] == "Down"
            # the tech chat still waits
            async with contextlib.aclosing(cluster.redis()) as r:
                keys = Keys(cluster.prefix)
                assert text(await r.hget(keys.chat(tech["id"]), "state")) == "queued"
                assert await r.zcard(keys.queue("billing")) == 0
        finally:
            await close_quietly(visitors)


async def test_an_offered_chat_still_waits_an_active_one_does_not(single: Cluster) -> None:
    sue = await supervisor(single)
    agent = await single.agent(await single.add_agent("al", capacity=1))
    visitor = await single.visitor()
    try:
        chat = await visitor.start()
        await agent.wait_for(lambda f: f["type"] == "offer", scaled(10))
        status, first = await post(single, sue, texts={"en": "Slow replies today"})
        assert status == 201
        # offered, not accepted yet: the visitor still waits, and is told
        await visitor.wait_for(is_notice(first["id"]), scaled(10))
        await agent.request({"type": "accept", "chat": chat["id"]})
        await visitor.wait_for(
            lambda f: f["type"] == "chat" and f["chat"]["state"] == "active", scaled(10)
        )
        status, second = await post(single, sue, texts={"en": "Another one"})
        assert status == 201
        await agent.wait_for(is_notice(second["id"]), scaled(10))
        # with an agent, the visitor is not interrupted; a second tab's welcome has none
        again = await single.visitor(token=visitor.token)
        try:
            assert again.welcome["notices"] == []
            assert not any(f["type"] == "notice" and f["id"] == second["id"]
                           for f in visitor.frames)
        finally:
            await again.close()
    finally:
        await close_quietly([agent, visitor])


async def test_closing_waiting_chats_also_ends_those_offered_and_not_yet_accepted(
    single: Cluster,
) -> None:
    """A chat offered to an agent who has not accepted it yet is still waiting for an
    answer: ending the notice with ``close_queued`` closes it too, and the agent's offer
    ends."""
    cluster = single
    await cluster.set_topic("billing")
    sue = await supervisor(cluster)
    ann = await cluster.agent(await cluster.add_agent("ann", capacity=1))
    visitors = [await cluster.visitor(), await cluster.visitor()]
    try:
        offered = await visitors[0].start(topic="billing")
        await ann.wait_for(
            lambda f: f["type"] == "offer" and f["chat"]["id"] == offered["id"], scaled(10)
        )
        queued = await visitors[1].start(topic="billing")  # ann is full: this one queues
        status, notice = await post(cluster, sue, texts={"en": "Down"}, topics=["billing"])
        assert status == 201
        status, ended = await http(
            "POST", f"{cluster.urls[0]}/api/notices/{notice['id']}/end",
            {"close_queued": True}, sue,
        )
        assert status == 200 and ended["closed"] == 2, ended
        for v, chat in zip(visitors, [offered, queued], strict=True):
            closed = await v.wait_for(
                lambda f, c=chat: f["type"] == "chat" and f["chat"]["id"] == c["id"]
                and f["chat"]["state"] == "closed", scaled(10)
            )
            assert closed["chat"]["outcome"] == "incident"
        await ann.wait_for(
            lambda f: f["type"] == "ended" and f["chat"] == offered["id"], scaled(10)
        )
    finally:
        await close_quietly([ann, *visitors])
