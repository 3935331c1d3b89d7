"""The contracts of the directory (agents, topics), run-time configuration, outage
notices and rate limits."""

from __future__ import annotations

import pytest

from chatserver.core.lifecycle import ChatEvent
from chatserver.core.notices import Notice
from chatserver.store.config import Canned, DayHours, WidgetSettings
from chatserver.store.directory import DirectoryError, Role
from tests.store.conftest import T0, Stores


async def test_agents_are_created_once_and_changed(stores: Stores) -> None:
    agent = await stores.directory.create_agent(
        "alice", name="Alice", password_hash="h", role=Role.AGENT, capacity=3,
        skills={"billing": 5}, now_ms=T0,
    )
    assert (agent.name, agent.capacity, dict(agent.skills), agent.status) == (
        "Alice", 3, {"billing": 5}, "offline"
    )
    with pytest.raises(DirectoryError):
        await stores.directory.create_agent(
            "alice", name="Other", password_hash="", role=Role.AGENT, capacity=1, skills={},
            now_ms=T0,
        )
    with pytest.raises(DirectoryError):
        await stores.directory.create_agent(
            "bad id", name="", password_hash="", role=Role.AGENT, capacity=1, skills={},
            now_ms=T0,
        )
    with pytest.raises(DirectoryError):
        await stores.directory.update_agent("alice", capacity=101)
    changed = await stores.directory.update_agent("alice", capacity=1, skills={}, disabled=True)
    assert (changed.capacity, dict(changed.skills), changed.disabled) == (1, {}, True)
    assert changed.version > agent.version  # disabling ends the agent's sessions
    assert (await stores.directory.get_agent("alice")) == changed
    assert await stores.directory.get_agent("nobody") is None
    with pytest.raises(DirectoryError):
        await stores.directory.update_agent("nobody", capacity=1)


async def test_topics(stores: Stores) -> None:
    topic = await stores.directory.set_topic(
        " Sales ", required={"fr": 2}, optional={}, priority=7
    )
    assert topic.name == "sales"
    assert (await stores.directory.topics())["sales"] == topic
    with pytest.raises(DirectoryError):
        await stores.directory.set_topic("x", required={}, optional={}, priority=99)
    assert await stores.directory.delete_topic("sales") == (True, 0)
    assert await stores.directory.delete_topic("sales") == (False, 0)
    assert await stores.directory.topics() == {}


async def test_a_topic_with_waiting_chats_is_not_deleted_and_a_deleted_one_takes_none(
    stores: Stores,
) -> None:
    """Checked in the same step: no chat is ever left in the queue of a deleted topic."""
    topic = await stores.directory.set_topic("sales", required={}, optional={}, priority=0)
    assert (await stores.chats.create_chat("c1", "v1", topic, {}, T0)).created
    assert await stores.directory.delete_topic("sales") == (False, 1)
    assert "sales" in await stores.directory.topics()
    await stores.chats.end_chat("c1", ChatEvent.ABANDON, T0 + 1, by="system")
    assert await stores.directory.delete_topic("sales") == (True, 0)
    # a start that read the topic before it was deleted creates nothing
    late = await stores.chats.create_chat("c2", "v2", topic, {}, T0 + 2)
    assert (late.created, late.chat_id) == (False, "")


async def test_widget_settings_and_canned_answers(stores: Stores) -> None:
    assert await stores.config.widget() == WidgetSettings()
    settings = WidgetSettings(business_hours={"mon": DayHours("09:00", "17:00")}, color="#abc")
    await stores.config.set_widget(settings)
    assert await stores.config.widget() == settings
    with pytest.raises(ValueError):
        await stores.config.set_widget(WidgetSettings(color="red"))
    assert await stores.config.widget() == settings  # a refused change changes nothing
    await stores.config.put_canned("k1", Canned(shortcut="hi", text="Hello"))
    assert await stores.config.canned() == [
        {"id": "k1", "shortcut": "hi", "text": "Hello", "language": ""}
    ]
    assert await stores.config.delete_canned("k1") is True
    assert await stores.config.delete_canned("k1") is False


async def test_notices_in_force(stores: Stores) -> None:
    n1 = Notice("n1", {"en": "down"}, created_at=T0)
    n2 = Notice("n2", {"en": "slow"}, created_at=T0 + 1, expires_at=T0 + 100)
    assert await stores.notices.post(n1, T0, max_active=2) is True
    assert await stores.notices.post(n2, T0 + 1, max_active=2) is True
    assert await stores.notices.post(Notice("n3", {"en": "x"}), T0 + 2, max_active=2) is False
    assert [n.id for n in await stores.notices.all(T0 + 2)] == ["n1", "n2"]
    assert [n.id for n in await stores.notices.all(T0 + 100)] == ["n1"]  # n2 expired
    assert await stores.notices.end("n1") == n1
    assert await stores.notices.end("n1") is None
    # the expired one is dropped by the next post, which then fits
    assert await stores.notices.post(Notice("n3", {"en": "x"}), T0 + 200, max_active=1)


async def test_rate_limits_per_minute_window(stores: Stores) -> None:
    minute = (T0 // 60_000 + 1) * 60_000
    assert [await stores.limits.hit("login", "1.2.3.4", 2, minute + i) for i in range(3)] == [
        True, True, False
    ]
    assert await stores.limits.hit("login", "5.6.7.8", 2, minute) is True  # per subject
    assert await stores.limits.hit("login", "1.2.3.4", 2, minute + 60_000) is True
