"""One WebSocket connection: a bounded send backlog with an on-demand writer task, and
per-chat delivery cursors that make every message arrive once and in order.

Which sequenced messages (``msg`` frames) of a chat the connection sends, and when it must
catch up from the chat log, is decided by a :class:`~chatserver.core.cursor.Cursor` per
followed chat (``core/cursor.py``: duplicates dropped, a gap caught up from the log while
live messages are held back, the connection's own messages skipped unless replayed); this
module reads the log and sends what it says.

Frames queued before the connection's ``welcome`` wait until it is sent (see
``send_welcome``): ``welcome`` is always the first frame on a socket.

A connection whose send backlog fills (a tab that stopped reading) is closed with 1013 so
that it cannot slow anyone else; it reconnects and resumes.  The backlog is bounded in
frames (``SEND_QUEUE_FRAMES``) and in bytes (``SEND_QUEUE_BYTES``), and the bytes queued by
all the connections of one client address on this process share a budget
(``SEND_QUEUE_BYTES_PER_ADDRESS``, see :class:`Budget`): a frame counts from the moment it is
queued until the socket took it (the transport's own buffer is bounded by flow control).
The accounting is one length added and subtracted per frame.

Most connections are idle most of the time (a widget open on a page nobody chats from), and
the hub holds tens of thousands of them, so a connection keeps nothing it does not need
while idle: no queue object and no writer task until there is something to send (see
``Connection.send_raw``), ``__slots__`` instead of instance dicts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketState

from chatserver.core.cursor import Cursor, Live
from chatserver.protocol import CloseCode, encode
from chatserver.telemetry.metrics import frame_out

if TYPE_CHECKING:
    from chatserver.hub.node import Node
    from chatserver.store.chat_state import OfferHint
    from chatserver.store.messages import LogEntry

log = logging.getLogger(__name__)

CATCH_UP_ATTEMPTS = 6
"""Reads of a page of the chat log before a catch-up gives up (pauses 0.05 s doubling to
1 s between them: about 2.5 s in all); then the connection is closed so that the client
resumes, never left without the messages it missed."""


class Budget:
    """Bytes queued for sending by the connections of one client address on this process
    (``SEND_QUEUE_BYTES_PER_ADDRESS``).  Shared by those connections; ``holders`` counts
    them so that the last one to go can drop it (see ``chatserver.web.sockets``)."""

    __slots__ = ("holders", "queued")

    def __init__(self) -> None:
        self.queued = 0
        self.holders = 0


class Connection:
    # Tens of thousands of these live at once, mostly idle: slots save the instance dict.
    __slots__ = (
        "_broken",
        "_close_reason",
        "_flusher",
        "_pending",
        "_queued",
        "budget",
        "close_code",
        "closed",
        "cursors",
        "id",
        "name",
        "node",
        "offers",
        "role",
        "subject",
        "supervisor",
        "version",
        "welcomed",
        "ws",
    )

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
        budget: Budget | None = None,
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
        # What the offers this (agent's) connection was sent said of their chats, until it
        # stops following them: a decline passes it on and need not read the chat (see
        # ``OfferHint``).  None until the first offer: most connections never get one.
        self.offers: dict[str, OfferHint] | None = None
        # Frames waiting for the socket, oldest first, or None when there are none.  A
        # plain deque made on demand, not an asyncio.Queue: a Queue costs ~3 KiB (three
        # deques and an Event) and even an empty deque ~0.7 KiB, for every idle connection.
        self._pending: deque[bytes] | None = None
        # Bytes of the frames queued and of the one being written, and the budget of the
        # client address they also count against.
        self._queued = 0
        self.budget = budget
        # The writer task, alive only while there is something to write (or the close to
        # send): an idle connection has none.
        self._flusher: asyncio.Task[None] | None = None
        # A send failed (the socket went away): like the old writer task, which ended on
        # the first failure, nothing is written any more; frames pile up until the
        # backlog limit closes the connection or the reader side notices.
        self._broken = False
        # Until the welcome is queued (``send_welcome``), frames wait in the backlog and no
        # writer runs: a frame that arises meanwhile (an ``assigned`` from a drain the
        # connect itself started) must not reach the socket before the welcome.
        self.welcomed = False
        self.closed = False
        self.close_code: int | None = None
        self._close_reason = ""

    @property
    def participant(self) -> str:
        return f"{self.role}:{self.subject}"

    @property
    def sees_internal(self) -> bool:
        return self.role == "agent"

    # ---- sending -------------------------------------------------------------------------
    def send(self, frame: dict[str, Any]) -> None:
        self.send_raw(encode(frame))

    def send_raw(self, data: bytes) -> None:
        if self.closed:
            return
        pending = self._pending
        if pending is None:
            pending = self._pending = deque()
        size = len(data)
        settings = self.node.settings
        budget = self.budget
        limit = settings.send_queue_frames
        byte_limit = settings.send_queue_bytes
        address_limit = settings.send_queue_bytes_per_address
        if (
            0 < limit <= len(pending)  # same bound as the former asyncio.Queue(limit)
            # a frame larger than the whole limit still goes out when nothing is queued
            or (self._queued and 0 < byte_limit < self._queued + size)
            or (budget is not None and budget.queued and 0 < address_limit < budget.queued + size)
        ):
            log.info("connection %s fell behind (%d bytes queued); closing", self.id, self._queued)
            self.close(CloseCode.TRY_AGAIN, "too slow")
            return
        pending.append(data)
        frame_out(data)
        self._queued += size
        if budget is not None:
            budget.queued += size
        self._wake()

    def _release(self, size: int) -> None:
        """``size`` bytes left the backlog (written, or dropped)."""
        self._queued -= size
        if self.budget is not None:
            self.budget.queued -= size

    def _drop_pending(self) -> None:
        pending = self._pending
        if pending:
            self._release(sum(map(len, pending)))
            pending.clear()

    @property
    def queued_bytes(self) -> int:
        """Bytes queued for this connection and not yet taken by the socket."""
        return self._queued

    def close(self, code: int, reason: str = "") -> None:
        """Flush what is queued, then close with ``code``.  Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self._close_reason = reason
        if code == CloseCode.TRY_AGAIN or not self.welcomed:
            # the backlog is full (the former queue had no room for the close marker):
            # drop what is queued, the client will resume; or no welcome went out, and
            # no frame goes before it
            self._drop_pending()
        self._wake()

    def send_welcome(self, frame: dict[str, Any]) -> None:
        """Send the ``welcome``, ahead of every frame queued before it, and start sending
        those.  The first frame on the socket; called once."""
        self.send_raw(encode(frame))
        if self.closed:
            return
        pending = self._pending
        if pending is not None and len(pending) > 1:
            pending.rotate(1)  # the welcome, queued last, goes first
        self.welcomed = True
        self._wake()

    def _wake(self) -> None:
        """Make sure a writer runs while there are frames to send or a close to do (once
        the welcome is queued, or when closing)."""
        if self._flusher is None and not self._broken and (self.welcomed or self.closed):
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        """Write the backlog in order, then (if closed meanwhile) close the socket; ends
        as soon as there is nothing left, so an idle connection holds no task."""
        pending = self._pending
        try:
            while pending:
                data = pending.popleft()
                try:
                    await self.ws.send_bytes(data)
                finally:
                    self._release(len(data))
            self._pending = None  # drained: an idle connection keeps no deque either
        except Exception:  # the socket went away; the reader side will notice
            self._broken = True
        finally:
            try:
                if self.closed:
                    await self._close_socket()
            finally:
                self._flusher = None

    async def _close_socket(self) -> None:
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(self.close_code or 1000, self._close_reason)

    async def finish(self) -> None:
        """Stop the writer (after the reader ended)."""
        self.closed = True
        flusher = self._flusher
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await flusher
        self._drop_pending()
        self._pending = None
        # The former writer task always ran until this point and closed the socket on its
        # way out; do the same when no writer ran (or one was cancelled before it began).
        if not self._broken:
            await self._close_socket()

    # ---- chats ---------------------------------------------------------------------------
    async def follow(
        self, chat_id: str, after: int, reset: bool = False, new: bool = False
    ) -> None:
        """Deliver the chat's messages after ``after``, then live ones, exactly once each.

        Following a chat already followed changes nothing unless ``reset`` (a client's
        ``resume``), which delivers again from ``after``.  ``new``: the chat was just
        created and nobody can have written in it before this subscription is confirmed
        (``start`` routes it only afterwards): there is no log to read."""
        cursor = self.cursors.get(chat_id)
        if cursor is None and new:
            self.cursors[chat_id] = Cursor(0)
            await self.node.fanout.subscribe(self.node.keys.chat_channel(chat_id), self)
            return
        if cursor is None:
            cursor = Cursor.following(after)
            self.cursors[chat_id] = cursor
            await self.node.fanout.subscribe(self.node.keys.chat_channel(chat_id), self)
        elif not cursor.refollow(after, reset):
            return
        await self._catch_up(chat_id, cursor)

    def note_offer(self, chat_id: str, offered: OfferHint) -> None:
        """Keep what an offer of ``chat_id`` said, for a decline (see ``offered``)."""
        if self.offers is None:
            self.offers = {}
        self.offers[chat_id] = offered

    def offered(self, chat_id: str) -> OfferHint | None:
        """What the last offer of ``chat_id`` this connection was sent said of the chat
        (None: none since it follows the chat); it may be out of date, the script that
        uses it checks it."""
        return self.offers.get(chat_id) if self.offers else None

    async def unfollow(self, chat_id: str) -> None:
        if self.offers:
            self.offers.pop(chat_id, None)
        if self.cursors.pop(chat_id, None) is not None:
            await self.node.fanout.unsubscribe(self.node.keys.chat_channel(chat_id), self)

    async def unfollow_all(self) -> None:
        for chat_id in list(self.cursors):
            await self.unfollow(chat_id)

    async def catch_up_all(self) -> None:
        for chat_id, cursor in list(self.cursors.items()):
            if cursor.begin():
                await self._catch_up(chat_id, cursor)

    def on_publish(self, channel: str, data: bytes) -> None:
        kind = data[:1]
        if kind in (b"g", b"G") and not self.sees_internal:
            return
        if kind in (b"A", b"G"):
            self.send_raw(data[1:])
            return
        chat_id = self.node.keys.chat_of_channel(channel)
        cursor = self.cursors.get(chat_id)
        if cursor is None:
            return
        # ``a<seq>|<sending connection id>|<frame>``: the frame is encoded once, by the
        # script that stored it, and every receiving connection sends those same bytes
        bar = data.index(b"|")
        seq = int(data[1:bar])
        bar2 = data.index(b"|", bar + 1)
        own = data[bar + 1 : bar2] == self.id.encode()
        frame = data[bar2 + 1 :]
        verdict = cursor.live(seq, frame, own)
        if verdict is Live.SEND:
            self.send_raw(frame)
        elif verdict is Live.CATCH_UP:
            self.node.spawn(self._catch_up(chat_id, cursor))

    async def _wait_for_room(self, room: int) -> None:
        """Catching up on a long chat sends many frames at once: let the socket take them
        first (down to ``room``, half of ``SEND_QUEUE_BYTES``), so that a reader that is
        merely slow is not closed as a slow consumer by its own resume."""
        # polled: an Event would cost every idle connection
        while self._queued > room and not self.closed and not self._broken:  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    async def _read_after(self, chat_id: str, after: int, page: int) -> tuple[bool, list[LogEntry]]:
        """A page of the chat log after ``after``; a refusal of an overloaded Redis client
        (``Saturated``) or a dropped connection is tried again (``CATCH_UP_ATTEMPTS``)."""
        for attempt in range(CATCH_UP_ATTEMPTS):
            try:
                return await self.node.messages.read_after(chat_id, after, page)
            except (RedisError, OSError, TimeoutError):
                if attempt + 1 >= CATCH_UP_ATTEMPTS or self.closed:
                    raise
                await asyncio.sleep(min(1.0, 0.05 * 2**attempt))
        raise AssertionError("unreachable")

    async def _catch_up(self, chat_id: str, cursor: Cursor) -> None:
        """Read the chat log for ``cursor`` (see ``core/cursor.py``) and send what it says."""
        page = self.node.settings.history_page
        room = self.node.settings.send_queue_bytes // 2 or 1 << 62
        internal = self.sees_internal
        try:
            while True:
                gap, entries = await self._read_after(chat_id, cursor.delivered, page)
                if cursor.page_read(gap):
                    self.send({"type": "resync", "chat": chat_id, "after": cursor.delivered})
                for entry in entries:
                    hidden = entry.audience == "g" and not internal
                    if cursor.entry(entry.seq, entry.origin == self.id, hidden):
                        self.send_raw(entry.frame)
                        if self._queued > room:
                            await self._wait_for_room(room)
                if len(entries) >= page and not self.closed:
                    continue  # the next page
                frames, missing = cursor.release()
                for frame in frames:
                    self.send_raw(frame)
                if not missing or self.closed:
                    break
        except Exception as exc:
            # the messages it missed must still reach the client: it reconnects and resumes
            if isinstance(exc, (RedisError, OSError, TimeoutError)):
                log.warning(
                    "catch-up of %s for %s failed (%s); the client is asked to resume",
                    chat_id,
                    self.id,
                    exc or type(exc).__name__,
                    extra={"chat": chat_id},
                )
            else:
                log.exception(
                    "catch-up of %s for %s failed", chat_id, self.id, extra={"chat": chat_id}
                )
            self.close(CloseCode.TRY_AGAIN, "catch-up failed: resume")
        finally:
            # messages that arrived after the last pass: delivered the live way
            frames, again = cursor.finish()
            for frame in frames:
                self.send_raw(frame)
            if again:
                self.node.spawn(self._catch_up(chat_id, cursor))
