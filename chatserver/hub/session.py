"""What a connected visitor or agent may do: one method per frame type.

A session reads frames, validates them into typed structs (``protocol``), checks that the
sender may act on the chat, and calls the node.  Refusals become ``error`` frames; the
connection stays open unless a limit says otherwise (see ``docs/protocol.md``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, cast

import msgspec
from redis.exceptions import RedisError
from starlette.websockets import WebSocketDisconnect

from chatserver.core.lifecycle import ChatState
from chatserver.core.limits import Throttle, WindowCounter
from chatserver.hub.connection import Connection
from chatserver.hub.node import Node
from chatserver.protocol import (
    PROTOCOL_VERSION,
    CloseCode,
    ErrorCode,
    History,
    Ping,
    ProtocolError,
    Read,
    Resume,
    Send,
    Typing,
    error_frame,
    peek_rid,
)
from chatserver.settings import Settings
from chatserver.store import trips
from chatserver.store.messages import AGENTS_ONLY, EVERYONE
from chatserver.store.redis_conn import is_overload
from chatserver.telemetry import metrics

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[dict[str, Any] | None]]


class Rates:
    """The rate limits of one session (see ``docs/protocol.md``)."""

    __slots__ = ("bad_frames", "frame_rate", "message_rate", "typing")

    def __init__(self, settings: Settings) -> None:
        self.message_rate = WindowCounter(settings.messages_per_10s, 10_000)
        self.frame_rate = WindowCounter(settings.messages_per_10s * 5, 10_000)
        self.typing = Throttle(int(settings.typing_interval_s * 1000))
        self.bad_frames = WindowCounter(20, 10_000)


class Session:
    role = ""

    # One session per connection, tens of thousands mostly idle: no instance dict.
    __slots__ = ("_rates", "conn", "node")

    # Frame type -> name of the method that handles it.  One table per class rather than a
    # dict of ~10 bound methods per session; the method is looked up on the instance when
    # a frame arrives, so a subclass's override (``AgentSession.on_send``) is the one
    # called.  Subclasses extend it with ``{**Session.HANDLERS, ...}``.
    HANDLERS: ClassVar[Mapping[type[Any], str]] = {
        Ping: "on_ping",
        Send: "on_send",
        Typing: "on_typing",
        Read: "on_read",
        Resume: "on_resume",
        History: "on_history",
    }

    def __init__(self, node: Node, conn: Connection) -> None:
        self.node = node
        self.conn = conn
        # Made with the first frame: a socket that never sends one (most visitors) holds
        # no counters.  The same as making them here: a fresh counter and one made
        # earlier but never used are in the same state, and the settings do not change.
        self._rates: Rates | None = None

    @property
    def rates(self) -> Rates:
        rates = self._rates
        if rates is None:
            rates = self._rates = Rates(self.node.settings)
        return rates

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError

    async def welcome(self) -> dict[str, Any]:
        raise NotImplementedError

    def limits(self) -> dict[str, Any]:
        s = self.node.settings
        return {
            "max_frame_bytes": s.max_frame_bytes,
            "max_text_chars": s.max_text_chars,
            "messages_per_10s": s.messages_per_10s,
            "typing_interval_s": s.typing_interval_s,
            "heartbeat_s": s.ws_ping_interval_s,
        }

    # ---- the read loop --------------------------------------------------------------------
    async def run(self, welcomed: Callable[[], None] | None = None) -> None:
        """Send the welcome (then call ``welcomed``), then read and handle frames until
        the socket closes."""
        ws = self.conn.ws
        self.conn.send_welcome(await self.welcome())  # held frames go after it
        if welcomed is not None:
            welcomed()
        while not self.conn.closed:
            try:
                message = await ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                break
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes")
            now = self.node.now()
            if not self.rates.frame_rate.allow(now):
                self.conn.close(CloseCode.FLOODING, "too many frames")
                break
            if data is None:
                metrics.frame_in("invalid")
                self.refuse(ProtocolError(ErrorCode.BAD_FRAME, "frames must be binary msgpack"))
                continue
            if len(data) > self.node.settings.max_frame_bytes:
                metrics.frame_in("invalid")
                self.refuse(ProtocolError(ErrorCode.TOO_LARGE, "frame too large"))
                continue
            await self.handle(data)

    def refuse(self, exc: ProtocolError, rid: str | None = None) -> None:
        metrics.ERRORS[exc.code].inc()
        self.conn.send(error_frame(exc, rid))
        if exc.code is ErrorCode.BAD_FRAME and not self.rates.bad_frames.allow(self.node.now()):
            self.conn.close(CloseCode.POLICY, "too many bad frames")

    async def handle(self, data: bytes) -> None:
        try:
            frame = self.decode(data)
        except ProtocolError as exc:
            metrics.frame_in("invalid")
            self.refuse(exc, peek_rid(data))
            return
        metrics.frame_in_struct(frame)
        # the round-trip counts' label (tests only: None unless an observer watches)
        label = trips.label(_action(frame, self.conn)) if trips.watching() else None
        try:
            handler = cast(Handler, getattr(self, self.HANDLERS[type(frame)]))
            async with asyncio.timeout(self.node.settings.action_timeout_s):
                reply = await handler(frame)
        except ProtocolError as exc:
            self.refuse(_naming_cid(exc, frame), frame.rid)
            return
        except (RedisError, TimeoutError) as exc:
            self.refuse(_naming_cid(self.storage_failed(frame, exc), frame), frame.rid)
            return
        finally:
            trips.unlabel(label)
        if reply is not None:
            if frame.rid is not None:
                reply["rid"] = frame.rid
            self.conn.send(reply)

    def storage_failed(self, frame: object, exc: BaseException) -> ProtocolError:
        """The error for an action whose storage work failed: ``overloaded`` (with the
        ``retry_ms`` hint) when Redis is busy or unreachable, else ``internal``."""
        name = type(frame).__name__
        if is_overload(exc):
            log.warning("storage overloaded on %s: %s", name, exc or type(exc).__name__,
                        extra={"chat": getattr(frame, "chat", "")})
            return ProtocolError(
                ErrorCode.OVERLOADED, "the server is overloaded; retry",
                retry_ms=self.node.settings.overload_retry_ms,
            )
        log.warning("storage error on %s: %s", name, exc,
                    extra={"chat": getattr(frame, "chat", "")})
        return ProtocolError(ErrorCode.INTERNAL, "storage error, retry")

    # ---- checks ---------------------------------------------------------------------------
    async def may_read(self, chat_id: str) -> bool:
        raise NotImplementedError

    async def require_reader(self, chat_id: str) -> None:
        if not await self.may_read(chat_id):
            raise ProtocolError(ErrorCode.FORBIDDEN, "you are not in this chat", chat=chat_id)

    def check_text(self, text: str) -> None:
        if not text.strip():
            raise ProtocolError(ErrorCode.BAD_FRAME, "text must not be empty")
        if len(text) > self.node.settings.max_text_chars:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"text longer than {self.node.settings.max_text_chars} characters",
            )

    # ---- frames of both roles -------------------------------------------------------------
    async def on_ping(self, frame: Ping) -> dict[str, Any]:
        return {"type": "pong", "ts": self.node.now()}

    async def post(
        self, chat_id: str, cid: str, text: str, *, kind: str, audience: str, system: bool = False
    ) -> dict[str, Any]:
        self.check_text(text)
        if not self.rates.message_rate.allow(self.node.now()):
            raise ProtocolError(ErrorCode.RATE_LIMITED, "too many messages; slow down")
        messages = self.node.messages
        args = dict(
            role=self.conn.role, sender_id=self.conn.subject, sender_name=self.conn.name,
            cid=cid, text=text, kind=kind, audience=audience, system=system,
            origin=self.conn.id,  # the ack tells this connection; others get the msg
        )
        with metrics.timed(metrics.REDIS["post"]):
            result = await messages.post(chat_id, now_ms=self.node.now(), **args)  # type: ignore[arg-type]
        if result.status == "forbidden" and await self.repair_participation(chat_id):
            result = await messages.post(chat_id, now_ms=self.node.now(), **args)  # type: ignore[arg-type]
        if result.status == "forbidden":
            raise ProtocolError(ErrorCode.FORBIDDEN, "you cannot write in this chat", chat=chat_id)
        if result.status == "closed":
            raise ProtocolError(ErrorCode.INVALID_STATE, "the chat is not open", chat=chat_id)
        if result.status != "dup":
            metrics.POSTED[self.conn.role].inc()
        return {
            "type": "ack", "chat": chat_id, "cid": cid, "seq": result.seq,
            "dup": result.status == "dup",
        }

    async def repair_participation(self, chat_id: str) -> bool:
        """The participant list is written after the routing step; if this process died
        in between, rebuild it from the routing state."""
        return False

    async def on_send(self, frame: Send) -> dict[str, Any]:
        if frame.internal:
            raise ProtocolError(ErrorCode.FORBIDDEN, "visitors cannot write internal notes")
        return await self.post(frame.chat, frame.cid, frame.text, kind="message", audience=EVERYONE)

    async def on_typing(self, frame: Typing) -> None:
        # only "typing" is throttled; "stopped" always goes through and uses no budget
        if frame.on and not self.rates.typing.allow(self.node.now()):
            return None
        if not frame.on:
            self.rates.typing.reset()  # typing again after stopping is news: let it through
        meta = await self.node.messages.meta(frame.chat)
        if meta.get(f"p:{self.conn.participant}") != "1" or meta.get("open") != "1":
            raise ProtocolError(ErrorCode.FORBIDDEN, "you are not in this chat", chat=frame.chat)
        await self.node.messages.publish(
            frame.chat,
            {
                "type": "typing",
                "chat": frame.chat,
                "from": {"role": self.conn.role, "id": self.conn.subject, "name": self.conn.name},
                "on": frame.on,
            },
        )
        return None

    async def on_read(self, frame: Read) -> None:
        stored, moved = await self.node.messages.mark_read(
            frame.chat, self.conn.participant, frame.seq
        )
        if stored < 0:
            raise ProtocolError(ErrorCode.FORBIDDEN, "you are not in this chat", chat=frame.chat)
        if moved:
            await self.node.messages.publish(frame.chat, {
                "type": "read", "chat": frame.chat,
                "by": {"role": self.conn.role, "id": self.conn.subject}, "seq": stored,
            })
        return None

    async def on_resume(self, frame: Resume) -> None:
        await self.require_reader(frame.chat)
        info = await self.node.chat_info(frame.chat, for_agent=self.conn.role == "agent")
        if info is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such chat", chat=frame.chat)
        if info["state"] == ChatState.OFFLINE.value:
            raise ProtocolError(
                ErrorCode.INVALID_STATE,
                "this chat is an offline message: it has no conversation to resume",
                chat=frame.chat,
            )
        # the reply goes out before the missed messages, which follow in order
        reply = {"type": "chat", "chat": info}
        if frame.rid is not None:
            reply["rid"] = frame.rid
        self.conn.send(reply)
        await self.conn.follow(frame.chat, frame.after, reset=True)
        return None

    async def on_history(self, frame: History) -> dict[str, Any]:
        await self.require_reader(frame.chat)
        complete, trimmed, entries = await self.node.messages.read_before(
            frame.chat, frame.before, frame.limit, internal=self.conn.sees_internal,
            max_bytes=self.node.settings.history_page_bytes,
        )
        return {
            "type": "history", "chat": frame.chat,
            "msgs": [msgspec.Raw(e.frame) for e in entries],
            "complete": complete, "trimmed": trimmed,
        }


__all__ = ["AGENTS_ONLY", "EVERYONE", "PROTOCOL_VERSION", "Session"]


def _action(frame: Any, conn: Connection) -> trips.Action:
    """The label of the action a frame asks for (see ``store/trips.py``)."""
    ref = frame.rid or getattr(frame, "cid", None) or ""
    return trips.Action(type(frame).__struct_config__.tag, conn.participant, ref)


def _naming_cid(exc: ProtocolError, frame: object) -> ProtocolError:
    """A refused message's error names its ``cid``, so that a client that sent it without
    a ``rid`` still knows which message failed."""
    cid = getattr(frame, "cid", None)
    if isinstance(cid, str):
        exc.extra.setdefault("cid", cid)
    return exc
