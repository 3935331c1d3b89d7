"""The agent's (and supervisor's) session: status, offers, chats, transfer, close, and the
supervisor powers (watch, whisper, close or reassign any chat, queue snapshots).

Supervisor powers are checked here on every frame, exactly as the REST API checks them.
"""

from __future__ import annotations

from typing import Any

from chatserver.core.agent_presence import HOLDS_NO_CHATS, AgentStatus
from chatserver.core.lifecycle import ChatEvent, ChatState
from chatserver.hub.connection import Connection
from chatserver.hub.node import Node
from chatserver.hub.session import PROTOCOL_VERSION, Session
from chatserver.protocol import (
    Accept,
    AgentFrame,
    Close,
    Decline,
    ErrorCode,
    Join,
    ProtocolError,
    Queues,
    Send,
    Status,
    Tags,
    Transfer,
    Unwatch,
    Watch,
    Whisper,
    decode_agent,
)
from chatserver.store.directory import Agent
from chatserver.store.messages import AGENTS_ONLY, EVERYONE, participant
from chatserver.telemetry import metrics

_REASONS = {
    "not_found": (ErrorCode.NOT_FOUND, "no such chat"),
    "not_yours": (ErrorCode.FORBIDDEN, "this chat is not yours"),
    "invalid_state": (ErrorCode.INVALID_STATE, "the chat is not in a state that allows this"),
    "agent_unavailable": (ErrorCode.AGENT_UNAVAILABLE, "that agent is not available"),
    "agent_full": (ErrorCode.AGENT_UNAVAILABLE, "that agent has no free capacity"),
    "same_agent": (ErrorCode.INVALID_STATE, "the chat is already with that agent"),
    "retry": (ErrorCode.INTERNAL, "the chat changed meanwhile; retry"),
}


def refused(reason: str, chat_id: str) -> ProtocolError:
    code, message = _REASONS.get(reason, (ErrorCode.INVALID_STATE, reason))
    return ProtocolError(code, message, chat=chat_id)


class AgentSession(Session):
    role = "agent"

    __slots__ = ("agent",)

    HANDLERS = {
        **Session.HANDLERS,
        Status: "on_status",
        Accept: "on_accept",
        Decline: "on_decline",
        Transfer: "on_transfer",
        Close: "on_close",
        Tags: "on_tags",
        Watch: "on_watch",
        Unwatch: "on_unwatch",
        Join: "on_join",
        Whisper: "on_whisper",
        Queues: "on_queues",
    }

    def __init__(self, node: Node, conn: Connection, agent: Agent) -> None:
        super().__init__(node, conn)
        self.agent = agent

    @property
    def supervisor(self) -> bool:
        return self.conn.supervisor

    def decode(self, data: bytes) -> AgentFrame:
        return decode_agent(data)

    async def welcome(self) -> dict[str, Any]:
        node = self.node
        chat_ids = await node.routing.agent_chat_ids(self.agent.id)
        infos = await node.chat_infos(chat_ids, for_agent=True) if chat_ids else []
        chats = [info for info in infos if info is not None]
        return {
            "type": "welcome",
            "protocol": PROTOCOL_VERSION,
            "role": "agent",
            # read at the handshake, with the status agent_connect.lua left
            "agent": self.agent.public(),
            "chats": chats,
            "limits": self.limits(),
            "notices": node.notices.everything(),
        }

    @property
    def actor(self) -> str:
        """Who acts, as recorded and shown (``ended_by``, the transfer trace):
        ``supervisor:<id>`` for a supervisor, else ``agent:<id>``."""
        return f"supervisor:{self.agent.id}" if self.supervisor else self.conn.participant

    def require_supervisor(self) -> None:
        if not self.supervisor:
            raise ProtocolError(ErrorCode.FORBIDDEN, "supervisors only")

    async def may_read(self, chat_id: str) -> bool:
        if self.supervisor:
            return await self.node.routing.get_chat(chat_id) is not None
        chat = await self.node.routing.get_chat(chat_id)
        return chat is not None and chat.agent == self.agent.id

    async def repair_participation(self, chat_id: str) -> bool:
        chat = await self.node.routing.get_chat(chat_id)
        if chat is None or chat.agent != self.agent.id or chat.state is not ChatState.ACTIVE:
            return False
        await self.node.messages.set_participants(chat_id, add=[self.conn.participant])
        return True

    # ---- frames ---------------------------------------------------------------------------
    async def on_send(self, frame: Send) -> dict[str, Any]:
        if frame.internal:
            return await self.post(
                frame.chat, frame.cid, frame.text, kind="note", audience=AGENTS_ONLY
            )
        return await self.post(frame.chat, frame.cid, frame.text, kind="message", audience=EVERYONE)

    async def on_status(self, frame: Status) -> dict[str, Any]:
        node = self.node
        status, became = await node.routing.set_status(self.agent.id, frame.status, node.now())
        if became:
            node.request_drain()
        if AgentStatus(frame.status) in HOLDS_NO_CHATS:
            await node.agent_went_offline(self.agent.id)
        else:
            await node.notify_agent(self.agent.id, {"type": "status", "status": status})
        return {"type": "ok", "status": status}

    async def on_accept(self, frame: Accept) -> dict[str, Any]:
        node = self.node
        reason = await node.routing.accept(frame.chat, self.agent.id, node.now())
        if reason != "ok":
            raise refused(reason, frame.chat)
        metrics.OFFERS["accepted"].inc()
        await node.messages.set_participants(frame.chat, add=[self.conn.participant])
        info = await node.chat_info(frame.chat, for_agent=True)
        await node.notify_agent(
            self.agent.id, {"type": "assigned", "chat": info}, follow=frame.chat
        )
        await node.publish_chat_state(frame.chat)
        return {"type": "ok", "chat": frame.chat}

    async def on_decline(self, frame: Decline) -> dict[str, Any]:
        reason = await self.node.requeue(
            frame.chat, ChatEvent.DECLINE, expected_agent=self.agent.id
        )
        if reason != "ok":
            raise refused(reason, frame.chat)
        metrics.OFFERS["declined"].inc()
        return {"type": "ok", "chat": frame.chat}

    async def on_transfer(self, frame: Transfer) -> dict[str, Any]:
        node = self.node
        if (frame.agent is None) == (frame.topic is None):
            raise ProtocolError(ErrorCode.BAD_FRAME, "give exactly one of agent or topic")
        chat = await node.routing.get_chat(frame.chat)
        if chat is None:
            raise refused("not_found", frame.chat)
        if not self.supervisor and chat.agent != self.agent.id:
            raise refused("not_yours", frame.chat)
        expected = "" if self.supervisor else self.agent.id
        if frame.agent is not None:
            outcome = await node.routing.transfer_to_agent(
                frame.chat, frame.agent, node.now(), expected_agent=expected,
                by=self.actor, note=frame.note.strip(),
            )
            if not outcome.ok:
                raise refused(outcome.reason, frame.chat)
            await self.transfer_note(frame)
            if outcome.agent:
                await node.release(frame.chat, outcome.agent, "transfer")
            await node.messages.set_participants(
                frame.chat, add=[participant("agent", frame.agent)]
            )
            info = await node.chat_info(frame.chat, for_agent=True)
            await node.notify_agent(
                frame.agent, {"type": "assigned", "chat": info}, follow=frame.chat
            )
            await node.publish_chat_state(frame.chat)
            await self.announce_transfer(frame.chat, frame.agent, info)
        else:
            topic = await node.topic((frame.topic or "").strip().lower())
            if topic is None:
                raise ProtocolError(ErrorCode.UNKNOWN_TOPIC, f"unknown topic {frame.topic!r}")
            ok = await node.requeue(
                frame.chat, ChatEvent.TRANSFER_QUEUE, expected_agent=expected, new_topic=topic,
                by=self.actor, note=frame.note.strip(),
            )
            if ok != "ok":
                raise refused(ok, frame.chat)
            await self.transfer_note(frame)
        return {"type": "ok", "chat": frame.chat}

    async def transfer_note(self, frame: Transfer) -> None:
        """The note travels with the chat as an internal message the visitor never sees."""
        if frame.note.strip():
            node = self.node
            await node.messages.post(
                frame.chat, role="agent", sender_id=self.agent.id, sender_name=self.conn.name,
                cid=f"transfer-{node.now()}", text=frame.note, kind="note",
                audience=AGENTS_ONLY, now_ms=node.now(), system=True,
            )

    async def announce_transfer(
        self, chat_id: str, agent_id: str, info: dict[str, Any] | None
    ) -> None:
        """Tell everyone in the chat, the visitor first, who they are chatting with now:
        a ``system`` message ``transferred`` sent by the new agent (the widget shows
        "You are now chatting with Alice")."""
        node = self.node
        agent = (info or {}).get("agent") or {}
        await node.messages.post(
            chat_id, role="agent", sender_id=agent_id, sender_name=agent.get("name", agent_id),
            cid=f"transfer-{agent_id}-{node.now()}", text="transferred", kind="system",
            audience=EVERYONE, now_ms=node.now(), system=True,
        )

    async def on_tags(self, frame: Tags) -> dict[str, Any]:
        tags = list(dict.fromkeys(frame.tags))[: self.node.settings.max_tags]
        reason = await self.node.routing.set_tags(
            frame.chat, tags, required_agent="" if self.supervisor else self.agent.id
        )
        if reason != "ok":
            raise refused(reason, frame.chat)
        return {"type": "ok", "chat": frame.chat, "tags": tags}

    async def on_close(self, frame: Close) -> dict[str, Any]:
        tags = frame.tags[: self.node.settings.max_tags]
        reason = await self.node.end_chat(
            frame.chat,
            ChatEvent.CLOSE,
            by=self.actor,
            outcome=frame.outcome,
            tags=tags,
            required_agent="" if self.supervisor else self.agent.id,
        )
        if reason != "ok":
            raise refused(reason, frame.chat)
        return {"type": "ok", "chat": frame.chat}

    async def on_watch(self, frame: Watch) -> dict[str, Any]:
        self.require_supervisor()
        info = await self.node.chat_info(frame.chat, for_agent=True)
        if info is None:
            raise refused("not_found", frame.chat)
        await self.conn.follow(frame.chat, 0)
        return {"type": "chat", "chat": info}

    async def on_unwatch(self, frame: Unwatch) -> dict[str, Any]:
        self.require_supervisor()
        await self.conn.unfollow(frame.chat)
        return {"type": "ok", "chat": frame.chat}

    async def on_join(self, frame: Join) -> dict[str, Any]:
        """A supervisor steps into a live chat: they may write in it from now on."""
        self.require_supervisor()
        node = self.node
        chat = await node.routing.get_chat(frame.chat)
        if chat is None:
            raise refused("not_found", frame.chat)
        if chat.state not in (ChatState.QUEUED, ChatState.OFFERED, ChatState.ACTIVE):
            raise refused("invalid_state", frame.chat)
        await node.messages.set_participants(frame.chat, add=[self.conn.participant])
        await node.redis.sadd(node.keys.chat_watchers(frame.chat), self.agent.id)
        await self.conn.follow(frame.chat, 0)
        await node.messages.post(
            frame.chat, role="agent", sender_id=self.agent.id, sender_name=self.conn.name,
            cid=f"join-{self.agent.id}", text="joined", kind="system", audience=EVERYONE,
            now_ms=node.now(), system=True,
        )
        return {"type": "ok", "chat": frame.chat}

    async def on_whisper(self, frame: Whisper) -> dict[str, Any]:
        self.require_supervisor()
        if await self.node.routing.get_chat(frame.chat) is None:
            raise refused("not_found", frame.chat)
        return await self.post(
            frame.chat, frame.cid, frame.text, kind="whisper", audience=AGENTS_ONLY, system=True
        )

    async def on_queues(self, frame: Queues) -> dict[str, Any]:
        self.require_supervisor()
        node = self.node
        topics = await node.topics()
        queues = await node.routing.queue_summary(topics, node.now())
        agents = []
        for agent in await node.directory.list_agents():
            load = len(await node.routing.agent_chat_ids(agent.id))
            agents.append({**agent.public(), "load": load})
        return {"type": "queues", "queues": queues, "agents": agents}
