"""Actions on a chat's routing state shared by agents, visitors, supervisors and timers:
requeue (decline, lapse, agent gone, transfer to a queue), end (close, leave, miss,
abandon, timeout), release, and an agent going offline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatserver.core.lifecycle import ChatEvent
from chatserver.store.messages import participant

if TYPE_CHECKING:
    from chatserver.hub.node import Node


class ChatActions:
    def __init__(self, node: Node) -> None:
        self.node = node

    async def publish_state(self, chat_id: str) -> None:
        """The chat's new state to everyone following it (as a visitor sees it)."""
        info = await self.node.views.one(chat_id, for_agent=False)
        if info is not None:
            await self.node.messages.publish(chat_id, {"type": "chat", "chat": info})

    async def release(self, chat_id: str, agent_id: str, reason: str) -> None:
        """Tell an agent a chat is no longer theirs."""
        node = self.node
        await node.messages.set_participants(chat_id, remove=[participant("agent", agent_id)])
        await node.notifier.agent(
            agent_id, {"type": "revoked", "chat": chat_id, "reason": reason}, unfollow=chat_id
        )

    async def requeue(self, chat_id: str, event: ChatEvent, **kw: Any) -> str:
        """Put a chat back in a queue; returns 'ok' or why not."""
        node = self.node
        outcome = await node.routing.requeue(chat_id, event, node.now(), **kw)
        if not outcome.ok:
            return outcome.reason
        if outcome.agent:
            await self.release(chat_id, outcome.agent, event.value)
            if event is ChatEvent.LAPSE:
                # an unanswered offer sets the agent away (not responding)
                await node.notifier.agent(outcome.agent, {"type": "status", "status": "away"})
        await self.publish_state(chat_id)
        # the visitor's process tracks queue positions only of chats that are queued
        await node.notifier.visitor(outcome.visitor, watch=chat_id, topic=outcome.topic)
        await node.notifier.queues_changed()
        node.drainer.request()
        return "ok"

    async def end(
        self,
        chat_id: str,
        event: ChatEvent,
        *,
        by: str,
        outcome: str = "",
        tags: list[str] | None = None,
        required_agent: str = "",
        if_visitor_gone: bool = False,
    ) -> str:
        """Close, abandon or miss a chat; returns 'ok' or why not.  ``if_visitor_gone``:
        only if the visitor has no live socket (else 'visitor_back')."""
        node = self.node
        now = node.now()
        record = await node.routing.get_chat(chat_id)
        result = await node.routing.end_chat(
            chat_id, event, now, by=by, outcome=outcome, tags=tags or [],
            required_agent=required_agent, if_visitor_gone=if_visitor_gone,
        )
        if not result.ok:
            return result.reason
        if result.agent:
            # capacity is free from this moment: route before telling anyone
            node.drainer.request()
        await node.messages.close_chat(chat_id)
        await self.publish_state(chat_id)
        if result.agent:
            await node.notifier.agent(
                result.agent, {"type": "ended", "chat": chat_id, "by": by}, unfollow=chat_id
            )
            accepted = record.raw.get("accepted_at") if record else None
            if accepted:
                await node.handle_times.record(
                    result.topic, max(0.0, (now - int(accepted)) / 1000)
                )
        if result.visitor:
            await node.notifier.visitor(result.visitor, unfollow=chat_id)
        await node.notifier.queues_changed()
        return "ok"

    async def agent_went_offline(self, agent_id: str) -> None:
        node = self.node
        for chat_id in await node.routing.agent_chat_ids(agent_id):
            await self.requeue(chat_id, ChatEvent.REQUEUE, expected_agent=agent_id)
        await node.notifier.agent(agent_id, {"type": "status", "status": "offline"})
