"""Visitors on the site (docs/protocol.md, "Visitors on the site"): with VISITOR_TRACKING on
the widget's ``page`` frames put the visitor on the site list agents read
(``GET /api/visitors/online``) with their page, time on site, language and whether they are
returning; an agent's ``invite`` reaches the visitor's sockets on any process and the
visitor's ``invite_answer`` comes back to the agent.  Off (the default): nothing is tracked.

Real ``chatserver serve`` processes and a real Redis, driven by raw clients.  What depends on
the server noticing a closed socket is polled until it holds (never a fixed sleep).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest

from chatserver.client import ClientError, http
from chatserver.protocol import decode_server
from chatserver.store.keys import Keys
from chatserver.web.models import OnSiteOut, VisitorsOnlineOut
from tests.harness import Cluster, active_chat, close_quietly, running, scaled

Frame = dict[str, Any]

pytestmark = pytest.mark.timeout(120)

ROW_FIELDS = set(OnSiteOut.__struct_fields__)


async def online(c: Cluster, token: str, server: int = 0) -> Frame:
    status, body = await http("GET", f"{c.urls[server]}/api/visitors/online", token=token)
    assert status == 200, body
    msgspec.convert(body, VisitorsOnlineOut)  # as the OpenAPI document says
    assert all(set(row) == ROW_FIELDS for row in body["visitors"])
    return dict(body)


async def row_of(c: Cluster, token: str, visitor: str, server: int = 0) -> Frame | None:
    rows = [r for r in (await online(c, token, server))["visitors"] if r["visitor"] == visitor]
    return rows[0] if rows else None


async def until(check: Any, within: float = 10) -> Any:
    """Poll ``check()`` (async) until it returns something truthy."""
    deadline = time.monotonic() + scaled(within)
    while True:
        got = await check()
        if got:
            return got
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def valid(frame: Frame) -> Frame:
    decode_server(msgspec.msgpack.encode(frame))  # a valid server frame, strictly
    return frame


async def test_off_by_default_nothing_is_tracked(single: Cluster) -> None:
    token = await single.add_agent("ana")
    agent = await single.agent(token)
    v = await single.visitor()
    try:
        assert v.welcome["limits"]["visitor_tracking"] is False
        with pytest.raises(ClientError) as refused:
            await v.request({"type": "page", "url": "https://shop.example/a", "title": "A"})
        assert refused.value.code == "tracking_off"
        with pytest.raises(ClientError) as refused:
            await agent.request({"type": "invite", "visitor": v.welcome["visitor"]})
        assert refused.value.code == "tracking_off"
        listed = await online(single, token)
        assert listed["enabled"] is False and listed["visitors"] == []
        # nothing about the visitor's pages was stored
        r = single.redis()
        try:
            assert [k async for k in r.scan_iter(match=f"{single.prefix}:*onsite*")] == []
        finally:
            await r.aclose()
    finally:
        await close_quietly([agent, v])


async def test_on_the_site_list_across_two_processes(redis_url: str) -> None:
    async with running(redis_url, n=2, VISITOR_TRACKING="true") as c:
        token = await c.add_agent("ana")
        sup = await c.add_agent("sue", capacity=0, role="supervisor")
        v = await c.visitor(server=1)
        clients = [v]
        try:
            assert v.welcome["limits"]["visitor_tracking"] is True
            vid = v.welcome["visitor"]
            # untrusted text: kept as text (control characters dropped), never interpreted
            title = "Shoes <script>alert(1)</script>\n"
            await v.request(
                {
                    "type": "page",
                    "url": "https://shop.example/shoes",
                    "title": title,
                    "locale": "ar",
                }
            )
            row = await row_of(c, token, vid, server=0)
            assert row is not None
            assert row["url"] == "https://shop.example/shoes"
            assert row["title"] == "Shoes <script>alert(1)</script>"
            assert row["lang"] == "ar"
            assert row["returning"] is False  # a new visitor (their token is new)
            assert row["pages"] == 1 and row["in_chat"] is False and row["invited"] is False
            assert row["time_on_site_s"] >= 0 and row["first_seen"] == row["last_seen"]
            assert (await online(c, sup))["enabled"] is True  # supervisors too

            # another page (a second tab on the other process: one visitor, one visit)
            tab = await c.visitor(server=0, token=v.token)
            clients.append(tab)
            await tab.request({"type": "page", "url": "javascript:alert(1)", "locale": "uk"})
            row = await row_of(c, token, vid, server=1)
            assert row is not None
            assert (row["url"], row["title"], row["lang"], row["pages"]) == (
                "javascript:alert(1)",
                "",
                "uk",
                2,
            )
            assert row["returning"] is False  # still the same visit
            # a bad language tag is dropped, the known one stays
            await tab.request({"type": "page", "url": "https://shop.example/", "locale": "x y"})
            row = await row_of(c, token, vid)
            assert row is not None and row["lang"] == "uk" and row["pages"] == 3

            # too long: refused by the frame's limits
            with pytest.raises(ClientError) as refused:
                await v.request({"type": "page", "url": "https://x/" + "a" * 2100})
            assert refused.value.code == "bad_frame"

            # every socket closes: the visitor leaves the list
            await v.close()
            await tab.close()
            await until(lambda: _absent(c, token, vid))

            # the visit ends (its key expires after VISIT_IDLE_S; dropped here): they come
            # back with their token, as a returning visitor
            r = c.redis()
            try:
                await r.delete(Keys(c.prefix).onsite_visit(vid))
            finally:
                await r.aclose()
            back = await c.visitor(server=1, token=v.token)
            clients.append(back)
            assert back.welcome["visitor"] == vid
            await back.request({"type": "page", "url": "https://shop.example/again"})
            row = await row_of(c, token, vid)
            assert row is not None and row["returning"] is True and row["pages"] == 1

            # a new visitor is listed too, newest first
            other = await c.visitor(server=0)
            clients.append(other)
            await other.request({"type": "page", "url": "https://shop.example/new"})
            listed = await online(c, token)
            ids = [r["visitor"] for r in listed["visitors"]]
            assert ids[:2] == [other.welcome["visitor"], vid]
            assert listed["max"] == 500

            # visitors cannot list
            status, _ = await http("GET", f"{c.urls[0]}/api/visitors/online")
            assert status == 401
        finally:
            await close_quietly(clients)


async def _absent(c: Cluster, token: str, vid: str) -> bool:
    return await row_of(c, token, vid) is None


async def test_invitations_across_two_processes(redis_url: str) -> None:
    async with running(redis_url, n=2, VISITOR_TRACKING="1", INVITES_PER_MINUTE="4") as c:
        ana = await c.agent(await c.add_agent("ana", name="Ana Lima"), server=0)
        v = await c.visitor(server=1)
        clients = [ana, v]
        try:
            vid = v.welcome["visitor"]
            await v.request({"type": "page", "url": "https://shop.example/pricing"})

            # invite -> the visitor (on the other process) gets it -> declines
            ok = valid(await ana.request({"type": "invite", "visitor": vid, "text": "Hi!"}))
            first = ok["invite"]
            got = valid(await v.wait_for(lambda f: f["type"] == "invite", scaled(10)))
            assert got == {"type": "invite", "id": first, "agent": "Ana Lima", "text": "Hi!"}
            await v.request({"type": "invite_answer", "invite": first, "accept": False})
            answer = await ana.wait_for(lambda f: f["type"] == "invite_answer", scaled(10))
            assert valid(answer) == {
                "type": "invite_answer",
                "invite": first,
                "visitor": vid,
                "accepted": False,
            }
            row = await row_of(c, c.admin_token, vid)
            assert row is not None and row["answer"] == "declined" and row["invited"] is False
            # answered once only
            with pytest.raises(ClientError) as refused:
                await v.request({"type": "invite_answer", "invite": first, "accept": True})
            assert refused.value.code == "not_found"

            # invite again -> accept -> the visitor starts a chat -> offered to the agent
            second = (await ana.request({"type": "invite", "visitor": vid}))["invite"]
            await v.wait_for(lambda f: f["type"] == "invite" and f["id"] == second, scaled(10))
            await v.request({"type": "invite_answer", "invite": second, "accept": True})
            await ana.wait_for(
                lambda f: f["type"] == "invite_answer" and f["accepted"] is True, scaled(10)
            )
            chat = await active_chat(ana, v)
            row = await row_of(c, c.admin_token, vid)
            assert row is not None and row["in_chat"] is True and row["answer"] == "accepted"

            # in a chat: refused
            with pytest.raises(ClientError) as refused:
                await ana.request({"type": "invite", "visitor": vid})
            assert refused.value.code == "in_chat"
            assert chat
            # not on the site: refused
            with pytest.raises(ClientError) as refused:
                await ana.request({"type": "invite", "visitor": "v-nobody"})
            assert refused.value.code == "not_on_site"

            # INVITES_PER_MINUTE counts every attempt: refused within the limit's reach
            # (twice the limit, in case a minute ends in between)
            codes = []
            for _ in range(9):
                try:
                    await ana.request({"type": "invite", "visitor": "v-nobody"})
                except ClientError as exc:
                    codes.append(exc.code)
            assert "rate_limited" in codes
        finally:
            await close_quietly(clients)


async def test_the_list_is_bounded_and_visits_expire(redis_url: str) -> None:
    async with running(redis_url, VISITOR_TRACKING="1", VISITORS_ONLINE_MAX="2") as c:
        visitors = [await c.visitor() for _ in range(3)]
        try:
            for i, v in enumerate(visitors):
                await v.request({"type": "page", "url": f"https://shop.example/{i}"})
                await asyncio.sleep(0.01)  # page views in distinct milliseconds: an order
            listed = await online(c, c.admin_token)
            assert listed["max"] == 2
            # the two newest page views; the first visitor dropped off the list
            assert [r["url"] for r in listed["visitors"]] == [
                "https://shop.example/2",
                "https://shop.example/1",
            ]
            keys = Keys(c.prefix)
            r = c.redis()
            try:
                assert await r.zcard(keys.onsite) == 2
                for v in visitors:  # each visit's record expires VISIT_IDLE_S after its page
                    ttl = await r.pttl(keys.onsite_visit(v.welcome["visitor"]))
                    assert 0 < ttl <= 1800 * 1000
            finally:
                await r.aclose()
        finally:
            await close_quietly(visitors)
