"""The contract of presence (``AgentPresence``, ``VisitorPresence``): several connections
are one agent or visitor, availability follows status and connections, the grace period
and the gone marks start and end as core/presence.py says."""

from __future__ import annotations

from chatserver.core.lifecycle import ChatEvent
from tests.store.conftest import T0, Stores


async def _available(stores: Stores) -> list[str]:
    """The available agents, as a routing pass sees them (it reads agents only when some
    chat waits: a probe chat does)."""
    topic = await stores.topic()
    await stores.chats.create_chat("probe", "probe", topic, {}, T0)
    return [a.id for a in (await stores.routing.snapshot(["general"])).agents]


async def test_two_tabs_are_one_agent(stores: Stores) -> None:
    await stores.agent("alice", online=False)
    assert await stores.agents.agent_connect("alice", "t1", T0) == ("online", True)
    assert await stores.agents.agent_connect("alice", "t2", T0) == ("online", False)
    assert await stores.agents.agent_disconnect("alice", "t1", T0 + 1) == 1
    assert await _available(stores) == ["alice"]
    assert await stores.agents.agent_disconnect("alice", "t2", T0 + 2) == 0
    assert await _available(stores) == []
    # the last connection gone: the grace period runs
    grace_end = T0 + 2 + int(stores.settings.offline_grace_s * 1000)
    assert (await stores.timers.due(grace_end - 1))["graces"] == []
    assert (await stores.timers.due(grace_end))["graces"] == ["alice"]


async def test_status_decides_availability(stores: Stores) -> None:
    await stores.agent("alice")
    assert await stores.agents.set_status("alice", "away", T0 + 1) == ("away", False)
    assert await _available(stores) == []
    assert await stores.agents.set_status("alice", "away", T0 + 2) == ("away", False)
    assert await stores.agents.set_status("alice", "online", T0 + 3) == ("online", True)
    assert await _available(stores) == ["alice"]
    assert await stores.agents.set_status("nobody", "online", T0) == ("not_found", False)
    # disabled agents are never available, whatever their status
    await stores.directory.update_agent("alice", disabled=True)
    assert await stores.agents.set_status("alice", "online", T0 + 4) == ("online", False)
    assert await _available(stores) == []
    assert await stores.agents.agent_connect("alice", "t9", T0 + 5) == ("disabled", False)


async def test_sweep_grace_then_offline(stores: Stores) -> None:
    await stores.agent("alice")
    expiry = T0 + int(stores.settings.presence_ttl_s * 1000)
    assert await stores.agents.sweep_agent("alice", expiry - 1, False) == "present"
    assert await stores.agents.heartbeat({"alice": ["alice-c1"]}, expiry - 1) is False
    later = expiry - 1 + int(stores.settings.presence_ttl_s * 1000)
    assert "alice" in (await stores.timers.due(later))["presence"]
    assert await stores.agents.sweep_agent("alice", later, False) == "grace"
    assert await _available(stores) == []
    assert await stores.agents.sweep_agent("alice", later + 1, True) == "offline"
    agent = await stores.directory.get_agent("alice")
    assert agent is not None and agent.status == "offline"
    # a heartbeat after a stall brings back a connection, but an offline agent stays so
    assert await stores.agents.heartbeat({"alice": ["alice-c1"]}, later + 2) is False


async def test_a_stalled_agent_comes_back_with_a_heartbeat(stores: Stores) -> None:
    await stores.agent("alice")
    late = T0 + 10 * int(stores.settings.presence_ttl_s * 1000)
    assert await stores.agents.sweep_agent("alice", late, False) == "grace"
    assert await stores.agents.heartbeat({"alice": ["alice-c1"]}, late + 1) is True
    assert await _available(stores) == ["alice"]
    assert (await stores.timers.due(late + 10**9))["graces"] == []


async def test_visitor_sockets_and_gone_marks(stores: Stores) -> None:
    topic = await stores.topic()
    assert await stores.visitors.connect("v1", "a", T0) == 1
    assert await stores.visitors.connect("v1", "b", T0) == 2
    assert await stores.visitors.disconnect("v1", "a", T0 + 1) == 1
    assert await stores.visitors.disconnect("v1", "b", T0 + 2) == 0
    assert await stores.visitors.due_gone(T0 + 10**9) == []  # no open chat: nothing ends
    assert (await stores.chats.create_chat("c1", "v1", topic, {}, T0 + 3)).created
    assert await stores.visitors.connect("v1", "c", T0 + 4) == 1
    assert await stores.visitors.disconnect("v1", "c", T0 + 5) == 0
    gone_at = T0 + 5 + int(stores.settings.visitor_leave_grace_s * 1000)
    assert await stores.visitors.due_gone(gone_at - 1) == []
    assert await stores.visitors.due_gone(gone_at) == [("v1", gone_at)]
    # a reconnection drops the mark
    assert await stores.visitors.connect("v1", "d", T0 + 6) == 1
    assert await stores.visitors.due_gone(gone_at) == []
    assert await stores.visitors.disconnect("v1", "d", T0 + 7) == 0
    mark = gone_at + 2
    assert await stores.visitors.clear_gone("v1", mark - 1) is False  # not the mark read
    assert await stores.visitors.clear_gone("v1", mark) is True
    assert await stores.visitors.clear_gone("v1", mark) is False
    await stores.chats.end_chat("c1", ChatEvent.ABANDON, T0 + 8, by="system")


async def test_visitor_sweep_after_a_process_died(stores: Stores) -> None:
    topic = await stores.topic()
    assert (await stores.chats.create_chat("c1", "v1", topic, {}, T0)).created
    assert await stores.visitors.connect("v1", "a", T0) == 1
    ttl = int(stores.settings.presence_ttl_s * 1000)
    await stores.visitors.heartbeat({"v1": ["a"], "v2": []}, T0 + ttl // 2)
    expiry = T0 + ttl // 2 + ttl
    assert await stores.visitors.due_sweeps(expiry - 1) == []
    assert await stores.visitors.due_sweeps(expiry) == ["v1"]
    assert await stores.visitors.sweep("v1", expiry - 1) == "present"
    assert await stores.visitors.sweep("v1", expiry) == "left"
    grace = int(stores.settings.visitor_leave_grace_s * 1000)
    assert await stores.visitors.due_gone(expiry + grace) == [("v1", expiry + grace)]


async def test_timers_tick_notes_an_outage(stores: Stores) -> None:
    ttl = int(stores.settings.presence_ttl_s * 1000)
    assert await stores.visitors.timers_tick(T0) == T0
    assert await stores.visitors.timers_tick(T0 + ttl) == T0
    assert await stores.visitors.timers_tick(T0 + 3 * ttl) == T0 + 3 * ttl
