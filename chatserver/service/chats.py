"""Actions on a chat's routing state shared by agents, visitors, supervisors and timers:
requeue (decline, lapse, agent gone, transfer to a queue), end (close, leave, miss,
abandon, timeout), release, and an agent going offline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from chatserver.core.agent_presence import lua_rules
from chatserver.core.lifecycle import ChatEvent
from chatserver.faults import crash_point
from chatserver.store.chat_state import chat_record
from chatserver.store.messages import participant
from chatserver.store.routing import LAPSE_STATUS

GRACE_TO = lua_rules()["grace_to"]
"""The status of an agent whose chats go back to the queues (offline)."""

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

    def release_steps(self, chat_id: str, agent_id: str, reason: str) -> list[Awaitable[Any]]:
        """Telling an agent a chat is no longer theirs: the steps, for the action to send
        with its own, in order."""
        node = self.node
        return [
            node.messages.set_participants(chat_id, remove=[participant("agent", agent_id)]),
            node.notifier.agent(
                agent_id,
                {"type": "revoked", "chat": chat_id, "reason": reason},
                unfollow=chat_id,
            ),
        ]

    async def requeue(self, chat_id: str, event: ChatEvent, **kw: Any) -> str:
        """Put a chat back in a queue; returns 'ok' or why not.

        Round trips: the chat's holder, topic, priority and creation time are read with
        the message metadata, the script returns the chat as it now is, and the
        notifications go out together.  A decline that passes what the agent was offered
        (``offered``) skips the read: the script goes with the metadata, so two round
        trips (four when the chat is no longer as it was offered: the refused script, then
        the read and the script again)."""
        node = self.node
        outcome, meta = await asyncio.gather(
            node.routing.requeue(chat_id, event, node.now(), **kw),
            node.messages.meta(chat_id),
        )
        if not outcome.ok:
            return outcome.reason
        chat = chat_record(chat_id, outcome.chat)
        # read before any step is made: a failure here must leave no coroutine unawaited
        queue = (
            await node.views.queue_fields(outcome.topic, outcome.position, outcome.handle_s)
            if chat is not None
            else None
        )
        steps: list[Awaitable[Any]] = []
        if outcome.agent:
            steps += self.release_steps(chat_id, outcome.agent, event.value)
            if event is ChatEvent.LAPSE:
                # an unanswered offer sets the agent away (not responding)
                steps.append(
                    node.notifier.agent(outcome.agent, {"type": "status", "status": LAPSE_STATUS})
                )
        if chat is not None:
            info = node.views.build(chat, meta, for_agent=False, queue=queue)
            steps.append(node.messages.publish(chat_id, {"type": "chat", "chat": info}))
        # the visitor's process tracks queue positions only of chats that are queued
        steps.append(node.notifier.visitor(outcome.visitor, watch=chat_id, topic=outcome.topic))
        steps.append(node.notifier.queues_changed())
        await asyncio.gather(*steps)
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
        closer_name: str = "",
    ) -> str:
        """Close, abandon or miss a chat; returns 'ok' or why not.  ``if_visitor_gone``:
        only if the visitor has no live socket (else 'visitor_back').

        Round trips: the chat's keys and message metadata are read together, then the
        script (which also folds the handle time into the topic's average), then the log
        is sealed and everyone told, together."""
        node = self.node
        result, meta = await asyncio.gather(
            node.chats.end_chat(
                chat_id,
                event,
                node.now(),
                by=by,
                outcome=outcome,
                tags=tags or [],
                required_agent=required_agent,
                if_visitor_gone=if_visitor_gone,
                closer_name=closer_name,
            ),
            node.messages.meta(chat_id),
        )
        if not result.ok:
            return result.reason
        # Two slots: the routing script above ({rt}: state, capacity, timers, the outbox
        # entry), then the log's seal below ({c:<chat>}).  A crash in between leaves the
        # log open; the records writer seals it before it reads it (store/outbox.py), so no
        # message is acknowledged that the record misses (docs/architecture.md, "Actions
        # that span two slots").
        crash_point("end:routed")
        if result.agent:
            # capacity is free from this moment: route before telling anyone
            node.drainer.request()
        steps: list[Awaitable[Any]] = [node.messages.close_chat(chat_id)]
        chat = chat_record(chat_id, result.chat)
        if chat is not None:
            info = node.views.build(chat, meta, for_agent=False)
            steps.append(node.messages.publish(chat_id, {"type": "chat", "chat": info}))
        if result.agent:
            steps.append(
                node.notifier.agent(
                    result.agent, {"type": "ended", "chat": chat_id, "by": by}, unfollow=chat_id
                )
            )
        if result.visitor:
            steps.append(node.notifier.visitor(result.visitor, unfollow=chat_id))
        steps.append(node.notifier.queues_changed())
        await asyncio.gather(*steps)
        return "ok"

    async def agent_went_offline(self, agent_id: str) -> None:
        node = self.node
        for chat_id in await node.routing.agent_chat_ids(agent_id):
            await self.requeue(chat_id, ChatEvent.REQUEUE, expected_agent=agent_id)
        await node.notifier.agent(agent_id, {"type": "status", "status": GRACE_TO})
