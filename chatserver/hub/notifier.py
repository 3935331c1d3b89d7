"""Control messages: telling an agent's or a visitor's connections, on every process,
what changed for them, and the queue channel every process listens to.

A control message goes to a subject's channel (``agent_channel`` / ``visitor_channel``):
``{"ctl": {...}, "frame": {...}?}``.  Each process holding connections of that subject
sends them the frame, then applies the orders:

- ``follow`` / ``unfollow``: start or stop relaying a chat;
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
from redis.exceptions import RedisError

from chatserver.protocol import encode
from chatserver.store.availability import AGENTS_CHANGED
from chatserver.store.keys import Keys
from chatserver.store.publish import Publisher

if TYPE_CHECKING:
    from chatserver.hub.node import Node

log = logging.getLogger(__name__)
_ctl_decoder = msgspec.msgpack.Decoder(dict[str, Any])


def control(frame: dict[str, Any] | None, ctl: dict[str, Any]) -> bytes:
    """A message on an agent's or visitor's channel: orders for their connections and
    optionally a frame to send to each of them."""
    payload: dict[str, Any] = {"ctl": ctl}
    if frame is not None:
        payload["frame"] = frame
    return encode(payload)


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


class _SubjectListener:
    """Control messages for one agent or visitor, applied to their local connections."""

    def __init__(self, node: Node, role: str, subject: str) -> None:
        self.node, self.role, self.subject = node, role, subject

    def on_publish(self, channel: str, data: bytes) -> None:
        payload = _ctl_decoder.decode(data)
        self.node.spawn(self._apply(payload))

    async def _apply(self, payload: dict[str, Any]) -> None:
        ctl = payload.get("ctl", {})
        frame = payload.get("frame")
        # encoded once for all the subject's connections, not once per connection
        data = encode(frame) if frame is not None else None
        status = encode({"type": "status", "status": ctl["status"]}) if "status" in ctl else None
        registry = self.node.registry
        for conn in list(registry.local(self.role, self.subject)):
            if "revoke_below" in ctl and conn.version < ctl["revoke_below"]:
                conn.close(4401, "credentials revoked")
                continue
            if data is not None:
                conn.send_raw(data)
            if "follow" in ctl:
                await conn.follow(ctl["follow"], 0)
            if "unfollow" in ctl:
                await conn.unfollow(ctl["unfollow"])
            if status is not None:
                conn.send_raw(status)
        if "watch" in ctl and registry.local(self.role, self.subject):
            self.node.positions.watch(ctl["watch"], ctl["topic"])


class _QueueListener:
    def __init__(self, node: Node) -> None:
        self.node = node

    def on_publish(self, channel: str, data: bytes) -> None:
        if data == b"drain":
            self.node.drainer.request()
        elif data == AGENTS_CHANGED:
            self.node.availability.poke()
        self.node.positions.poke()
