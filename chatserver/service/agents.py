"""What an agent (or a supervisor acting on any chat) does to a chat or to their own
status: accept, decline, transfer, close, tag, change status; and the supervisor's
join and queue snapshot.

Each action raises ``ProtocolError`` with the reason when it is refused (the same error a
WebSocket client gets; REST handlers map its code to an HTTP status).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from chatserver.core.agent_presence import HOLDS_NO_CHATS, AgentStatus
from chatserver.core.lifecycle import ChatEvent, ChatState
from chatserver.faults import crash_point
from chatserver.hub.views import public
from chatserver.protocol import ErrorCode, ProtocolError
from chatserver.service.actor import Actor
from chatserver.store.chat_state import OfferHint, chat_record
from chatserver.store.messages import AGENTS_ONLY, EVERYONE, participant
from chatserver.telemetry import metrics

if TYPE_CHECKING:
    from chatserver.hub.node import Node

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
    """The error for a store step's refusal ``reason`` on ``chat_id``."""
    code, message = _REASONS.get(reason, (ErrorCode.INVALID_STATE, reason))
    return ProtocolError(code, message, chat=chat_id)


class AgentActions:
    def __init__(self, node: Node) -> None:
        self.node = node

    async def connect(self, agent_id: str, conn_id: str) -> tuple[str, list[str]]:
        """A console connected: the agent is present on it (routing looks again when
        that made them available).  Returns their status now and the chats they hold,
        read beside it (one write on the shared connection) for the welcome."""
        node = self.node
        (status, became), chat_ids = await asyncio.gather(
            node.agent_presence.agent_connect(agent_id, conn_id, node.now()),
            node.routing.agent_chat_ids(agent_id),
        )
        if became:
            node.drainer.request()
        return status, chat_ids

    async def disconnect(self, agent_id: str, conn_id: str) -> None:
        """A console connection closed (kept and retried while Redis cannot be reached)."""
        await self.node.jobs.record_agent_disconnect(agent_id, conn_id)

    async def serving_visitors(self, agent_id: str) -> frozenset[str]:
        """The visitors whose chats the agent holds now (whose archive they may read)."""
        node = self.node
        chat_ids = await node.routing.agent_chat_ids(agent_id)
        chats = await asyncio.gather(*(node.chats.get_chat(c) for c in chat_ids))
        return frozenset(chat.visitor for chat in chats if chat is not None)

    async def status(self, actor: Actor, status: str) -> str:
        """Set the agent's status; returns the status they now have."""
        node = self.node
        presence = node.agent_presence
        now_status, became = await presence.set_status(actor.id, status, node.now(), announce=False)
        if became:
            node.drainer.request()
        if AgentStatus(status) in HOLDS_NO_CHATS:
            await asyncio.gather(
                presence.agents_changed(), node.actions.agent_went_offline(actor.id)
            )
        else:
            # every process's availability and the agent's consoles, together
            await asyncio.gather(
                presence.agents_changed(),
                node.notifier.agent(actor.id, {"type": "status", "status": now_status}),
            )
        return now_status

    async def accept(self, actor: Actor, chat_id: str) -> None:
        """Two round trips: the script (which returns the chat as it now is) with the
        message metadata, then the participant and the notifications together."""
        node = self.node
        outcome, meta = await asyncio.gather(
            node.routing.accept(chat_id, actor.id, node.now()), node.messages.meta(chat_id)
        )
        chat = chat_record(chat_id, outcome.chat)
        if not outcome.ok or chat is None:
            raise refused(outcome.reason, chat_id)
        metrics.OFFERS["accepted"].inc()
        # Two slots: the routing script above ({rt}), then the agent's participation
        # ({c:<chat>}).  A crash in between is repaired at the agent's first message
        # (MessageActions._repair_participation, from the routing state).
        crash_point("accept:routed")
        info = node.views.build(chat, meta, for_agent=True)
        await asyncio.gather(
            node.messages.set_participants(chat_id, add=[actor.participant]),
            node.notifier.agent(actor.id, {"type": "assigned", "chat": info}, follow=chat_id),
            node.messages.publish(chat_id, {"type": "chat", "chat": public(info)}),
        )

    async def decline(self, actor: Actor, chat_id: str, offered: OfferHint | None = None) -> None:
        """Give an offered chat back to its queue.  ``offered``: what the agent's
        connection was told of the chat by its offer; with it the chat is not read first
        (two round trips, see ``ChatActions.requeue``), and if it is out of date the
        script says so and the chat is read after all."""
        reason = await self.node.actions.requeue(
            chat_id, ChatEvent.DECLINE, expected_agent=actor.id, offered=offered
        )
        if reason != "ok":
            raise refused(reason, chat_id)
        metrics.OFFERS["declined"].inc()

    async def transfer(
        self, actor: Actor, chat_id: str, *, agent: str | None, topic: str | None, note: str
    ) -> None:
        """Hand the chat to another agent, or back to a topic's queue."""
        node = self.node
        if (agent is None) == (topic is None):
            raise ProtocolError(ErrorCode.BAD_FRAME, "give exactly one of agent or topic")
        expected = "" if actor.supervisor else actor.id
        note = note.strip()
        if agent is not None:
            # the script checks that the chat is the actor's (unless a supervisor's)
            outcome, meta = await asyncio.gather(
                node.routing.transfer_to_agent(
                    chat_id,
                    agent,
                    node.now(),
                    expected_agent=expected,
                    by=actor.label,
                    note=note,
                ),
                node.messages.meta(chat_id),
            )
            chat = chat_record(chat_id, outcome.chat)
            if not outcome.ok or chat is None:
                raise refused(outcome.reason, chat_id)
            # Two slots: the routing script above ({rt}), then the participations below
            # ({c:<chat>}).  A crash in between: the new agent's is rebuilt at their first
            # message (MessageActions._repair_participation), the old agent's is removed
            # by the timers (core/released.py: the script left them a note).
            crash_point("transfer:routed")
            info = node.views.build(chat, meta, for_agent=True)
            # one round trip: the note, the old agent's release, the new agent's
            # participation and offer, the chat's state and the announcement, in order
            steps: list[Awaitable[Any]] = [self._transfer_note(actor, chat_id, note)]
            if outcome.agent:
                steps += node.actions.release_steps(chat_id, outcome.agent, "transfer")
            steps += [
                node.messages.set_participants(chat_id, add=[participant("agent", agent)]),
                node.notifier.agent(agent, {"type": "assigned", "chat": info}, follow=chat_id),
                node.messages.publish(chat_id, {"type": "chat", "chat": public(info)}),
                self._announce_transfer(chat_id, agent, info),
            ]
            await asyncio.gather(*steps)
            return
        chat_now = await node.chats.get_chat(chat_id)
        if chat_now is None:
            raise refused("not_found", chat_id)
        if not actor.supervisor and chat_now.agent != actor.id:
            raise refused("not_yours", chat_id)
        found = await node.catalog.topic((topic or "").strip().lower())
        if found is None:
            raise ProtocolError(ErrorCode.UNKNOWN_TOPIC, f"unknown topic {topic!r}")
        reason = await node.actions.requeue(
            chat_id,
            ChatEvent.TRANSFER_QUEUE,
            expected_agent=expected,
            new_topic=found,
            by=actor.label,
            note=note,
        )
        if reason != "ok":
            raise refused(reason, chat_id)
        await self._transfer_note(actor, chat_id, note)

    async def _transfer_note(self, actor: Actor, chat_id: str, note: str) -> None:
        """The note travels with the chat as an internal message the visitor never sees."""
        if note:
            node = self.node
            await node.messages.post(
                chat_id,
                role="agent",
                sender_id=actor.id,
                sender_name=actor.name,
                cid=f"transfer-{node.now()}",
                text=note,
                kind="note",
                audience=AGENTS_ONLY,
                now_ms=node.now(),
                system=True,
            )

    async def _announce_transfer(
        self, chat_id: str, agent_id: str, info: dict[str, Any] | None
    ) -> None:
        """Tell everyone in the chat, the visitor first, who they are chatting with now:
        a ``system`` message ``transferred`` sent by the new agent (the widget shows
        "You are now chatting with Alice")."""
        node = self.node
        agent = (info or {}).get("agent") or {}
        await node.messages.post(
            chat_id,
            role="agent",
            sender_id=agent_id,
            sender_name=agent.get("name", agent_id),
            cid=f"transfer-{agent_id}-{node.now()}",
            text="transferred",
            kind="system",
            audience=EVERYONE,
            now_ms=node.now(),
            system=True,
        )

    async def _known_tags(self, tags: list[str]) -> None:
        """Refuse tags outside the admin's list unless FREE_TAGS (a check of
        configuration, not of the chat: nothing is written from it)."""
        if self.node.settings.free_tags or not tags:
            return
        known = await self.node.catalog.tag_list()
        unknown = [t for t in tags if t not in known]
        if unknown:
            raise ProtocolError(
                ErrorCode.UNKNOWN_TAG,
                f"not in the tag list: {', '.join(unknown[:5])}",
                tags=unknown[: self.node.settings.max_tags],
            )

    async def tags(self, actor: Actor, chat_id: str, tags: list[str]) -> list[str]:
        tags = list(dict.fromkeys(tags))[: self.node.settings.max_tags]
        await self._known_tags(tags)
        reason = await self.node.chats.set_tags(
            chat_id, tags, required_agent="" if actor.supervisor else actor.id
        )
        if reason != "ok":
            raise refused(reason, chat_id)
        return tags

    async def close(self, actor: Actor, chat_id: str, *, outcome: str, tags: list[str]) -> None:
        tags = tags[: self.node.settings.max_tags]
        await self._known_tags(tags)
        reason = await self.node.actions.end(
            chat_id,
            ChatEvent.CLOSE,
            by=actor.label,
            outcome=outcome,
            tags=tags,
            required_agent="" if actor.supervisor else actor.id,
            closer_name=actor.name,
        )
        if reason != "ok":
            raise refused(reason, chat_id)

    # ---- supervisors ----------------------------------------------------------------------
    async def join(self, actor: Actor, chat_id: str) -> None:
        """A supervisor steps into a live chat: they may write in it from now on (the
        caller follows the chat on their connection)."""
        node = self.node
        chat = await node.chats.get_chat(chat_id)
        if chat is None:
            raise refused("not_found", chat_id)
        if chat.state not in (ChatState.QUEUED, ChatState.OFFERED, ChatState.ACTIVE):
            raise refused("invalid_state", chat_id)
        await node.messages.set_participants(chat_id, add=[actor.participant])
        await node.watchers.add(chat_id, actor.id)

    async def announce_join(self, actor: Actor, chat_id: str) -> None:
        node = self.node
        await node.messages.post(
            chat_id,
            role="agent",
            sender_id=actor.id,
            sender_name=actor.name,
            cid=f"join-{actor.id}",
            text="joined",
            kind="system",
            audience=EVERYONE,
            now_ms=node.now(),
            system=True,
        )

    async def queues(self) -> dict[str, Any]:
        """The queues and every agent with their load (the supervisor's snapshot)."""
        node = self.node
        queues = await node.admin.queue_summary()
        agents = []
        for agent in await node.directory.list_agents():
            load = len(await node.routing.agent_chat_ids(agent.id))
            agents.append({**agent.public(), "load": load})
        return {"type": "queues", "queues": queues, "agents": agents}
