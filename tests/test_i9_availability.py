"""Issue 9, items 6 and 7: availability pushed to open widgets, and the widget's rules
(business hours, required pre-chat fields) enforced by the server.

Real `chatserver serve` processes on a real Redis, real WebSocket clients.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from chatserver.client import ChatClient, ClientError, http
from tests.harness import Cluster, scaled

Frame = dict[str, Any]


def availability(**want: Any) -> Callable[[Frame], bool]:
    """An ``availability`` frame whose fields include ``want``."""
    return lambda f: f["type"] == "availability" and all(f.get(k) == v for k, v in want.items())


def queue_frame(chat_id: str, **want: Any) -> Callable[[Frame], bool]:
    return lambda f: (
        f["type"] == "queue" and f["chat"] == chat_id
        and all(f.get(k) == v for k, v in want.items())
    )


async def widget_settings(cluster: Cluster, **change: Any) -> None:
    """Change some widget settings (the whole object is sent back, as PUT replaces it)."""
    url = cluster.urls[0] + "/api/widget/settings"
    status, current = await http("GET", url, None, cluster.admin_token)
    assert status == 200, current
    status, reply = await http("PUT", url, {**current, **change}, cluster.admin_token)
    assert status == 200, reply


def hours_excluding_now() -> dict[str, dict[str, str]]:
    """Every day open for one hour, starting two hours from now (UTC): closed now."""
    now = time.gmtime()
    start = (now.tm_hour * 60 + now.tm_min + 120) % 1440
    end = (start + 60) % 1440
    day = {
        "open": f"{start // 60:02d}:{start % 60:02d}",
        "close": f"{end // 60:02d}:{end % 60:02d}",
    }
    return {d: day for d in DAYS}


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS: dict[str, dict[str, str]] = {d: {"open": "00:00", "close": "00:00"} for d in DAYS}
"""Open around the clock (a span that ends where it starts covers the whole day)."""


# ---- item 6: availability pushed ------------------------------------------------------
@pytest.mark.timeout(60)
async def test_i9_06_open_widget_is_told_when_the_last_agent_leaves_and_one_comes(
    cluster: Cluster,
) -> None:
    token = await cluster.add_agent("ann")
    agent = await cluster.agent(token, server=0)
    # the visitor's socket is on the other process: the change crosses processes
    visitor = await cluster.visitor(server=1)
    try:
        assert visitor.welcome["availability"] == {
            "open": True, "topics": {"general": True}, "agents_available": True,
        }
        await agent.request({"type": "status", "status": "offline"})
        gone = await visitor.wait_for(availability(agents_available=False), scaled(10))
        assert gone["topics"] == {"general": False} and gone["open"] is True
        await agent.close()
        mark = len(visitor.frames)
        agent = await cluster.agent(token, server=0)  # connecting sets the agent online
        back = await visitor.wait_for(availability(agents_available=True), scaled(10), since=mark)
        assert back["topics"] == {"general": True}
        # nothing changed for the visitor since: no more frames about it
        count = sum(1 for f in visitor.frames if f["type"] == "availability")
        await agent.request({"type": "status", "status": "online"})
        await asyncio.sleep(scaled(1.5))  # a presence message and a periodic re-read
        assert sum(1 for f in visitor.frames if f["type"] == "availability") == count
    finally:
        await agent.close()
        await visitor.close()


@pytest.mark.timeout(60)
async def test_i9_06_availability_is_per_topic(single: Cluster) -> None:
    await single.set_topic("billing", required={"billing": 3})
    generalist = await single.agent(await single.add_agent("gen"))
    visitor = await single.visitor()
    specialist: ChatClient | None = None
    try:
        assert visitor.welcome["availability"]["topics"] == {"billing": False, "general": True}
        specialist = await single.agent(await single.add_agent("bil", skills={"billing": 5}))
        told = await visitor.wait_for(
            lambda f: f["type"] == "availability" and f["topics"].get("billing") is True,
            scaled(10),
        )
        assert told["topics"] == {"billing": True, "general": True}
        await specialist.request({"type": "status", "status": "away"})
        await visitor.wait_for(
            lambda f: f["type"] == "availability" and f["topics"].get("billing") is False,
            scaled(10),
        )
    finally:
        for c in (generalist, visitor, specialist):
            if c is not None:
                await c.close()


@pytest.mark.timeout(60)
async def test_i9_06_no_wait_estimate_without_an_eligible_agent(single: Cluster) -> None:
    token = await single.add_agent("solo", capacity=1)
    agent = await single.agent(token)
    first, second = await single.visitor(), await single.visitor()
    try:
        # nobody eligible online: a place, and no estimate
        alone = await single.visitor()
        await agent.request({"type": "status", "status": "away"})
        await alone.wait_for(availability(agents_available=False), scaled(10))
        chat = await alone.start()
        assert chat["position"] == 1 and chat["available"] is False and "eta_s" not in chat
        await alone.request({"type": "leave", "chat": chat["id"]})
        await alone.close()
        # the agent is back and busy with the first visitor; the second waits with an estimate
        await agent.request({"type": "status", "status": "online"})
        c1 = await first.start()
        await agent.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == c1["id"])
        await agent.request({"type": "accept", "chat": c1["id"]})
        c2 = await second.start()
        assert c2["position"] == 1 and c2["available"] is True and c2["eta_s"] > 0
        # the agent goes away: the waiting visitor keeps the place, loses the estimate
        mark = len(second.frames)
        await agent.request({"type": "status", "status": "away"})
        told = await second.wait_for(queue_frame(c2["id"], available=False), scaled(10), since=mark)
        assert told["position"] == 1 and "eta_s" not in told
        assert (await second.request({"type": "resume", "chat": c2["id"], "after": 0}))[
            "chat"]["state"] == "queued"
        # and gets it back when the agent returns
        mark = len(second.frames)
        await agent.request({"type": "status", "status": "online"})
        back = await second.wait_for(queue_frame(c2["id"], available=True), scaled(10), since=mark)
        assert back["position"] == 1 and back["eta_s"] > 0
    finally:
        await agent.close()
        await first.close()
        await second.close()


@pytest.mark.timeout(60)
async def test_i9_06_widget_config_reports_availability_per_topic(single: Cluster) -> None:
    await single.set_topic("billing", required={"billing": 1})
    agent = await single.agent(await single.add_agent("gen"))
    try:
        status, body = await http("GET", single.urls[0] + "/api/widget/config")
        assert status == 200
        assert body["topics_available"] == {"billing": False, "general": True}
    finally:
        await agent.close()


# ---- item 7: the server enforces the widget's rules -----------------------------------
@pytest.mark.timeout(60)
async def test_i9_07_start_outside_business_hours_is_refused_with_the_offline_hint(
    single: Cluster,
) -> None:
    agent = await single.agent(await single.add_agent("ann"))
    visitor = await single.visitor()
    try:
        await widget_settings(single, business_hours=hours_excluding_now())
        # the open widget is told that the day is over
        await visitor.wait_for(availability(open=False), scaled(10))
        with pytest.raises(ClientError) as refused:
            await visitor.start(name="Eve")
        assert refused.value.code == "outside_hours"
        assert refused.value.frame["offline"] is True
        # the offline form still works
        left = await visitor.request(
            {"type": "offline", "email": "eve@example.com", "text": "call me"}
        )
        assert left["type"] == "ok"
        # opening again is pushed too, and start works
        await widget_settings(single, business_hours=ALWAYS)
        await visitor.wait_for(availability(open=True), scaled(10))
        chat = await visitor.start(name="Eve")
        assert chat["state"] in ("queued", "offered")
    finally:
        await agent.close()
        await visitor.close()


@pytest.mark.timeout(60)
async def test_i9_07_start_without_a_required_email_is_refused(single: Cluster) -> None:
    await widget_settings(
        single, prechat_fields=["name", "email", "topic"], required_fields=["name", "email"]
    )
    visitor = await single.visitor()
    try:
        with pytest.raises(ClientError) as refused:
            await visitor.start(name="Eve")
        assert refused.value.code == "missing_fields"
        assert refused.value.frame["fields"] == ["email"]
        with pytest.raises(ClientError) as refused:
            await visitor.start(name=" ", email="not-an-address")
        assert refused.value.code == "missing_fields"
        assert refused.value.frame["fields"] == ["name", "email"]
        chat = await visitor.start(name="Eve", email="eve@example.com")
        assert chat["state"] == "queued"
    finally:
        await visitor.close()
