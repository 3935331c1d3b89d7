"""One WebSocket connection: a bounded send queue with its writer task, and per-chat
delivery cursors that make every message arrive once and in order.

Delivery rule for sequenced messages (``msg`` frames) of a chat the connection follows:

- seq <= delivered: a duplicate, dropped;
- seq == delivered + 1: sent at once;
- seq  > delivered + 1: something was missed (pub/sub is best effort, or the connection
  joined while messages were in flight): the cursor catches up from the chat log, holding
  live messages back until it has, then releases them in order.

A connection whose send queue fills (a tab that stopped reading) is closed with 1013 so
that it cannot slow anyone else; it reconnects and resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketState

from chatserver.protocol import CloseCode, encode

if TYPE_CHECKING:
    from chatserver.hub.node import Node

log = logging.getLogger(__name__)


@dataclass
class Cursor:
    delivered: int
    catching_up: bool = False
    pending: list[tuple[int, bytes]] = field(default_factory=list)


class Connection:
    def __init__(
        self,
        node: Node,
        websocket: WebSocket,
        *,
        conn_id: str,
        role: str,
        subject: str,
        name: str,
        supervisor: bool = False,
        version: int = 0,
    ) -> None:
        self.node = node
        self.ws = websocket
        self.id = conn_id
        self.role = role  # "visitor" or "agent"
        self.subject = subject  # visitor id or agent id
        self.name = name
        self.supervisor = supervisor
        self.version = version
        self.cursors: dict[str, Cursor] = {}
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(node.settings.send_queue_frames)
        self._writer: asyncio.Task[None] | None = None
        self.closed = False
        self.close_code: int | None = None

    @property
    def participant(self) -> str:
        return f"{self.role}:{self.subject}"

    @property
    def sees_internal(self) -> bool:
        return self.role == "agent"

    # ---- sending -------------------------------------------------------------------------
    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name=f"writer-{self.id}")

    def send(self, frame: dict[str, Any]) -> None:
        self.send_raw(encode(frame))

    def send_raw(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            log.info("connection %s fell behind; closing", self.id)
            self.close(CloseCode.TRY_AGAIN, "too slow")

    def close(self, code: int, reason: str = "") -> None:
        """Flush what is queued, then close with ``code``.  Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self._close_reason = reason
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        if self._queue.full():
            # no room for the marker: drop what is queued, the client will resume
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(None)

    async def _write_loop(self) -> None:
        try:
            while True:
                data = await self._queue.get()
                if data is None:
                    break
                await self.ws.send_bytes(data)
        except Exception:  # the socket went away; the reader side will notice
            pass
        finally:
            if self.closed and self.ws.application_state != WebSocketState.DISCONNECTED:
                with contextlib.suppress(Exception):
                    await self.ws.close(self.close_code or 1000, getattr(self, "_close_reason", ""))

    async def finish(self) -> None:
        """Stop the writer (after the reader ended)."""
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer

    # ---- chats ---------------------------------------------------------------------------
    async def follow(self, chat_id: str, after: int, reset: bool = False) -> None:
        """Deliver the chat's messages after ``after``, then live ones, exactly once each.

        Following a chat already followed changes nothing unless ``reset`` (a client's
        ``resume``), which delivers again from ``after``."""
        cursor = self.cursors.get(chat_id)
        if cursor is None:
            cursor = Cursor(delivered=after, catching_up=True)
            self.cursors[chat_id] = cursor
            await self.node.fanout.subscribe(self.node.keys.chat_channel(chat_id), self)
        else:
            if not reset or cursor.catching_up:
                if reset:
                    cursor.delivered = min(cursor.delivered, after)
                return
            cursor.delivered = after
            cursor.catching_up = True
        await self._catch_up(chat_id, cursor)

    async def unfollow(self, chat_id: str) -> None:
        if self.cursors.pop(chat_id, None) is not None:
            await self.node.fanout.unsubscribe(self.node.keys.chat_channel(chat_id), self)

    async def unfollow_all(self) -> None:
        for chat_id in list(self.cursors):
            await self.unfollow(chat_id)

    async def catch_up_all(self) -> None:
        for chat_id, cursor in list(self.cursors.items()):
            if not cursor.catching_up:
                cursor.catching_up = True
                await self._catch_up(chat_id, cursor)

    def on_publish(self, channel: str, data: bytes) -> None:
        chat_id = self.node.keys_chat_of_channel(channel)
        kind = data[:1]
        if kind in (b"g", b"G") and not self.sees_internal:
            return
        if kind in (b"A", b"G"):
            self.send_raw(data[1:])
            return
        cursor = self.cursors.get(chat_id)
        if cursor is None:
            return
        bar = data.index(b"|")
        seq = int(data[1:bar])
        frame = data[bar + 1 :]
        if cursor.catching_up:
            cursor.pending.append((seq, frame))
            return
        if seq <= cursor.delivered:
            return
        if seq == cursor.delivered + 1:
            cursor.delivered = seq
            self.send_raw(frame)
            return
        cursor.catching_up = True
        cursor.pending.append((seq, frame))
        self.node.spawn(self._catch_up(chat_id, cursor))

    async def _catch_up(self, chat_id: str, cursor: Cursor) -> None:
        page = self.node.settings.history_page
        messages = self.node.messages
        try:
            while True:
                told = False
                while True:
                    gap, entries = await messages.read_after(chat_id, cursor.delivered, page)
                    if gap and not told:
                        told = True
                        self.send({"type": "resync", "chat": chat_id, "after": cursor.delivered})
                    for entry in entries:
                        if entry.seq <= cursor.delivered:
                            continue
                        cursor.delivered = entry.seq
                        if entry.audience == "g" and not self.sees_internal:
                            continue
                        self.send_raw(entry.frame)
                    if len(entries) < page or self.closed:
                        break
                pending = sorted(cursor.pending)
                cursor.pending = []
                missing = False
                for seq, frame in pending:
                    if seq <= cursor.delivered:
                        continue
                    if seq == cursor.delivered + 1:
                        cursor.delivered = seq
                        self.send_raw(frame)
                    else:
                        missing = True
                        break
                if not missing or self.closed:
                    break
        except Exception:
            log.exception("catch-up of %s for %s failed", chat_id, self.id)
        finally:
            cursor.catching_up = False
            if cursor.pending:
                # messages that arrived after the last pass: deliver them the normal way
                pending, cursor.pending = cursor.pending, []
                channel = self.node.keys.chat_channel(chat_id)
                for seq, frame in sorted(pending):
                    self.on_publish(channel, b"a%d|%s" % (seq, frame))
