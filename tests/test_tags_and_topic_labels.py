"""Issue 15, part 5: tags come from a list an admin manages (free tags only with
FREE_TAGS), and topic names are translated per language for the widget.  Real server
processes, real Valkey, real WebSockets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chatserver.client import ChatClient, ClientError, http
from tests.harness import Cluster, scaled


@pytest.fixture
async def managed(redis_url: str) -> AsyncIterator[Cluster]:
    """One process with the product's default: only the admin's tags."""
    cluster = Cluster(redis_url, n=1, free_tags="false")
    await cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


async def active_chat(cluster: Cluster, agent: ChatClient) -> tuple[ChatClient, str]:
    visitor = await cluster.visitor()
    chat = str((await visitor.start(name="Олена"))["id"])
    await agent.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == chat, scaled(10))
    await agent.request({"type": "accept", "chat": chat})
    return visitor, chat


@pytest.mark.timeout(60)
async def test_only_the_admins_tags_are_accepted(managed: Cluster) -> None:
    cluster = managed
    url = cluster.urls[0]
    token = await cluster.add_agent("ana", capacity=2)
    agent = await cluster.agent(token)
    visitor, chat = await active_chat(cluster, agent)
    try:
        # nothing is on the list yet: every tag is refused, with the tags named
        with pytest.raises(ClientError) as refused:
            await agent.request({"type": "tags", "chat": chat, "tags": ["vip"]})
        assert refused.value.code == "unknown_tag"
        assert refused.value.frame["tags"] == ["vip"]

        status, body = await http("PUT", f"{url}/api/tags", {"tags": ["vip"]}, token)
        assert status == 403  # agents read the list; only admins change it
        status, body = await http(
            "PUT", f"{url}/api/tags",
            {"tags": [" vip ", "Відгук", "vip", "استرداد", "bug"]}, cluster.admin_token,
        )
        assert status == 200, body
        status, body = await http("GET", f"{url}/api/tags", token=token)
        assert status == 200
        assert body == {"tags": ["bug", "vip", "Відгук", "استرداد"], "free": False}

        reply = await agent.request({"type": "tags", "chat": chat, "tags": ["vip", "Відгук"]})
        assert reply["tags"] == ["vip", "Відгук"]
        with pytest.raises(ClientError) as refused:
            await agent.request({"type": "tags", "chat": chat, "tags": ["vip", "VIP", "spam"]})
        assert refused.value.code == "unknown_tag"
        assert refused.value.frame["tags"] == ["VIP", "spam"]  # exact names only
        # closing with a tag off the list is refused too, and the chat stays open
        with pytest.raises(ClientError) as refused:
            await agent.request({"type": "close", "chat": chat, "tags": ["made-up"]})
        assert refused.value.code == "unknown_tag"
        await agent.request({"type": "close", "chat": chat, "tags": ["vip", "bug"]})
    finally:
        await visitor.close()
        await agent.close()


@pytest.mark.timeout(60)
async def test_the_tag_list_refuses_bad_input(managed: Cluster) -> None:
    url = managed.urls[0]
    admin = managed.admin_token
    for body in ({"tags": "vip"}, {"tags": [""]}, {"tags": ["x" * 65]},
                 {"tags": [f"t{i}" for i in range(501)]}, {"tags": ["ok"], "more": 1}, [],
                 {"tags": [1]}):
        status, reply = await http("PUT", f"{url}/api/tags", body, admin)
        assert status == 400 and reply["error"] == "bad_request", (body, reply)
    status, reply = await http("GET", f"{url}/api/tags", token=admin)
    assert reply == {"tags": [], "free": False}  # nothing bad was kept


@pytest.mark.timeout(60)
async def test_free_tags_setting_accepts_any_tag(redis_url: str) -> None:
    cluster = Cluster(redis_url, n=1, free_tags="true")
    await cluster.start()
    try:
        agent = await cluster.agent(await cluster.add_agent("ana", capacity=1))
        visitor, chat = await active_chat(cluster, agent)
        reply = await agent.request({"type": "tags", "chat": chat, "tags": ["anything"]})
        assert reply["tags"] == ["anything"]
        _, body = await http("GET", f"{cluster.urls[0]}/api/tags", token=cluster.admin_token)
        assert body == {"tags": [], "free": True}
        for c in (visitor, agent):
            await c.close()
    finally:
        cluster.stop()


@pytest.mark.timeout(60)
async def test_topic_names_are_translated_for_the_widget(managed: Cluster) -> None:
    url = managed.urls[0]
    admin = managed.admin_token
    labels = {"ar": "الفواتير", "uk": "Рахунки", "en": "Billing"}
    status, body = await http("PUT", f"{url}/api/topics/billing",
                              {"priority": 4, "labels": {**labels, "pt-BR": "  "}}, admin)
    assert status == 200 and body["labels"] == labels, body  # blank labels are dropped
    await managed.set_topic("sales")
    status, body = await http("GET", f"{url}/api/topics", token=admin)
    by_name = {t["name"]: t for t in body}
    assert by_name["billing"]["labels"] == labels and by_name["sales"]["labels"] == {}
    status, config = await http("GET", f"{url}/api/widget/config")
    assert status == 200
    assert config["topic_labels"] == {"billing": labels}
    assert "billing" in config["topics"] and "sales" in config["topics"]
    many = {a + b: "x" for a in "abc" for b in "abcdefghijklmnopqrstuvwxyz"}  # 78 languages
    for bad in ({"labels": {"Arabic!": "x"}}, {"labels": {"ar": "x" * 65}}, {"labels": many},
                {"labels": ["ar"]}):
        status, reply = await http("PUT", f"{url}/api/topics/billing", bad, admin)
        assert status == 400, (bad, reply)
    status, body = await http("GET", f"{url}/api/topics", token=admin)
    assert {t["name"]: t for t in body}["billing"]["labels"] == labels  # unchanged
