"""Queue positions: local visitors whose chat is queued are told their position (and the
wait estimate) whenever it changes.

``waiting`` holds the local visitors' queued chats; one that leaves its queue (offered,
active, ended) leaves ``waiting`` too, and comes back through ``watch`` when it is
queued again (``requeue`` tells the visitor's process).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from chatserver.core import positions as core
from chatserver.protocol import encode
from chatserver.store.views import ChatReads

if TYPE_CHECKING:
    from chatserver.hub.availability import AvailabilityWatch
    from chatserver.hub.registry import Registry
    from chatserver.settings import Settings

log = logging.getLogger(__name__)


class Positions:
    def __init__(
        self,
        settings: Settings,
        reads: ChatReads,
        registry: Registry,
        availability: AvailabilityWatch,
    ) -> None:
        self.settings = settings
        self.reads = reads
        self.registry = registry
        self.availability = availability
        self.waiting: dict[str, tuple[str, int]] = {}
        """Local visitors' queued chats: chat id -> (topic, last position sent)."""
        self._visitor_of: dict[str, str] = {}
        """Visitor of each chat in ``waiting`` (filled by the pass)."""
        self._watches = 0
        self._watched: dict[str, int] = {}
        """Chat in ``waiting`` -> the value of ``_watches`` when it was last watched."""
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """The queues changed: update the positions soon (if anyone here waits)."""
        if self.waiting:
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def watch(self, chat_id: str, topic: str) -> None:
        """Track a local visitor's live chat for queue position updates."""
        self.waiting.setdefault(chat_id, (topic, -1))
        self._watches += 1
        self._watched[chat_id] = self._watches
        self._wake.set()

    def requote(self, topics: set[str]) -> None:
        """Send the waiting visitors of ``topics`` their ``queue`` frame again (an
        eligible agent came or the last one went: the wait estimate appears or goes)."""
        for chat_id, (topic, _) in list(self.waiting.items()):
            if topic in topics:
                self.waiting[chat_id] = (topic, -1)
        if self.waiting:
            self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.update()
            except RedisError as exc:
                log.warning("position update failed: %s", exc)
            # coalesce: under load the queues change many times a second, and a pass
            # reads every local waiting chat
            await asyncio.sleep(self.settings.position_interval_s)

    async def update(self) -> None:
        """One pass: each topic queue with a local waiting visitor is read once (ZRANGE),
        and only chats missing from their queue (offered, active, ended, moved to another
        topic) or new here are looked up one by one."""
        if not self.waiting:
            return
        await self.availability.current()
        mark = self._watches
        topics = sorted({topic for topic, _ in self.waiting.values()})
        read = await self.reads.queues(topics)
        handle = {topic: avg for topic, (_, avg) in zip(topics, read, strict=True)}
        found = core.ranks(
            self.waiting, {topic: members for topic, (members, _) in zip(topics, read, strict=True)}
        )
        unknown = core.look_up(self.waiting, found, self._visitor_of)
        if unknown:
            moved = False
            states = await self.reads.states(unknown)
            for chat_id, (state, topic, visitor) in zip(unknown, states, strict=True):
                match core.settle(state, chat_id in found, self._watched.get(chat_id, 0), mark):
                    case core.Settle.VISITOR:
                        self._visitor_of[chat_id] = visitor
                    case core.Settle.MOVED:
                        self._visitor_of[chat_id] = visitor
                        self.waiting[chat_id] = (topic, -1)
                        moved = True
                    case core.Settle.DROP:
                        # if it is queued again (declined, lapsed, agent gone, transferred
                        # to a queue), ``requeue`` tells the visitor's process, which
                        # watches it again
                        self.waiting.pop(chat_id, None)
                        self._visitor_of.pop(chat_id, None)
                        self._watched.pop(chat_id, None)
                    case core.Settle.KEEP:
                        pass
            if moved:
                self._wake.set()
        for update in core.to_send(self.waiting, found):
            self.waiting[update.chat_id] = (update.topic, update.position)
            fields = self.availability.queue_fields(
                update.topic, update.position, handle[update.topic]
            )
            data = encode({"type": "queue", "chat": update.chat_id, **fields})
            for conn in self.registry.local("visitor", self._visitor_of.get(update.chat_id, "")):
                conn.send_raw(data)
