"""Outage notices on this process: relayed to its visitors and agents, and ended.

One ``NoticeWatch`` per process keeps the notices in force (read at start, then kept by
the ``notice`` / ``notice_end`` messages every process gets on the notice channel, and
read again at each expiry and every ``NOTICE_REFRESH_S`` to heal a missed message).

- A ``notice`` frame goes to every agent connection, to every visitor connection whose
  chat waits (queued, or offered and not accepted yet) in one of the notice's topics
  (``core.notices.applies``), and to every visitor who has no chat yet (the widget
  shows the notices of the topic they pick).
  The chats it was shown to are remembered for their records (``store.notices``).
- A ``notice_end`` frame goes to every agent and visitor connection (the client drops
  the banner if it shows one); an expiry is an end too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec
from redis.exceptions import RedisError

from chatserver.core.lifecycle import ChatState
from chatserver.core.notices import Notice, applies, in_force, next_expiry
from chatserver.protocol import encode
from chatserver.store.notices import NoticeStore, end_frame, notice_frame
from chatserver.store.scripts import Scripts

if TYPE_CHECKING:
    from chatserver.hub.connection import Connection
    from chatserver.hub.node import Node

log = logging.getLogger(__name__)
_decoder = msgspec.msgpack.Decoder(dict[str, Any])
WAITING = (ChatState.QUEUED.value, ChatState.OFFERED.value)
"""Chat states whose visitor waits for an agent: they are shown the notices."""
READ_BATCH = 500
"""Chats whose state one round trip reads when a notice is relayed."""


class NoticeWatch:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.store = NoticeStore(node.redis, node.keys, Scripts(node.redis))
        self.notices: dict[str, Notice] = {}
        self._wake = asyncio.Event()
        self._read_at = 0.0
        self._changes = 0
        """Pub/sub messages taken so far (a read that overlaps one is stale: dropped)."""

    # ---- what a connection is shown ------------------------------------------------------
    def for_topic(self, topic: str | None) -> list[dict[str, Any]]:
        """The notices a visitor of ``topic`` (None: no chat yet) sees now, as in their
        ``notice`` frames (without ``type``)."""
        return [
            {k: v for k, v in notice_frame(n, for_visitors=True).items() if k != "type"}
            for n in in_force(self.notices.values(), topic, self.node.now())
        ]

    def everything(self) -> list[dict[str, Any]]:
        """Every notice in force (agents see them all, with who posted them)."""
        return [n.as_dict() for n in in_force(self.notices.values(), None, self.node.now())]

    def seen(self, chat_id: str, notices: list[dict[str, Any]]) -> None:
        """``chat_id``'s visitor was shown ``notices``: remember it for the record."""
        if notices:
            pairs = [(chat_id, str(n["id"])) for n in notices]
            self.node.spawn(self.store.mark_seen(pairs, self.seen_ttl_s))

    @property
    def seen_ttl_s(self) -> int:
        """How long a chat's set of seen notices is kept: past the chat's retention (the
        records writer shortens it to the retention once the record is written)."""
        return int(self.node.settings.chat_retention_s) + 86_400

    # ---- keeping the notices -------------------------------------------------------------
    async def start(self) -> None:
        with contextlib.suppress(RedisError):
            await self.refresh()

    def on_publish(self, channel: str, data: bytes) -> None:
        try:
            frame = _decoder.decode(data)
        except msgspec.DecodeError:
            return
        self._changes += 1
        if frame.get("type") == "notice":
            notice = Notice.from_dict(frame)
            self.notices[notice.id] = notice
            self._deliver(notice)
        elif frame.get("type") == "notice_end":
            self.notices.pop(str(frame.get("id")), None)
            self._end(str(frame.get("id")))
        self._wake.set()

    async def run(self) -> None:
        node = self.node
        while not node.stopping.is_set():
            now = node.now()
            due = next_expiry(self.notices.values(), now)
            wait = node.settings.notice_refresh_s
            if due is not None:
                wait = min(wait, max(0.0, (due - now) / 1000) + 0.01)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            if self._wake.is_set():
                self._wake.clear()
                if time.monotonic() - self._read_at < node.settings.notice_refresh_s:
                    continue  # a change arrived: compute the next expiry again
            try:
                await self.refresh()
            except RedisError as exc:
                log.warning("notice refresh failed: %s", exc)

    async def refresh(self) -> None:
        """Read the notices in force; relay what changed since the last read.  A read
        during which a notice or an end arrived by pub/sub is dropped (the message is
        newer than what it may have read); the loop reads again."""
        mark = self._changes
        self._read_at = time.monotonic()
        fresh = {n.id: n for n in await self.store.all(self.node.now())}
        if self._changes != mark:
            return
        for gone in set(self.notices) - set(fresh):
            del self.notices[gone]
            self._end(gone)
        for notice_id, notice in fresh.items():
            if notice_id not in self.notices:
                self.notices[notice_id] = notice
                self._deliver(notice)

    # ---- delivering ----------------------------------------------------------------------
    def _visitors(self) -> list[Connection]:
        return [
            c
            for conns in self.node.registry.visitors.values()
            for c in conns
            if c.welcomed and not c.closed
        ]

    def _agents(self) -> list[Connection]:
        return [
            c
            for conns in self.node.registry.agents.values()
            for c in conns
            if c.welcomed and not c.closed
        ]

    async def _waiting_topics(self, conns: list[Connection]) -> dict[str, str]:
        """Chat -> topic of the chats of ``conns`` that wait for an agent (queued, or
        offered and not yet accepted), read in one round trip (the position loop's
        ``waiting`` map lags behind an offer or an accept)."""
        node = self.node
        ask = sorted({chat_id for conn in conns for chat_id in conn.cursors})
        found: dict[str, str] = {}
        for i in range(0, len(ask), READ_BATCH):  # bounded replies, whatever the number
            part = ask[i : i + READ_BATCH]
            found.update(
                (chat_id, topic)
                for chat_id, (state, topic) in zip(
                    part, await node.reads.waiting_topics(part), strict=True
                )
                if state in WAITING
            )
        return found

    def _deliver(self, notice: Notice) -> None:
        for conn in self._agents():
            conn.send_raw(encode(notice_frame(notice)))
        self.node.spawn(self._deliver_to_visitors(notice))

    async def _deliver_to_visitors(self, notice: Notice) -> None:
        """To visitors with no chat and those whose chat waits in one of its topics."""
        data = encode(notice_frame(notice, for_visitors=True))
        conns = self._visitors()
        topics = await self._waiting_topics([c for c in conns if c.cursors])
        if notice.id not in self.notices:
            return  # ended meanwhile
        now = self.node.now()
        seen: set[tuple[str, str]] = set()
        for conn in conns:
            if not conn.cursors:
                conn.send_raw(data)
                continue
            chats = [c for c in conn.cursors if c in topics and applies(notice, topics[c], now)]
            if chats and not conn.closed:
                conn.send_raw(data)
                seen.update((c, notice.id) for c in chats)
        if seen:
            await self.store.mark_seen(seen, self.seen_ttl_s)

    def _end(self, notice_id: str) -> None:
        data = encode(end_frame(notice_id))
        for conn in [*self._visitors(), *self._agents()]:
            conn.send_raw(data)
