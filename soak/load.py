"""Simulated visitors and agents, using the product's own client (``chatserver.client``)
with reconnect and resume on, through the proxies.

A visitor starts a chat, writes a few messages, waits for the agent to close it (or
leaves when tired of waiting), pauses, and starts another, until the load stops.  An
agent accepts most offers (declines or ignores some), answers, and closes the chat.
Every failure a fault causes (a timeout, a dropped socket, a refusal) is taken as a real
client would: retried, or left to the client's reconnect loop.  What the clients saw is
kept for the audit (``ChatClient.messages`` and ``acks``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from chatserver.client import ChatClient, ClientError

TOPICS: dict[str, list[str]] = {"general": [], "billing": ["billing"], "tech": ["tech"]}
SKILLS = ["billing", "tech"]
END_STATES = ("closed", "abandoned", "missed", "offline")
ERRORS = (ClientError, TimeoutError, ConnectionError, OSError)


@dataclass
class Chat:
    id: str
    visitor: ChatClient
    topic: str


@dataclass
class Load:
    urls: list[str]
    rng: random.Random
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    visitors: list[ChatClient] = field(default_factory=list)
    agents: dict[str, ChatClient] = field(default_factory=dict)
    chats: dict[str, Chat] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=lambda: {
        "chats_started": 0, "visitor_sends": 0, "agent_sends": 0, "accepted": 0,
        "declined": 0, "ignored": 0, "closed_by_agent": 0, "left_by_visitor": 0,
        "send_failures": 0, "connect_retries": 0,
    })

    # ---- connecting ----------------------------------------------------------------------
    async def _connect(self, make: Callable[[], Awaitable[ChatClient]]) -> ChatClient | None:
        delay = 0.2
        while not self.stop.is_set():
            try:
                return await make()
            except (*ERRORS, Exception):
                self.stats["connect_retries"] += 1
                await asyncio.sleep(delay * (0.5 + self.rng.random()))
                delay = min(delay * 2, 2.0)
        return None

    # ---- visitors ------------------------------------------------------------------------
    async def visitor(self, index: int, spread_s: float) -> None:
        rng = random.Random(self.rng.random())
        await asyncio.sleep(rng.uniform(0, spread_s))
        urls = self.urls if index % 2 == 0 else self.urls[::-1]
        v = await self._connect(lambda: ChatClient.visitor(urls, reconnect=True))
        if v is None:
            return
        self.visitors.append(v)
        while not self.stop.is_set():
            chat_id = await self._start(v, rng, index)
            if chat_id is None:
                await asyncio.sleep(1)
                continue
            for k in range(rng.randint(1, 4)):
                if self.stop.is_set() or _ended(v, chat_id):
                    break
                try:
                    await v.say(chat_id, f"v{index} {chat_id} m{k}", timeout=15)
                    self.stats["visitor_sends"] += 1
                except ClientError as exc:
                    if exc.code in ("invalid_state", "forbidden", "not_found"):
                        break  # the chat ended meanwhile
                    self.stats["send_failures"] += 1
                except (TimeoutError, ConnectionError, OSError):
                    self.stats["send_failures"] += 1  # resent after the reconnect
                await self._sleep(rng.uniform(0.5, 3.0))
            # wait for the agent to close it; leave when tired of waiting
            if not await self._wait_ended(v, chat_id, rng.uniform(15, 45)):
                if self.stop.is_set():
                    return
                with contextlib.suppress(*ERRORS):
                    await v.request({"type": "leave", "chat": chat_id}, timeout=15)
                    self.stats["left_by_visitor"] += 1
                await self._wait_ended(v, chat_id, 10)
            await self._sleep(rng.uniform(1.0, 5.0))

    async def _start(self, v: ChatClient, rng: random.Random, index: int) -> str | None:
        topic = rng.choice(list(TOPICS))
        try:
            chat = await v.start(topic=topic, name=f"visitor {index}")
        except ClientError as exc:
            if exc.code == "chat_open" and exc.frame.get("chat"):
                # the one still open (a fault swallowed the reply to an earlier start):
                # follow it on this connection, as the protocol says, and go on with it
                chat_id = str(exc.frame["chat"])
                v.last_seq.setdefault(chat_id, 0)
                try:
                    await v.request({"type": "resume", "chat": chat_id,
                                     "after": v.last_seq[chat_id]})
                except ERRORS:
                    return None
                if chat_id not in self.chats:
                    self.chats[chat_id] = Chat(chat_id, v, topic)
                return chat_id
            return None
        except (TimeoutError, ConnectionError, OSError):
            return None
        self.chats[chat["id"]] = Chat(chat["id"], v, topic)
        self.stats["chats_started"] += 1
        return str(chat["id"])

    async def _wait_ended(self, client: ChatClient, chat_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop.is_set():
            if _ended(client, chat_id):
                return True
            await asyncio.sleep(0.25)
        return _ended(client, chat_id)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    # ---- agents --------------------------------------------------------------------------
    async def agent(self, agent_id: str, token: str, index: int) -> None:
        rng = random.Random(self.rng.random())
        urls = self.urls if index % 2 == 0 else self.urls[::-1]
        a = await self._connect(lambda: ChatClient.agent(urls, token, reconnect=True))
        if a is None:
            return
        self.agents[agent_id] = a
        seen = 0
        connects = 0
        handling: dict[str, asyncio.Task[None]] = {}
        try:
            while not self.stop.is_set():
                if a.connects != connects:  # (re)connected: go on with the chats we hold
                    connects = a.connects
                    for c in a.welcome.get("chats", []):
                        if c.get("state") == "active":
                            self._handle(a, c["id"], rng, handling)
                        elif c.get("state") == "offered":
                            await self._answer_offer(a, c["id"], rng, handling)
                frames = a.frames[seen:]
                seen += len(frames)
                for f in frames:
                    kind = f.get("type")
                    if kind == "offer":
                        await self._answer_offer(a, f["chat"]["id"], rng, handling)
                    elif kind == "status" and f.get("status") == "away":
                        with contextlib.suppress(*ERRORS):
                            await a.request({"type": "status", "status": "online"}, timeout=10)
                await asyncio.sleep(0.1)
        finally:
            for t in handling.values():
                t.cancel()
            await asyncio.gather(*handling.values(), return_exceptions=True)

    async def _answer_offer(self, a: ChatClient, chat_id: str, rng: random.Random,
                            handling: dict[str, asyncio.Task[None]]) -> None:
        roll = rng.random()
        if roll < 0.85:
            try:
                await a.request({"type": "accept", "chat": chat_id}, timeout=15)
                self.stats["accepted"] += 1
                self._handle(a, chat_id, rng, handling)
            except ERRORS:
                pass  # lapsed, taken back, or the socket dropped: the offer comes again
        elif roll < 0.95:
            self.stats["declined"] += 1
            with contextlib.suppress(*ERRORS):
                await a.request({"type": "decline", "chat": chat_id}, timeout=15)
        else:
            self.stats["ignored"] += 1  # the offer lapses; the agent is set away

    def _handle(self, a: ChatClient, chat_id: str, rng: random.Random,
                handling: dict[str, asyncio.Task[None]]) -> None:
        task = handling.get(chat_id)
        if task is not None and not task.done():
            return
        handling[chat_id] = asyncio.create_task(self._converse(a, chat_id, rng))

    async def _converse(self, a: ChatClient, chat_id: str, rng: random.Random) -> None:
        for k in range(rng.randint(1, 3)):
            if _ended(a, chat_id) or _revoked(a, chat_id):
                return
            try:
                await a.say(chat_id, f"{chat_id} answer {k}", timeout=15,
                            internal=rng.random() < 0.1)
                self.stats["agent_sends"] += 1
            except ClientError as exc:
                if exc.code in ("invalid_state", "forbidden", "not_found"):
                    return
                self.stats["send_failures"] += 1
            except (TimeoutError, ConnectionError, OSError):
                self.stats["send_failures"] += 1
            await asyncio.sleep(rng.uniform(0.5, 3.0))
        await asyncio.sleep(rng.uniform(1.0, 8.0))
        for _ in range(5):
            if _ended(a, chat_id) or _revoked(a, chat_id):
                return
            try:
                await a.request({"type": "close", "chat": chat_id, "outcome": "resolved"},
                                timeout=15)
                self.stats["closed_by_agent"] += 1
                return
            except ClientError as exc:
                if exc.code in ("invalid_state", "forbidden", "not_found"):
                    return
            except (TimeoutError, ConnectionError, OSError):
                pass
            await asyncio.sleep(2.0)

    # ---- the end -------------------------------------------------------------------------
    async def close_visitors(self) -> None:
        """Every visitor goes away: half close their socket, half just vanish."""
        for i, v in enumerate(self.visitors):
            if i % 2:
                await v.drop()
                v._stopping = True
                if v._reconnecting is not None:
                    v._reconnecting.cancel()
        await asyncio.gather(*(v.close() for v in self.visitors), return_exceptions=True)

    async def close_agents(self) -> None:
        """Every agent vanishes (a dead network: no close handshake)."""
        for a in self.agents.values():
            a._stopping = True
            await a.drop()
        await asyncio.gather(*(a.close() for a in self.agents.values()),
                             return_exceptions=True)

    def all_clients(self) -> list[ChatClient]:
        return [*self.visitors, *self.agents.values()]


def _ended(client: ChatClient, chat_id: str) -> bool:
    for f in reversed(client.frames):
        if f.get("type") == "chat" and f.get("chat", {}).get("id") == chat_id:
            return f["chat"].get("state") in END_STATES
        if f.get("type") == "ended" and f.get("chat") == chat_id:
            return True
    return False


def _revoked(client: ChatClient, chat_id: str) -> bool:
    return any(f.get("type") == "revoked" and f.get("chat") == chat_id
               for f in client.frames[-50:])


def capacity_and_skills(rng: random.Random) -> tuple[int, dict[str, int]]:
    return rng.randint(1, 4), {s: rng.randint(1, 10) for s in SKILLS if rng.random() < 0.6}

