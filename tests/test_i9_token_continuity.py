"""Issue 9, item 3: a server restart must not cut a visitor off their chat.

A client keeps its token through an outage of any length; only the explicit answer of a
server that is up (``POST /api/visitor/check`` -> ``401 invalid_token``; for agents
``GET /api/me`` -> ``401 unauthorized``) may make it drop the token.  The servers are real
``chatserver serve`` processes, stopped with SIGTERM and started again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from chatserver.client import ChatClient
from tests import harness
from tests.harness import Cluster, scaled

pytestmark = pytest.mark.timeout(180)

# Presence and leave graces longer than the outages below: these tests are about the
# visitor's credentials, not about what the timers do to chats whose people are away.
PATIENT = {
    "presence_ttl_s": "60",
    "offline_grace_s": "60",
    "visitor_leave_grace_s": "120",
}

OLD_GIVE_UP_ATTEMPTS = 200
"""The Python client used to stop reconnecting after this many failed attempts."""


def running(redis_url: str, **env: str) -> contextlib.AbstractAsyncContextManager[Cluster]:
    """One server process with the PATIENT settings (``env`` on top)."""
    return harness.running(redis_url, 1, **{**PATIENT, **env})


@contextlib.asynccontextmanager
async def closing(*clients: ChatClient) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for c in clients:
            await c.close()


async def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def texts(client: ChatClient, chat_id: str) -> list[str]:
    return [m["text"] for m in client.messages.get(chat_id, []) if m.get("kind") == "message"]


async def write_offline(client: ChatClient, chat_id: str, text: str) -> None:
    """Write while the socket is down: kept as unacknowledged, sent after the reconnect."""
    with contextlib.suppress(ConnectionError):
        await client.say_nowait(chat_id, text, f"m{secrets.token_hex(6)}")
    assert any(t == text for _, t, _ in client.unacked.values())


def _lower(items: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in items}


def post_check(
    url: str, body: Any, origin: str | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST /api/visitor/check as a browser would (text/plain body, optional Origin)."""
    req = urllib.request.Request(
        url + "/api/visitor/check", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "text/plain;charset=UTF-8",
                 **({"Origin": origin} if origin else {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, _json(resp.read()), _lower(resp.headers.items())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, _json(exc.read()), _lower(exc.headers.items())


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {"not json": raw[:200].decode(errors="replace")}
    return value if isinstance(value, dict) else {"value": value}


async def restart(cluster: Cluster, **env: str) -> None:
    """Stop the server with SIGTERM (graceful) and start it again on the same port."""
    server = cluster.servers[0]
    await asyncio.to_thread(server.stop)
    server.env.update({k.upper(): v for k, v in env.items()})
    await asyncio.to_thread(server.start)


async def test_i9_03_client_keeps_its_token_through_a_long_restart_and_resumes_the_chat(
    redis_url: str,
) -> None:
    async with running(redis_url) as cluster:
        url = cluster.urls[0]
        agent = await ChatClient.agent(url, await cluster.add_agent("alice"), reconnect=True,
                                       reconnect_max_delay=0.02)
        visitor = await ChatClient.visitor(url, reconnect=True, reconnect_max_delay=0.02)
        async with closing(agent, visitor):
            chat = await visitor.start(name="Ada")
            chat_id = chat["id"]
            await agent.wait_for(lambda f: f["type"] == "offer", scaled(10))
            await agent.request({"type": "accept", "chat": chat_id})
            await visitor.say(chat_id, "v1")
            await agent.say(chat_id, "a1")
            await visitor.wait_messages(chat_id, 2, scaled(10))
            token, visitor_id = visitor.token, visitor.welcome["visitor"]

            server = cluster.servers[0]
            await asyncio.to_thread(server.stop)  # SIGTERM: sockets closed with 1001
            await until(lambda: not visitor.connected.is_set() and not agent.connected.is_set())
            # both sides type while the server is away ...
            await write_offline(visitor, chat_id, "v2 (written during the outage)")
            await write_offline(agent, chat_id, "a2 (written during the outage)")
            await write_offline(visitor, chat_id, "v3 (written during the outage)")
            # ... for longer than the old rule allowed before giving up
            await until(lambda: min(visitor.failed_attempts, agent.failed_attempts)
                        > OLD_GIVE_UP_ATTEMPTS + 50, timeout=90)
            assert visitor.token == token  # kept while the server cannot answer
            await asyncio.to_thread(server.start)

            expected = {"v1", "a1", "v2 (written during the outage)",
                        "a2 (written during the outage)", "v3 (written during the outage)"}
            for side in (visitor, agent):
                await until(lambda side=side: set(texts(side, chat_id)) == expected)
            # the same visitor, token and chat
            assert visitor.token == token
            assert visitor.token_resets == 0
            assert visitor.welcome["visitor"] == visitor_id
            assert visitor.welcome["chat"]["id"] == chat_id
            assert visitor.welcome["chat"]["state"] == "active"
            assert "token" not in visitor.welcome
            # every message stored exactly once (the client drops only repeated seqs, so a
            # message stored twice would show twice here)
            await asyncio.sleep(scaled(0.5))
            for side in (visitor, agent):
                assert sorted(texts(side, chat_id)) == sorted(expected)
            assert visitor.unacked == {} and agent.unacked == {}
            refusals = [f for f in visitor.frames if f.get("type") == "error"]
            assert refusals == []  # no "forbidden: you are not in this chat"

            # and the chat goes on
            await visitor.say(chat_id, "v4")
            await agent.wait_messages(chat_id, len(expected) + 1, scaled(10))


async def test_i9_03_client_drops_its_token_only_on_the_servers_explicit_answer(
    redis_url: str,
) -> None:
    shop = "http://shop.example"
    async with running(redis_url, widget_origins=shop) as cluster:
        url = cluster.urls[0]
        agent = await ChatClient.agent(url, await cluster.add_agent("alice"), reconnect=True)
        visitor = await ChatClient.visitor(url, reconnect=True, origin=shop)
        async with closing(agent, visitor):
            chat = await visitor.start(name="Ada")
            token, visitor_id = visitor.token, visitor.welcome["visitor"]

            # 1. handshakes refused (403) for another reason than the token: this site is
            # no longer allowed.  The client asks; the server says the token is valid.
            await restart(cluster, widget_origins="http://another.example")
            await until(lambda: visitor.refusals >= 6)  # so it asked, at least twice
            assert not visitor.connected.is_set()
            assert visitor.token == token
            assert visitor.token_resets == 0
            await restart(cluster, widget_origins=shop)
            await until(lambda: visitor.connected.is_set())
            assert visitor.welcome["visitor"] == visitor_id
            assert visitor.welcome["chat"]["id"] == chat["id"]
            await until(lambda: agent.connected.is_set())

            # 2. the server comes back with another SECRET_KEY: every token it signed is
            # invalid now, and it says so.  The visitor starts afresh; the agent stops.
            await restart(cluster, secret_key=secrets.token_urlsafe(32))
            await until(lambda: visitor.connected.is_set()
                        and visitor.welcome["visitor"] != visitor_id)
            assert visitor.token_resets == 1
            assert visitor.token is not None and visitor.token != token
            assert visitor.welcome["chat"] is None
            await until(lambda: agent.unauthorized)
            assert not agent.connected.is_set()
            attempts = agent.failed_attempts
            await asyncio.sleep(scaled(0.5))
            assert agent.failed_attempts == attempts  # it stopped trying

        log = cluster.servers[0].output()
        assert token is not None and token not in log


async def test_i9_03_token_check_endpoint(redis_url: str) -> None:
    shop = "http://shop.example"
    async with running(redis_url, widget_origins=shop, token_checks_per_minute="6") as cluster:
        url = cluster.urls[0]
        visitor = await ChatClient.visitor(url, origin=shop)
        async with closing(visitor):
            token = visitor.token
            assert token
            status, body, headers = await asyncio.to_thread(post_check, url, {"token": token},
                                                            shop)
            assert (status, body) == (200, {"valid": True})
            assert headers["access-control-allow-origin"] == shop  # the widget may read it
            forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
            for bad in (forged, "not-a-token", secrets.token_urlsafe(40)):
                status, body, headers = await asyncio.to_thread(
                    post_check, url, {"token": bad}, shop)
                assert status == 401 and body["error"] == "invalid_token", body
                assert headers["access-control-allow-origin"] == shop
            # not an answer about a token: never "invalid_token"
            status, body, _ = await asyncio.to_thread(post_check, url, {"tok": token}, shop)
            assert status == 400 and body["error"] == "bad_request"
            status, body, headers = await asyncio.to_thread(
                post_check, url, {"token": token}, "http://evil.example")
            assert status == 403 and "access-control-allow-origin" not in headers
            # rate limited per address, like new visitors and logins (6 per minute here:
            # 5 counted above; the refused origin was not)
            status, body, _ = await asyncio.to_thread(post_check, url, {"token": token}, shop)
            assert status == 200
            status, body, headers = await asyncio.to_thread(post_check, url, {"token": forged})
            assert status == 429 and body["error"] == "rate_limited"
            assert "retry-after" in headers
        assert token not in cluster.servers[0].output()
