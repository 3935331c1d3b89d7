"""Random interleavings of every routing action (seeded, so a failure replays), checking
after each step what no sequence of actions may break: an agent never holds more chats
than their capacity, a chat is held by its agent exactly while offered or active, a
visitor has at most one open chat, and a chat reaches the outbox exactly once, when it
ends."""

from __future__ import annotations

import random

import pytest

from chatserver.core.lifecycle import ChatEvent, ChatState
from chatserver.core.routing import Assignment
from chatserver.core.routing import plan as plan_routes
from tests.store.conftest import T0, Stores

AGENTS = {"a1": 1, "a2": 2, "a3": 1}
VISITORS = [f"v{i}" for i in range(5)]
LIVE = (ChatState.QUEUED, ChatState.OFFERED, ChatState.ACTIVE)


@pytest.mark.parametrize("seed", range(4))
async def test_random_actions_keep_the_invariants(stores: Stores, seed: int) -> None:
    rng = random.Random(seed)
    for agent, capacity in AGENTS.items():
        await stores.agent(agent, capacity=capacity)
    topic = await stores.topic()
    sales = await stores.topic("sales")
    chats: list[str] = []
    seen: set[ChatState] = set()
    now = T0
    for step in range(120):
        now += rng.randint(1, 5_000)
        action = rng.choice(["create", "create", "commit", "commit", "accept", "accept", "decline",
                             "transfer", "queue", "close", "abandon", "lapse", "status"])
        chat = rng.choice(chats) if chats else "none"
        agent = rng.choice(list(AGENTS))
        if action == "create":
            chat_id = f"c{step}"
            made = await stores.chats.create_chat(
                chat_id, rng.choice(VISITORS), rng.choice([topic, sales]), {}, now
            )
            if made.created:
                chats.append(chat_id)
        elif action == "commit":
            snap = await stores.routing.snapshot(["general", "sales"])
            # mostly the core's plan; sometimes a wild one (a stale plan loses, never harms)
            plan = plan_routes(snap.chats, snap.agents, now) if rng.random() < 0.7 else [
                Assignment(c.id, rng.choice(list(AGENTS))) for c in snap.chats
            ]
            await stores.routing.commit(plan, snap.topic_of, now)
        elif action == "accept":
            # mostly an offered chat by the agent offered it; sometimes anything by anyone
            offered = [c for c in chats if await _held_by(stores, c, ChatState.OFFERED)]
            if offered and rng.random() < 0.8:
                chat = rng.choice(offered)
                agent = await _held_by(stores, chat, ChatState.OFFERED)
            await stores.routing.accept(chat, agent, now)
        elif action == "decline":
            await stores.routing.requeue(chat, ChatEvent.DECLINE, now, expected_agent=agent)
        elif action == "lapse":
            await stores.routing.requeue(chat, ChatEvent.LAPSE, now)
        elif action == "transfer":
            await stores.routing.transfer_to_agent(chat, agent, now)
        elif action == "queue":
            await stores.routing.requeue(chat, ChatEvent.TRANSFER_QUEUE, now, new_topic=sales)
        elif action in ("close", "abandon"):
            event = ChatEvent.CLOSE if action == "close" else ChatEvent.ABANDON
            await stores.chats.end_chat(chat, event, now, by="test")
        elif action == "status":
            await stores.agents.set_status(agent, rng.choice(["online", "online", "away"]), now)
        seen |= await _check(stores, chats)
    # the walk went through every kind of state (else it would check little)
    assert {ChatState.QUEUED, ChatState.OFFERED, ChatState.ACTIVE} <= seen
    assert seen & {ChatState.CLOSED, ChatState.ABANDONED}


async def _held_by(stores: Stores, chat_id: str, state: ChatState) -> str:
    """The agent holding ``chat_id`` if it is in ``state``, else ''."""
    chat = await stores.chats.get_chat(chat_id)
    return chat.agent if chat is not None and chat.state == state else ""


async def _check(stores: Stores, chats: list[str]) -> set[ChatState]:
    """Check the invariants; returns the states the chats are in."""
    held: dict[str, set[str]] = {}
    for agent, capacity in AGENTS.items():
        ids = await stores.routing.agent_chat_ids(agent)
        assert len(ids) <= capacity, (agent, ids)
        held[agent] = set(ids)
    outbox: dict[str, int] = {}
    for entry in await stores.outbox.outbox_entries():
        if "kind" not in entry:
            outbox[entry["chat"]] = outbox.get(entry["chat"], 0) + 1
    open_by_visitor: dict[str, list[str]] = {}
    states: set[ChatState] = set()
    for chat_id in chats:
        chat = await stores.chats.get_chat(chat_id)
        assert chat is not None
        states.add(chat.state)
        holders = [a for a, ids in held.items() if chat_id in ids]
        if chat.state in (ChatState.OFFERED, ChatState.ACTIVE):
            assert holders == [chat.agent], (chat_id, chat.state, holders)
        else:
            assert holders == [], (chat_id, chat.state, holders)
        if chat.state in LIVE:
            open_by_visitor.setdefault(chat.visitor, []).append(chat_id)
            assert outbox.get(chat_id, 0) == 0
        else:
            assert outbox.get(chat_id, 0) == 1, (chat_id, chat.state)
        if chat.state == ChatState.QUEUED:
            assert await stores.routing.queue_position(chat.topic, chat_id) is not None
    for visitor in VISITORS:
        open_chats = open_by_visitor.get(visitor, [])
        assert len(open_chats) <= 1, (visitor, open_chats)
        assert await stores.chats.visitor_open_chat(visitor) == (
            open_chats[0] if open_chats else None
        )
    return states
