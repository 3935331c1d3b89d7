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

from chatserver.core.limits import WindowCounter
from chatserver.core.typing_preview import TypingGate
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
from chatserver.service.actor import Actor
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
        self.typing = TypingGate(
            int(settings.typing_interval_s * 1000), int(settings.typing_preview_interval_s * 1000)
        )
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

    async def after_welcome(self) -> None:
        """Work the welcome promised, done right after it was sent (nothing here)."""

    def limits(self) -> dict[str, Any]:
        s = self.node.settings
        return {
            "max_frame_bytes": s.max_frame_bytes,
            "max_text_chars": s.max_text_chars,
            "messages_per_10s": s.messages_per_10s,
            "typing_interval_s": s.typing_interval_s,
            "typing_preview": s.typing_preview,
            "typing_preview_chars": s.typing_preview_chars,
            "typing_preview_interval_s": s.typing_preview_interval_s,
            "heartbeat_s": s.ws_ping_interval_s,
            "visitor_tracking": s.visitor_tracking,
            "file_max_bytes": s.file_max_bytes,
            "file_types": list(s.file_types),
        }

    # ---- the read loop --------------------------------------------------------------------
    async def run(self, welcomed: Callable[[], None] | None = None) -> None:
        """Send the welcome (then call ``welcomed``), then read and handle frames until
        the socket closes."""
        ws = self.conn.ws
        self.conn.send_welcome(await self.welcome())  # held frames go after it
        await self.after_welcome()  # still within the admission slot, if any
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
            log.warning(
                "storage overloaded on %s: %s",
                name,
                exc or type(exc).__name__,
                extra={"chat": getattr(frame, "chat", "")},
            )
            return ProtocolError(
                ErrorCode.OVERLOADED,
                "the server is overloaded; retry",
                retry_ms=self.node.settings.overload_retry_ms,
            )
        log.warning(
            "storage error on %s: %s", name, exc, extra={"chat": getattr(frame, "chat", "")}
        )
        return ProtocolError(ErrorCode.INTERNAL, "storage error, retry")

    # ---- checks ---------------------------------------------------------------------------
    @property
    def actor(self) -> Actor:
        raise NotImplementedError

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
        ack = await self.node.message_actions.post(
            self.actor, chat_id, cid, text, kind=kind, audience=audience, system=system
        )
        return ack.frame()

    async def on_send(self, frame: Send) -> dict[str, Any]:
        if frame.internal:
            raise ProtocolError(ErrorCode.FORBIDDEN, "visitors cannot write internal notes")
        return await self.post(frame.chat, frame.cid, frame.text, kind="message", audience=EVERYONE)

    async def on_typing(self, frame: Typing) -> None:
        # only "typing" is throttled; "stopped" always goes through and uses no budget
        relay = self.rates.typing.decide(self.node.now(), frame.on, self.preview_of(frame))
        if relay is None:
            return None
        await self.node.message_actions.typing(
            self.actor, frame.chat, relay.on, preview=relay.preview
        )
        return None

    def preview_of(self, frame: Typing) -> str | None:
        """The draft a ``typing`` frame may have relayed: a visitor's, with typing preview
        on; otherwise any ``text`` is dropped unread (a client cannot push previews)."""
        s = self.node.settings
        if frame.text is None or not s.typing_preview or self.actor.role != "visitor":
            return None
        if len(frame.text) > s.typing_preview_chars:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"typing preview longer than {s.typing_preview_chars} characters",
                chat=frame.chat,
            )
        return frame.text

    async def on_read(self, frame: Read) -> None:
        await self.node.message_actions.read(self.actor, frame.chat, frame.seq)
        return None

    async def on_resume(self, frame: Resume) -> None:
        info = await self.node.message_actions.resume(self.actor, frame.chat)
        # the reply goes out before the missed messages, which follow in order
        reply = {"type": "chat", "chat": info}
        if frame.rid is not None:
            reply["rid"] = frame.rid
        self.conn.send(reply)
        await self.conn.follow(frame.chat, frame.after, reset=True)
        return None

    async def on_history(self, frame: History) -> dict[str, Any]:
        page = await self.node.message_actions.history(
            self.actor, frame.chat, frame.before, frame.limit, internal=self.conn.sees_internal
        )
        return {
            "type": "history",
            "chat": frame.chat,
            "msgs": [msgspec.Raw(e.frame) for e in page.entries],
            "complete": page.complete,
            "trimmed": page.trimmed,
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
