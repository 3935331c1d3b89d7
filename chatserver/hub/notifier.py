"""Control messages: telling an agent's or a visitor's connections, on every process,
what changed for them, and the queue channel every process listens to.

A control message goes to a subject's channel (``agent_channel`` / ``visitor_channel``):
``{"ctl": {...}, "frame": {...}?}``.  Each process holding connections of that subject
sends them the frame, then applies the orders:

- ``follow`` / ``unfollow``: start or stop relaying a chat (an agent's connection also
  keeps what the ``offer`` frame that comes with a ``follow`` says of the chat, for a
  decline: see ``OfferHint``);
- ``status``: send a ``status`` frame;
- ``revoke_below``: close connections opened with older credentials;
- ``watch`` + ``topic``: track a queued chat's position for the visitor.

The queue channel carries ``changed`` (queues moved: positions), ``drain`` (route now) and
``agents`` (presence changed: availability).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec import UNSET
from redis.exceptions import RedisError

from chatserver.protocol import encode
from chatserver.protocol.envelope import Control, control, decode_control
from chatserver.store.availability import AGENTS_CHANGED
from chatserver.store.chat_state import OfferHint
from chatserver.store.keys import Keys
from chatserver.store.publish import Publisher

if TYPE_CHECKING:
    from chatserver.hub.connection import Connection
    from chatserver.hub.node import Node

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, node: Node, publisher: Publisher, keys: Keys) -> None:
        self.node = node
        self.publisher = publisher
        self.keys = keys
        self._listeners: dict[tuple[str, str], _SubjectListener] = {}
        """The fan-out listener of each agent and visitor with local connections."""

    # ---- sending ------------------------------------------------------------------------
    async def agent(self, agent_id: str, frame: dict[str, Any] | None = None, **ctl: Any) -> None:
        await self.publisher.agent(agent_id, control(frame, ctl))

    async def visitor(
        self, visitor_id: str, frame: dict[str, Any] | None = None, **ctl: Any
    ) -> None:
        await self.publisher.visitor(visitor_id, control(frame, ctl))

    async def queues_changed(self, publisher: Publisher | None = None) -> None:
        await (publisher or self.publisher).queues(b"changed")

    # ---- listening ----------------------------------------------------------------------
    def channel(self, role: str, subject: str) -> str:
        if role == "agent":
            return self.keys.agent_channel(subject)
        return self.keys.visitor_channel(subject)

    async def start(self) -> None:
        await self.node.fanout.subscribe(self.keys.queue_channel, _QueueListener(self.node))

    async def listen(self, role: str, subject: str) -> None:
        listener = _SubjectListener(self.node, role, subject)
        self._listeners[(role, subject)] = listener
        await self.node.fanout.subscribe(self.channel(role, subject), listener)

    async def unlisten(self, role: str, subject: str) -> None:
        listener = self._listeners.pop((role, subject), None)
        if listener is None:
            return
        try:
            await self.node.fanout.unsubscribe(self.channel(role, subject), listener)
        except RedisError as exc:
            log.warning("could not unsubscribe %s %s (%s)", role, subject, exc)
        except Exception:
            log.exception("could not unsubscribe %s %s", role, subject)


class _OfferedChat(msgspec.Struct):
    """The part of an ``offer`` frame's chat a decline needs (the rest is skipped)."""

    id: str
    topic: str
    priority: int
    created: int


class _Offer(msgspec.Struct):
    type: str
    chat: _OfferedChat


_offer_decoder = msgspec.msgpack.Decoder(_Offer)


def offered(frame: msgspec.Raw | bytes, chat_id: str) -> OfferHint | None:
    """What ``frame``, when it is the ``offer`` of ``chat_id``, says of the chat."""
    try:
        offer = _offer_decoder.decode(frame)
    except msgspec.DecodeError:  # another frame (``assigned``...)
        return None
    chat = offer.chat
    if offer.type != "offer" or chat.id != chat_id:
        return None
    return OfferHint(chat.topic, chat.priority, chat.created)


class _SubjectListener:
    """Control messages for one agent or visitor, applied to their local connections."""

    def __init__(self, node: Node, role: str, subject: str) -> None:
        self.node, self.role, self.subject = node, role, subject

    def on_publish(self, channel: str, data: bytes) -> None:
        """Apply a control message: what needs no wait (closing revoked connections,
        sending the frame, noting an offer) at once, in the callback that received it, so
        that an offer reaches the agent's socket without waiting for a turn of a busy
        loop; following and unfollowing chats (which wait for Redis) in a task."""
        ctl, frame = decode_control(data)
        # the frame is sent as published, to every connection of the subject
        raw = bytes(frame) if frame is not None else None
        status = (
            encode({"type": "status", "status": ctl.status}) if ctl.status is not UNSET else None
        )
        offer = (
            offered(frame, ctl.follow)
            if frame is not None and ctl.follow is not UNSET and self.role == "agent"
            else None
        )
        registry = self.node.registry
        targets: list[Connection] = []
        for conn in list(registry.local(self.role, self.subject)):
            if ctl.revoke_below is not UNSET and conn.version < ctl.revoke_below:
                conn.close(4401, "credentials revoked")
                continue
            if offer is not None and ctl.follow is not UNSET:
                conn.note_offer(ctl.follow, offer)  # before the agent can answer it
            if raw is not None:
                conn.send_raw(raw)
            targets.append(conn)
        if ctl.watch is not UNSET and registry.local(self.role, self.subject):
            self.node.positions.watch(ctl.watch, ctl.topic or "")
        if not targets:
            return
        if ctl.follow is UNSET and ctl.unfollow is UNSET:
            if status is not None:
                for conn in targets:
                    conn.send_raw(status)
            return
        self.node.spawn(self._follow(targets, ctl, status))

    @staticmethod
    async def _follow(targets: list[Connection], ctl: Control, status: bytes | None) -> None:
        for conn in targets:
            if ctl.follow is not UNSET:
                await conn.follow(ctl.follow, 0)
            if ctl.unfollow is not UNSET:
                await conn.unfollow(ctl.unfollow)
            if status is not None:
                conn.send_raw(status)


class _QueueListener:
    def __init__(self, node: Node) -> None:
        self.node = node

    def on_publish(self, channel: str, data: bytes) -> None:
        if data == b"drain":
            self.node.drainer.request()
        elif data == AGENTS_CHANGED:
            self.node.availability.poke()
        self.node.positions.poke()
