"""The agent's (and supervisor's) session: status, offers, chats, transfer, close, and the
supervisor powers (watch, whisper, close or reassign any chat, queue snapshots).

Supervisor powers are checked here on every frame, exactly as the REST API checks them.
"""

from __future__ import annotations

from typing import Any

from chatserver.core.lifecycle import ChatState
from chatserver.hub.connection import Connection
from chatserver.hub.node import Node
from chatserver.hub.session import PROTOCOL_VERSION, Session
from chatserver.protocol import (
    Accept,
    AgentFrame,
    Close,
    Decline,
    ErrorCode,
    Invite,
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
from chatserver.service.actor import Actor
from chatserver.service.agents import refused
from chatserver.store.chat_state import OfferHint
from chatserver.store.directory import Agent
from chatserver.store.messages import AGENTS_ONLY, EVERYONE


class AgentSession(Session):
    role = "agent"

    __slots__ = ("agent", "known_chats")

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
        Invite: "on_invite",
    }

    def __init__(self, node: Node, conn: Connection, agent: Agent) -> None:
        super().__init__(node, conn)
        self.agent = agent
        self.known_chats: list[str] | None = None
        """The agent's chat ids, when the socket endpoint read them already (beside the
        presence write): the welcome does not read them again."""

    @property
    def supervisor(self) -> bool:
        return self.conn.supervisor

    def decode(self, data: bytes) -> AgentFrame:
        return decode_agent(data)

    async def welcome(self) -> dict[str, Any]:
        node = self.node
        chat_ids = self.known_chats
        self.known_chats = None
        if chat_ids is None:
            chat_ids = await node.routing.agent_chat_ids(self.agent.id)
        infos = await node.views.many(chat_ids, for_agent=True) if chat_ids else []
        chats = [info for info in infos if info is not None]
        for info in chats:
            if info["state"] == ChatState.OFFERED.value:  # as if its offer came now
                self.conn.note_offer(
                    info["id"], OfferHint(info["topic"], info["priority"], info["created"])
                )
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
    def actor(self) -> Actor:
        conn = self.conn
        return Actor("agent", self.agent.id, conn.name, conn.supervisor, conn.id)

    def require_supervisor(self) -> None:
        if not self.supervisor:
            raise ProtocolError(ErrorCode.FORBIDDEN, "supervisors only")

    # ---- frames ---------------------------------------------------------------------------
    async def on_send(self, frame: Send) -> dict[str, Any]:
        if frame.internal:
            return await self.post(
                frame.chat, frame.cid, frame.text, kind="note", audience=AGENTS_ONLY
            )
        return await self.post(frame.chat, frame.cid, frame.text, kind="message", audience=EVERYONE)

    async def on_status(self, frame: Status) -> dict[str, Any]:
        status = await self.node.agent_actions.status(self.actor, frame.status)
        return {"type": "ok", "status": status}

    async def on_accept(self, frame: Accept) -> dict[str, Any]:
        await self.node.agent_actions.accept(self.actor, frame.chat)
        return {"type": "ok", "chat": frame.chat}

    async def on_decline(self, frame: Decline) -> dict[str, Any]:
        await self.node.agent_actions.decline(self.actor, frame.chat, self.conn.offered(frame.chat))
        return {"type": "ok", "chat": frame.chat}

    async def on_transfer(self, frame: Transfer) -> dict[str, Any]:
        await self.node.agent_actions.transfer(
            self.actor, frame.chat, agent=frame.agent, topic=frame.topic, note=frame.note
        )
        return {"type": "ok", "chat": frame.chat}

    async def on_tags(self, frame: Tags) -> dict[str, Any]:
        tags = await self.node.agent_actions.tags(self.actor, frame.chat, list(frame.tags))
        return {"type": "ok", "chat": frame.chat, "tags": tags}

    async def on_close(self, frame: Close) -> dict[str, Any]:
        await self.node.agent_actions.close(
            self.actor, frame.chat, outcome=frame.outcome, tags=list(frame.tags)
        )
        return {"type": "ok", "chat": frame.chat}

    async def on_watch(self, frame: Watch) -> dict[str, Any]:
        self.require_supervisor()
        info = await self.node.views.one(frame.chat, for_agent=True)
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
        actions = self.node.agent_actions
        await actions.join(self.actor, frame.chat)
        await self.conn.follow(frame.chat, 0)
        await actions.announce_join(self.actor, frame.chat)
        return {"type": "ok", "chat": frame.chat}

    async def on_whisper(self, frame: Whisper) -> dict[str, Any]:
        self.require_supervisor()
        await self.node.message_actions.require_chat(frame.chat)
        return await self.post(
            frame.chat, frame.cid, frame.text, kind="whisper", audience=AGENTS_ONLY, system=True
        )

    async def on_queues(self, frame: Queues) -> dict[str, Any]:
        self.require_supervisor()
        return await self.node.agent_actions.queues()

    async def on_invite(self, frame: Invite) -> dict[str, Any]:
        invite_id = await self.node.onsite_actions.invite(self.actor, frame)
        return {"type": "ok", "invite": invite_id}
