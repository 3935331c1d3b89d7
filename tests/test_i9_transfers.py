"""Issue 9, item 9: transfers keep everything.

Real hub processes, real clients, real records (SQLite; PostgreSQL too when reachable):
tags set before a transfer reach the record, the record traces each transfer (when, from,
to, by whom, the note), the visitor is told who they are chatting with now, and a
supervisor's close is attributed to the supervisor, not to the agent who held the chat.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from chatserver.client import ChatClient, ClientError, http
from chatserver.records.builder import build_record
from tests.harness import Cluster, active_chat, scaled, written_record


class _People:
    """Alice and Bob (agents, one chat each at most) and Sue (a supervisor, no chats)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.clients: list[ChatClient] = []

    async def __aenter__(self) -> _People:
        c = self.cluster
        self.alice = await c.agent(await c.add_agent("alice", name="Alice"), server=0)
        self.clients.append(self.alice)
        self.bob = await c.agent(
            await c.add_agent("bob", name="Bob", capacity=0), server=1
        )
        self.clients.append(self.bob)
        self.sue = await c.agent(
            await c.add_agent("sue", name="Sue", capacity=0, role="supervisor"), server=1
        )
        self.clients.append(self.sue)
        self.visitor = await c.visitor(server=1)
        self.clients.append(self.visitor)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.clients:
            await client.close()

    async def bob_takes_chats(self) -> None:
        """Bob had no capacity (so the first chat went to Alice); now he has some."""
        status, body = await http(
            "PATCH", f"{self.cluster.urls[0]}/api/agents/bob", {"capacity": 3},
            self.cluster.admin_token,
        )
        assert status == 200, body


@pytest.mark.timeout(120)
async def test_i9_09_tags_set_before_a_transfer_are_in_the_record(
    records_cluster: Cluster,
) -> None:
    async with _People(records_cluster) as p:
        chat_id = await active_chat(p.alice, p.visitor, name="Vera")
        reply = await p.alice.request(
            {"type": "tags", "chat": chat_id, "tags": ["billing", "vip", "billing"]}
        )
        assert reply["tags"] == ["billing", "vip"]
        await p.bob_takes_chats()
        await p.alice.request({"type": "transfer", "chat": chat_id, "agent": "bob"})
        assigned = await p.bob.wait_for(
            lambda f: f["type"] == "assigned" and f["chat"]["id"] == chat_id, scaled(10)
        )
        # the new agent sees the tags the chat already has
        assert assigned["chat"]["tags"] == ["billing", "vip"]
        await p.bob.request(
            {"type": "close", "chat": chat_id, "outcome": "resolved", "tags": ["refund"]}
        )
        record = await written_record(records_cluster, chat_id, 20)
        assert record["tags"] == ["billing", "vip", "refund"]


@pytest.mark.timeout(120)
async def test_i9_09_record_traces_each_transfer_who_when_to_whom_and_note(
    records_cluster: Cluster,
) -> None:
    async with _People(records_cluster) as p:
        chat_id = await active_chat(p.alice, p.visitor, name="Vera")
        await p.bob_takes_chats()
        await p.alice.request(
            {"type": "transfer", "chat": chat_id, "agent": "bob", "note": "wants a refund"}
        )
        await p.bob.wait_for(
            lambda f: f["type"] == "assigned" and f["chat"]["id"] == chat_id, scaled(10)
        )
        # the supervisor sends it back to the queue (Alice is offered it again)
        await p.sue.request(
            {"type": "transfer", "chat": chat_id, "topic": "general", "note": "back to queue"}
        )
        await p.alice.wait_for(
            lambda f: f["type"] == "offer" and f["chat"]["id"] == chat_id, scaled(10)
        )
        await p.sue.request({"type": "close", "chat": chat_id, "outcome": "resolved"})
        record = await written_record(records_cluster, chat_id, 20)
        trace = record["transfers"]
        assert [(t["from"], t["to"], t["topic"], t["by"], t["note"]) for t in trace] == [
            ("alice", "bob", None, "agent:alice", "wants a refund"),
            ("bob", None, "general", "supervisor:sue", "back to queue"),
        ]
        assert record["created_at"] <= trace[0]["at"] <= trace[1]["at"] <= record["ended_at"]


@pytest.mark.timeout(120)
async def test_i9_09_visitor_is_told_the_new_agents_name(cluster: Cluster) -> None:
    async with _People(cluster) as p:
        chat_id = await active_chat(p.alice, p.visitor, name="Vera")
        await p.bob_takes_chats()
        await p.alice.request(
            {"type": "transfer", "chat": chat_id, "agent": "bob", "note": "internal only"}
        )
        # msg frames are kept per chat in ``messages``
        deadline = time.monotonic() + scaled(10)
        while True:
            system = [
                m for m in p.visitor.messages.get(chat_id, []) if m.get("kind") == "system"
            ]
            if system:
                break
            assert time.monotonic() < deadline, p.visitor.messages.get(chat_id)
            await asyncio.sleep(0.05)
        assert system[0]["text"] == "transferred"
        assert system[0]["from"]["role"] == "agent"
        assert system[0]["from"]["id"] == "bob"
        assert system[0]["from"]["name"] == "Bob"
        # the note stays with the agents
        texts = [m["text"] for m in p.visitor.messages.get(chat_id, [])]
        assert "internal only" not in texts


@pytest.mark.timeout(120)
async def test_i9_09_supervisor_close_is_attributed_to_the_supervisor(
    records_cluster: Cluster,
) -> None:
    async with _People(records_cluster) as p:
        chat_id = await active_chat(p.alice, p.visitor, name="Vera")
        await p.sue.request({"type": "close", "chat": chat_id, "outcome": "resolved"})
        ended = await p.visitor.wait_for(
            lambda f: f["type"] == "chat" and f["chat"]["state"] == "closed", scaled(10)
        )
        assert ended["chat"]["ended_by"] == "supervisor:sue"
        assert ended["chat"]["ended_by_name"] == "Sue"
        assert ended["chat"]["agent"]["name"] == "Alice"  # who held it, for the record
        told = await p.alice.wait_for(
            lambda f: f["type"] == "ended" and f["chat"] == chat_id, scaled(10)
        )
        assert told["by"] == "supervisor:sue"
        record = await written_record(records_cluster, chat_id, 20)
        assert record["ended_by"] == "supervisor:sue"
        assert record["agent_id"] == "alice"


def test_i9_09_builder_turns_handoff_entries_into_the_trace_not_events() -> None:
    chat = {"id": "c1", "state": "closed", "visitor": "v1", "topic": "general",
            "created": "1000", "ended_at": "9000", "ended_by": "supervisor:sue",
            "tags": '["billing", "vip"]'}
    history = [
        "created|1000||general",
        "assign|2000|alice|active",
        "transfer|3000|alice|bob",
        'handoff|3000|agent:alice|{"from": "alice", "to": "bob", "topic": "", '
        '"note": "a | b"}',
        "transfer_queue|4000|bob|sales",
        'handoff|4000|supervisor:sue|{"from": "bob", "to": "", "topic": "sales", '
        '"note": ""}',
        "end|9000||closed",
    ]
    record = build_record(chat, history, [])
    assert [e.kind for e in record.events] == [
        "created", "assign", "transfer", "transfer_queue", "end",
    ]
    assert record.as_dict()["transfers"] == [
        {"at": 3000, "from": "alice", "to": "bob", "topic": None, "by": "agent:alice",
         "note": "a | b"},
        {"at": 4000, "from": "bob", "to": None, "topic": "sales", "by": "supervisor:sue",
         "note": ""},
    ]
    assert list(record.tags) == ["billing", "vip"]
    assert [(a.agent_id, a.left_reason) for a in record.agents] == [
        ("alice", "transfer"), ("bob", "transfer_queue"),
    ]


@pytest.mark.timeout(120)
async def test_i9_09_tags_only_by_the_chats_agent_or_a_supervisor(cluster: Cluster) -> None:
    async with _People(cluster) as p:
        chat_id = await active_chat(p.alice, p.visitor, name="Vera")
        frame = {"type": "tags", "chat": chat_id, "tags": ["hijack"]}
        for client, code in ((p.bob, "forbidden"), (p.visitor, "bad_frame")):
            with pytest.raises(ClientError) as refused:
                await client.request(frame)
            assert refused.value.frame["code"] == code
        # a supervisor may; the agent then sees them
        await p.sue.request({"type": "tags", "chat": chat_id, "tags": ["escalated"]})
        state = await p.alice.request({"type": "resume", "chat": chat_id, "after": 0})
        assert state["chat"]["tags"] == ["escalated"]
        # the visitor's view of the chat never carries them
        state = await p.visitor.request({"type": "resume", "chat": chat_id, "after": 0})
        assert "tags" not in state["chat"]
        await p.alice.request({"type": "close", "chat": chat_id})
        with pytest.raises(ClientError) as refused:
            await p.alice.request(frame | {"tags": ["late"]})
        assert refused.value.frame["code"] == "invalid_state"
