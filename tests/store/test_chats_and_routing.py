"""The contract of chats, queues and routing (``Chats`` and ``Routing``): states move only
along core/lifecycle.py's transitions, every refusal says why, the same action twice is
refused the second time without changing anything, an agent never holds more chats than
their capacity, a visitor has at most one open chat, and every finished chat reaches the
outbox exactly once."""

from __future__ import annotations

import json

import pytest

from chatserver.core.lifecycle import ChatEvent, ChatState
from chatserver.core.routing import Assignment
from chatserver.store.chat_state import Created, OfferHint
from tests.store.conftest import T0, Stores


async def _queued(stores: Stores, chat_id: str = "c1", visitor: str = "v1") -> None:
    topic = await stores.topic()
    made = await stores.chats.create_chat(chat_id, visitor, topic, {"name": "V"}, T0)
    created, got = made.created, made.chat_id
    assert (created, got) == (True, chat_id)


async def _offered(stores: Stores, chat_id: str = "c1", agent: str = "alice") -> None:
    await _queued(stores, chat_id, visitor=f"v-{chat_id}")
    [(_, reason)] = await stores.routing.commit(
        [Assignment(chat_id, agent)], {chat_id: "general"}, T0 + 10
    )
    assert reason == "ok"


async def _active(stores: Stores, chat_id: str = "c1", agent: str = "alice") -> None:
    await _offered(stores, chat_id, agent)
    assert (await stores.routing.accept(chat_id, agent, T0 + 20)).reason == "ok"


async def _state(stores: Stores, chat_id: str) -> ChatState:
    chat = await stores.chats.get_chat(chat_id)
    assert chat is not None
    return chat.state


async def _outbox_count(stores: Stores, chat_id: str) -> int:
    return sum(
        1 for e in await stores.outbox.outbox_entries()
        if e["chat"] == chat_id and "kind" not in e
    )


# ---- create -------------------------------------------------------------------------------
async def test_create_queues_the_chat_once_per_visitor(stores: Stores) -> None:
    await stores.agent("alice")
    await _queued(stores)
    chat = await stores.chats.get_chat("c1")
    assert chat is not None
    assert (chat.state, chat.visitor, chat.topic, chat.agent) == (
        ChatState.QUEUED, "v1", "general", ""
    )
    assert chat.details == {"name": "V"}
    assert await stores.chats.visitor_open_chat("v1") == "c1"
    assert await stores.routing.queue_position("general", "c1") == 1
    # one open chat per visitor: a second start answers the open one and creates nothing
    topic = await stores.topic()
    assert _pair(await stores.chats.create_chat("c2", "v1", topic, {}, T0 + 1)) == (False, "c1")
    assert await stores.chats.get_chat("c2") is None
    assert await stores.routing.queue_position("general", "c2") is None
    assert [h.split("|")[0] for h in await stores.chats.history("c1")] == ["created"]


async def test_unknown_chats_are_not_found(stores: Stores) -> None:
    assert await stores.chats.get_chat("nope") is None
    assert (await stores.routing.accept("nope", "alice", T0)).reason == "not_found"
    assert (await stores.routing.requeue("nope", ChatEvent.DECLINE, T0)).reason == "not_found"
    assert (await stores.chats.end_chat("nope", ChatEvent.CLOSE, T0, by="x")).reason == (
        "not_found"
    )
    moved = await stores.routing.transfer_to_agent("nope", "bob", T0)
    assert moved.reason == "not_found"
    assert await stores.chats.set_tags("nope", ["a"], required_agent="") == "not_found"


# ---- snapshot and commit ------------------------------------------------------------------
async def test_snapshot_shows_queued_chats_and_available_agents(stores: Stores) -> None:
    await stores.agent("alice", capacity=3)
    await stores.agent("bob", online=False)
    await _queued(stores, "c1", "v1")
    await _queued(stores, "c2", "v2")
    snap = await stores.routing.snapshot(["general"])
    assert [c.id for c in snap.chats] == ["c1", "c2"]  # service order: oldest first
    assert [(a.id, a.capacity, a.load, a.available) for a in snap.agents] == [
        ("alice", 3, 0, True)
    ]
    assert snap.topic_of == {"c1": "general", "c2": "general"}


async def test_commit_offers_and_never_exceeds_capacity(stores: Stores) -> None:
    await stores.agent("alice", capacity=2)
    for i in range(3):
        await _queued(stores, f"c{i}", f"v{i}")
    plan = [Assignment(f"c{i}", "alice") for i in range(3)]
    results = await stores.routing.commit(plan, {f"c{i}": "general" for i in range(3)}, T0 + 5)
    assert [r for _, r in results] == ["ok", "ok", "agent_full"]
    assert await stores.routing.agent_chat_ids("alice") == ["c0", "c1"]
    assert await _state(stores, "c0") == ChatState.OFFERED
    assert await _state(stores, "c2") == ChatState.QUEUED
    # the same plan again changes nothing: the chats are no longer queued, or she is full
    again = await stores.routing.commit(plan, {f"c{i}": "general" for i in range(3)}, T0 + 6)
    assert [r for _, r in again] == ["chat_not_queued", "chat_not_queued", "agent_full"]
    assert await stores.routing.agent_chat_ids("alice") == ["c0", "c1"]
    snap = await stores.routing.snapshot(["general"])
    assert [(a.id, a.load, a.free) for a in snap.agents] == [("alice", 2, 0)]


async def test_commit_refuses_with_its_reasons(stores: Stores) -> None:
    await stores.agent("alice", skills={"billing": 5})
    await stores.agent("bob", online=False)
    await stores.agent("carol")
    topic = await stores.topic("vip", required={"billing": 7})
    assert (await stores.chats.create_chat("c1", "v1", topic, {}, T0)).created
    general = await stores.topic()
    assert (await stores.chats.create_chat("c2", "v2", general, {}, T0)).created
    results = await stores.routing.commit(
        [Assignment("c1", "alice"), Assignment("c2", "bob")],
        {"c1": "vip", "c2": "general"}, T0 + 1,
    )
    assert [r for _, r in results] == ["agent_lacks_skill", "agent_unavailable"]
    # a plan read from the wrong queue loses
    [(_, reason)] = await stores.routing.commit(
        [Assignment("c2", "carol")], {"c2": "vip"}, T0 + 2
    )
    assert reason == "chat_not_in_queue"


# ---- offers -------------------------------------------------------------------------------
async def test_accept_once_by_the_offered_agent(stores: Stores) -> None:
    await stores.agent("alice")
    await stores.agent("bob")
    await _offered(stores)
    assert (await stores.routing.accept("c1", "bob", T0 + 20)).reason == "not_yours"
    assert (await stores.routing.accept("c1", "alice", T0 + 20)).reason == "ok"
    assert await _state(stores, "c1") == ChatState.ACTIVE
    assert (await stores.routing.accept("c1", "alice", T0 + 21)).reason == "invalid_state"
    kinds = [h.split("|")[0] for h in await stores.chats.history("c1")]
    assert kinds == ["created", "offer", "accept"]


async def test_decline_requeues_and_excludes_the_agent(stores: Stores) -> None:
    await stores.agent("alice")
    await _offered(stores)
    out = await stores.routing.requeue("c1", ChatEvent.DECLINE, T0 + 30, expected_agent="alice")
    assert (out.ok, out.agent, out.topic) == (True, "alice", "general")
    assert await _state(stores, "c1") == ChatState.QUEUED
    assert await stores.routing.agent_chat_ids("alice") == []
    again = await stores.routing.requeue(
        "c1", ChatEvent.DECLINE, T0 + 31, expected_agent="alice"
    )
    assert (again.ok, again.reason) == (False, "invalid_state")
    [(_, reason)] = await stores.routing.commit(
        [Assignment("c1", "alice")], {"c1": "general"}, T0 + 32
    )
    assert reason == "agent_declined"


async def test_decline_with_what_was_offered(stores: Stores) -> None:
    """A decline given what the agent was offered of the chat (no read first) does what a
    decline without it does; the same hint once the chat moved on is refused."""
    await stores.agent("alice")
    await _offered(stores)
    as_offered = OfferHint("general", 5, T0)
    out = await stores.routing.requeue(
        "c1", ChatEvent.DECLINE, T0 + 30, expected_agent="alice", offered=as_offered
    )
    assert (out.ok, out.agent, out.topic, out.visitor, out.position) == (
        True, "alice", "general", "v-c1", 1
    )
    assert await _state(stores, "c1") == ChatState.QUEUED
    assert await stores.routing.agent_chat_ids("alice") == []
    again = await stores.routing.requeue(
        "c1", ChatEvent.DECLINE, T0 + 31, expected_agent="alice", offered=as_offered
    )
    assert (again.ok, again.reason) == (False, "invalid_state")


@pytest.mark.parametrize(
    "stale",
    [OfferHint("sales", 5, T0), OfferHint("general", 3, T0), OfferHint("general", 5, T0 + 1)],
    ids=["topic", "priority", "created"],
)
async def test_decline_with_an_out_of_date_offer_reads_the_chat(
    stores: Stores, stale: OfferHint
) -> None:
    """A hint that differs from the chat (its topic, or what its queue score is made of)
    is not used: the chat goes back to its own queue, in its own place."""
    await stores.agent("alice", capacity=3)
    await stores.topic("sales")
    await _offered(stores, "c0")  # created at T0 like c1: c0 first, then c1
    await _offered(stores, "c1")
    await _offered(stores, "c2")
    right = await stores.routing.requeue(
        "c2", ChatEvent.DECLINE, T0 + 30, expected_agent="alice",
        offered=OfferHint("general", 5, T0),
    )
    assert right.ok and right.position == 1
    out = await stores.routing.requeue(
        "c1", ChatEvent.DECLINE, T0 + 31, expected_agent="alice", offered=stale
    )
    assert (out.ok, out.topic) == (True, "general")
    assert await stores.routing.queue_position("sales", "c1") is None
    assert await stores.routing.queue_position("sales", "c2") is None
    assert await stores.routing.queue_position("general", "c1") == 1  # same score as c2:
    assert await stores.routing.queue_position("general", "c2") == 2  # member order
    third = await stores.routing.requeue(
        "c0", ChatEvent.DECLINE, T0 + 32, expected_agent="alice",
        offered=OfferHint("general", 5, T0),
    )
    assert third.ok and third.position == 1
    assert await stores.routing.agent_chat_ids("alice") == []
    kinds = [h.split("|")[0] for h in await stores.chats.history("c1")]
    assert kinds == ["created", "offer", "decline"]  # the refused attempt left nothing


async def test_decline_with_what_was_offered_is_refused_to_someone_else(stores: Stores) -> None:
    await stores.agent("alice")
    await _offered(stores)
    out = await stores.routing.requeue(
        "c1", ChatEvent.DECLINE, T0 + 30, expected_agent="bob",
        offered=OfferHint("general", 5, T0),
    )
    assert (out.ok, out.reason) == (False, "not_yours")
    assert await _state(stores, "c1") == ChatState.OFFERED
    assert await stores.routing.agent_chat_ids("alice") == ["c1"]


async def test_requeue_by_someone_else_is_refused(stores: Stores) -> None:
    await stores.agent("alice")
    await _offered(stores)
    out = await stores.routing.requeue("c1", ChatEvent.DECLINE, T0 + 30, expected_agent="bob")
    assert (out.ok, out.reason) == (False, "not_yours")
    assert await _state(stores, "c1") == ChatState.OFFERED


async def test_a_lapse_waits_for_the_offer_deadline_and_sets_the_agent_away(
    stores: Stores,
) -> None:
    await stores.agent("alice")
    await _offered(stores)
    deadline = T0 + 10 + int(stores.settings.offer_timeout_s * 1000)
    early = await stores.routing.requeue("c1", ChatEvent.LAPSE, deadline - 1)
    assert (early.ok, early.reason) == (False, "not_due")
    assert "c1" in (await stores.timers.due(deadline))["offers"]
    out = await stores.routing.requeue("c1", ChatEvent.LAPSE, deadline)
    assert out.ok and out.agent == "alice"
    assert "c1" not in (await stores.timers.due(deadline))["offers"]
    snap = await stores.routing.snapshot(["general"])
    assert snap.agents == []  # away: no longer available
    agent = await stores.directory.get_agent("alice")
    assert agent is not None and agent.status == "away"


async def test_transfer_to_a_queue_changes_topic(stores: Stores) -> None:
    await stores.agent("alice")
    await _active(stores)
    sales = await stores.topic("sales")
    out = await stores.routing.requeue(
        "c1", ChatEvent.TRANSFER_QUEUE, T0 + 40, expected_agent="alice", new_topic=sales,
        by="agent:alice", note="for sales",
    )
    assert out.ok and out.topic == "sales"
    chat = await stores.chats.get_chat("c1")
    assert chat is not None and (chat.state, chat.topic) == (ChatState.QUEUED, "sales")
    assert await stores.routing.queue_position("sales", "c1") == 1
    assert await stores.routing.queue_position("general", "c1") is None
    assert any(h.startswith("handoff|") for h in await stores.chats.history("c1"))



async def test_transfer_to_a_queue_takes_the_new_topics_priority(stores: Stores) -> None:
    """The chat keeps the priority of the topic it now waits in: a later decline or
    requeue re-queues it with that priority, not its first topic's."""
    await stores.agent("alice")
    await _active(stores)
    vip = await stores.directory.set_topic("vip", required={}, optional={}, priority=9)
    out = await stores.routing.requeue(
        "c1", ChatEvent.TRANSFER_QUEUE, T0 + 40, expected_agent="alice", new_topic=vip,
        by="agent:alice", note="for vip",
    )
    assert out.ok
    chat = await stores.chats.get_chat("c1")
    assert chat is not None and (chat.topic, chat.priority) == ("vip", 9)

# ---- transfer to an agent -----------------------------------------------------------------
async def test_transfer_to_agent_moves_the_load(stores: Stores) -> None:
    await stores.agent("alice")
    await stores.agent("bob", capacity=1)
    await _active(stores)
    out = await stores.routing.transfer_to_agent(
        "c1", "bob", T0 + 50, expected_agent="alice", by="agent:alice"
    )
    assert (out.ok, out.agent) == (True, "alice")
    assert await stores.routing.agent_chat_ids("alice") == []
    assert await stores.routing.agent_chat_ids("bob") == ["c1"]
    # the same transfer again: alice no longer holds it
    again = await stores.routing.transfer_to_agent("c1", "bob", T0 + 51, expected_agent="alice")
    assert (again.ok, again.reason) == (False, "not_yours")
    assert (await stores.routing.transfer_to_agent("c1", "bob", T0 + 52)).reason == "same_agent"


async def test_transfer_to_agent_refusals(stores: Stores) -> None:
    await stores.agent("alice")
    await stores.agent("bob", capacity=1)
    await stores.agent("carol", online=False)
    await _active(stores, "c1")
    await _active(stores, "c2", agent="bob")
    assert (await stores.routing.transfer_to_agent("c1", "bob", T0 + 60)).reason == "agent_full"
    assert (await stores.routing.transfer_to_agent("c1", "carol", T0 + 60)).reason == (
        "agent_unavailable"
    )
    await _queued(stores, "c3", "v3")
    assert (await stores.routing.transfer_to_agent("c3", "alice", T0 + 60)).reason == (
        "invalid_state"
    )
    assert await stores.routing.agent_chat_ids("alice") == ["c1"]
    assert await stores.routing.agent_chat_ids("bob") == ["c2"]


# ---- end ----------------------------------------------------------------------------------
async def test_close_frees_everything_and_reaches_the_outbox_once(stores: Stores) -> None:
    await stores.agent("alice", capacity=1)
    await _active(stores)
    refused = await stores.chats.end_chat(
        "c1", ChatEvent.CLOSE, T0 + 70, by="agent:bob", required_agent="bob"
    )
    assert (refused.ok, refused.reason) == (False, "not_yours")
    assert await _outbox_count(stores, "c1") == 0
    await stores.chats.set_tags("c1", ["billing"], required_agent="alice")
    out = await stores.chats.end_chat(
        "c1", ChatEvent.CLOSE, T0 + 70, by="agent:alice", outcome="resolved",
        tags=["vip", "billing"], required_agent="alice",
    )
    assert (out.ok, out.agent, out.topic, out.visitor) == (True, "alice", "general", "v-c1")
    chat = await stores.chats.get_chat("c1")
    assert chat is not None and chat.state == ChatState.CLOSED
    assert json.loads(chat.raw["tags"]) == ["billing", "vip"]  # stored first, then new
    assert await stores.routing.agent_chat_ids("alice") == []
    assert await stores.chats.visitor_open_chat("v-c1") is None
    assert await _outbox_count(stores, "c1") == 1
    # the same close again: refused, and no second outbox entry
    again = await stores.chats.end_chat("c1", ChatEvent.CLOSE, T0 + 71, by="agent:alice")
    assert (again.ok, again.reason) == (False, "invalid_state")
    assert (await stores.chats.end_chat("c1", ChatEvent.ABANDON, T0 + 71, by="x")).reason == (
        "invalid_state"
    )
    assert await _outbox_count(stores, "c1") == 1
    # her capacity is back and the visitor may start again
    topic = await stores.topic()
    assert _pair(await stores.chats.create_chat("c9", "v-c1", topic, {}, T0 + 72)) == (True, "c9")
    [(_, reason)] = await stores.routing.commit(
        [Assignment("c9", "alice")], {"c9": "general"}, T0 + 73
    )
    assert reason == "ok"


async def test_abandon_and_miss_end_queued_chats(stores: Stores) -> None:
    await _queued(stores, "c1", "v1")
    await _queued(stores, "c2", "v2")
    a = await stores.chats.end_chat("c1", ChatEvent.ABANDON, T0 + 5, by="visitor:v1")
    m = await stores.chats.end_chat("c2", ChatEvent.MISS, T0 + 5, by="system")
    assert a.ok and m.ok
    assert await _state(stores, "c1") == ChatState.ABANDONED
    assert await _state(stores, "c2") == ChatState.MISSED
    assert await stores.routing.queue_position("general", "c1") is None
    assert await _outbox_count(stores, "c1") == 1 and await _outbox_count(stores, "c2") == 1
    due = await stores.timers.due(T0 + 10**9)
    assert "c1" not in due["missed"] and "c2" not in due["missed"]


async def test_a_gone_visitors_chat_ends_only_if_they_are_still_gone(stores: Stores) -> None:
    await _queued(stores, "c1", "v1")
    assert await stores.visitors.connect("v1", "vc1", T0) == 1
    back = await stores.chats.end_chat(
        "c1", ChatEvent.ABANDON, T0 + 1, by="system", if_visitor_gone=True
    )
    assert (back.ok, back.reason) == (False, "visitor_back")
    assert await stores.visitors.disconnect("v1", "vc1", T0 + 2) == 0
    gone = await stores.chats.end_chat(
        "c1", ChatEvent.ABANDON, T0 + 3, by="system", if_visitor_gone=True
    )
    assert gone.ok
    assert await stores.visitors.due_gone(T0 + 10**9) == []  # the mark went with the chat


# ---- relax, idle, rating, offline messages, tags -----------------------------------------
async def test_relax_once_and_only_while_queued(stores: Stores) -> None:
    topic = await stores.topic("vip", optional={"french": 1})
    assert (await stores.chats.create_chat("c1", "v1", topic, {}, T0)).created
    at = T0 + int(stores.settings.relax_after_s * 1000)
    assert (await stores.timers.due(at - 1))["relax"] == []
    assert (await stores.timers.due(at))["relax"] == ["c1"]
    assert await stores.routing.relax("c1", at) is True
    assert await stores.routing.relax("c1", at + 1) is False
    assert (await stores.timers.due(at))["relax"] == []
    chat = await stores.chats.get_chat("c1")
    assert chat is not None and chat.raw["relaxed"] == "1"


@pytest.mark.parametrize("hinted", [False, True], ids=["read", "as_offered"])
async def test_a_declined_chat_relaxes_when_it_first_would_have(
    stores: Stores, hinted: bool
) -> None:
    """Back in its queue, a chat with optional skills not yet dropped relaxes at the time
    it would have before its offer; one without optional skills, or relaxed already, gets
    no relaxation time."""
    await stores.agent("alice", capacity=3, skills={"french": 1})
    vip = await stores.topic("vip", optional={"french": 1})
    plain = await stores.topic("general")
    for chat_id, topic in (("c1", vip), ("c2", plain), ("c3", vip)):
        assert (await stores.chats.create_chat(chat_id, f"v{chat_id}", topic, {}, T0)).created
    at = T0 + int(stores.settings.relax_after_s * 1000)
    assert await stores.routing.relax("c3", at)
    commit = await stores.routing.commit(
        [Assignment(c, "alice") for c in ("c1", "c2", "c3")],
        {"c1": "vip", "c2": "general", "c3": "vip"},
        at + 1,
    )
    assert [reason for _, reason in commit] == ["ok", "ok", "ok"]
    assert (await stores.timers.due(at + 10**6))["relax"] == []
    for chat_id, topic in (("c1", "vip"), ("c2", "general"), ("c3", "vip")):
        out = await stores.routing.requeue(
            chat_id, ChatEvent.DECLINE, at + 2, expected_agent="alice",
            offered=OfferHint(topic, 5, T0) if hinted else None,
        )
        assert out.ok
    # c1's time has passed: due at once (the decline's time); c2 has nothing to relax; c3
    # relaxed already
    assert (await stores.timers.due(at + 1))["relax"] == []
    assert (await stores.timers.due(at + 2))["relax"] == ["c1"]
    assert (await stores.timers.due(at + 10**6))["relax"] == ["c1"]


async def test_idle_timer_and_its_rescheduling(stores: Stores) -> None:
    await stores.agent("alice")
    await _active(stores)
    idle_at = T0 + 20 + int(stores.settings.chat_idle_timeout_s * 1000)
    assert (await stores.timers.due(idle_at - 1))["idle"] == []
    assert (await stores.timers.due(idle_at))["idle"] == ["c1"]
    await stores.timers.reschedule_idle("c1", idle_at + 1000)
    assert (await stores.timers.due(idle_at))["idle"] == []
    await stores.chats.end_chat("c1", ChatEvent.CLOSE, idle_at, by="system")
    await stores.timers.reschedule_idle("c1", idle_at)  # an ended chat is not rescheduled
    assert (await stores.timers.due(idle_at + 10**6))["idle"] == []


async def test_rating_of_an_ended_chat(stores: Stores) -> None:
    await _queued(stores, "c1", "v1")
    assert await stores.chats.rate("c1", "v1", 5, "", T0 + 1) == "not_ended"
    await stores.chats.end_chat("c1", ChatEvent.ABANDON, T0 + 2, by="visitor:v1")
    assert await stores.chats.rate("c1", "v2", 5, "", T0 + 3) == "forbidden"
    assert await stores.chats.rate("nope", "v1", 5, "", T0 + 3) == "not_found"
    window = int(stores.settings.rating_window_s * 1000)
    assert await stores.chats.rate("c1", "v1", 5, "", T0 + 3 + window) == "too_late"
    assert await stores.chats.rate("c1", "v1", 4, "thanks", T0 + 4, nps=9) == "ok"
    ratings = [e for e in await stores.outbox.outbox_entries() if e.get("kind") == "rating"]
    assert [(r["chat"], r["rating"], r["comment"], r["nps"]) for r in ratings] == [
        ("c1", "4", "thanks", "9")
    ]


async def test_offline_message_is_a_chat_that_starts_ended(stores: Stores) -> None:
    assert await stores.chats.create_offline("c1", "v1", "general", {"email": "e"}, T0)
    assert not await stores.chats.create_offline("c1", "v1", "general", {}, T0 + 1)
    chat = await stores.chats.get_chat("c1")
    assert chat is not None and chat.state == ChatState.OFFLINE
    assert await stores.chats.visitor_open_chat("v1") is None
    assert [h.split("|")[0] for h in await stores.chats.history("c1")] == ["created", "end"]
    await stores.outbox.hand_to_outbox("c1", "offline", T0 + 2)
    assert await _outbox_count(stores, "c1") == 1


async def test_tags_only_on_live_chats_by_their_holder(stores: Stores) -> None:
    await stores.agent("alice")
    await _active(stores)
    assert await stores.chats.set_tags("c1", ["a"], required_agent="bob") == "not_yours"
    assert await stores.chats.set_tags("c1", ["a"], required_agent="alice") == "ok"
    assert await stores.chats.set_tags("c1", ["b"], required_agent="") == "ok"
    await stores.chats.end_chat("c1", ChatEvent.CLOSE, T0 + 90, by="agent:alice")
    assert await stores.chats.set_tags("c1", ["c"], required_agent="") == "invalid_state"


async def test_queue_summary_counts_the_waiting(stores: Stores) -> None:
    await stores.agent("alice")
    await _queued(stores, "c1", "v1")
    await _queued(stores, "c2", "v2")
    [summary] = await stores.routing.queue_summary(["general"], T0 + 30_000)
    assert (summary["topic"], summary["waiting"], summary["longest_wait_s"]) == (
        "general", 2, 30
    )


def _pair(made: Created) -> tuple[bool, str]:
    return made.created, made.chat_id
