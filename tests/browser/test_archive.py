"""The console's Archive tab in a real browser against a real server and its records
database: three finished chats (answered and rated, escalated, abandoned) found by text,
visitor, agent, topic, end state and rating; a record opened with its notes and routing
events; a selection exported; an agent sees only their own chats; English, Arabic and
Ukrainian.  Writes ``docs/screenshots/archive.png`` (and ``archive-ar.png``)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from chatserver.client import ChatClient
from tests.browser.test_console import (
    WAIT_MS,
    Closer,
    Console,
    open_console,
    set_language,
    shot,
    start_cluster,
    wait_record,
)
from tests.harness import Cluster, scaled


async def answered(cluster: Cluster, closer: Closer, agent: ChatClient, name: str, topic: str,
                   said: str, note: str, outcome: str, rating: int) -> str:
    visitor = closer.client(await cluster.visitor())
    chat = str((await visitor.start(name=name, topic=topic))["id"])
    await agent.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == chat, scaled(10))
    await agent.request({"type": "accept", "chat": chat})
    await visitor.say(chat, said)
    await agent.say(chat, note, internal=True)
    await agent.request({"type": "close", "chat": chat, "outcome": outcome, "tags": ["vip"]})
    await visitor.request({"type": "rate", "chat": chat, "rating": rating})
    return chat


async def rows(console: Console, count: int) -> list[str]:
    await expect(console.tid("archive-row")).to_have_count(count, timeout=WAIT_MS)
    return [str(await r.get_attribute("data-chat")) for r in await console.tid("archive-row").all()]


async def search(console: Console, **fields: str) -> None:
    await console.tid("archive-reset").click()
    for key, value in fields.items():
        box = console.tid(f"archive-{key}")
        if await box.evaluate("e => e.tagName") == "SELECT":
            await box.select_option(value)
        else:
            await box.fill(value)
    await console.tid("archive-search").click()


@pytest.mark.timeout(150)
async def test_archive_search_open_and_export(browser: Browser, redis_url: str,
                                              tmp_path: Path) -> None:
    closer = Closer()
    cluster = await start_cluster(redis_url)
    try:
        for topic in ("billing", "sales"):
            await cluster.set_topic(topic)
        alice = closer.client(await cluster.agent(await cluster.add_agent("alice", name="Alice")))
        olena = await answered(cluster, closer, alice, "Олена", "billing",
                               "My invoice is wrong", "checked the ledger", "resolved", 5)
        await alice.request({"type": "status", "status": "away"})
        bob = closer.client(await cluster.agent(await cluster.add_agent("bob", name="Bob")))
        sami = await answered(cluster, closer, bob, "سامي", "sales",
                              "هل تشحنون إلى النرويج؟", "ask logistics", "escalated", 2)
        await bob.request({"type": "status", "status": "away"})
        gone_visitor = closer.client(await cluster.visitor())
        gone = str((await gone_visitor.start(name="Max", topic="sales"))["id"])
        await gone_visitor.request({"type": "leave", "chat": gone})
        for chat in (olena, sami, gone):
            await wait_record(cluster, chat)
        await cluster.add_agent("sue", name="Sue", role="supervisor", capacity=0)

        sue = closer.console(await open_console(browser, cluster.urls[0], "sue"))
        await sue.tid("tab-archive").click()
        assert sorted(await rows(sue, 3)) == sorted([olena, sami, gone])
        for fields, found in (
            ({"q": "INVOICE"}, [olena]),
            ({"q": "النرويج"}, [sami]),
            ({"name": "Олена"}, [olena]),
            ({"agent": "bob"}, [sami]),
            ({"topic": "sales"}, [gone, sami]),
            ({"state": "abandoned"}, [gone]),
            ({"outcome": "escalated"}, [sami]),
            ({"rating": "1-2"}, [sami]),
            ({"rating": "none"}, [gone]),
            ({"tag": "vip", "rating": "4-5"}, [olena]),
        ):
            await search(sue, **fields)
            assert sorted(await rows(sue, len(found))) == sorted(found), fields
        await search(sue, q="nothing-like-this")
        await expect(sue.tid("archive-empty")).to_be_visible(timeout=WAIT_MS)

        # open a record: the transcript with the agent's note, and the routing events
        await search(sue)
        await rows(sue, 3)
        row = sue.page.locator(f"[data-testid=archive-row][data-chat='{olena}']")
        await row.locator("[data-testid=archive-open]").click()
        record = sue.tid("archive-record")
        await expect(record).to_have_attribute("data-chat", olena)
        await expect(record.locator("[data-testid=record-message]")).to_have_count(2)
        await expect(record.locator(".rmsg.internal")).to_contain_text("checked the ledger")
        await expect(record.locator("[data-testid=archive-record-rating]")).to_have_text("★★★★★")
        await expect(record.locator("[data-testid=archive-record-agents]")).to_have_text("Alice")
        kinds = [await e.get_attribute("data-kind")
                 for e in await record.locator("[data-testid=archive-events] li").all()]
        assert kinds[0] == "created" and kinds[-1] == "end" and "accept" in kinds, kinds

        # export a selection of two: the CSV holds exactly those
        for chat in (olena, gone):
            await sue.page.locator(f"[data-testid=archive-row][data-chat='{chat}'] "
                                   "[data-testid=archive-pick]").check()
        async with sue.page.expect_download() as info:
            await sue.tid("archive-export-selected").click()
        saved = tmp_path / "selected.csv"
        await (await info.value).save_as(saved)
        exported = list(csv.DictReader(io.StringIO(saved.read_text("utf-8"))))
        assert sorted(r["chat_id"] for r in exported) == sorted([olena, gone])
        await shot(sue.page, "archive")

        for lang, tab, heading in (("ar", "الأرشيف", "أرشيف المحادثات"),
                                   ("uk", "Архів", "Архів чатів"),
                                   ("en", "Archive", "Chat archive")):
            await set_language(sue, lang)
            await expect(sue.tid("tab-archive")).to_have_text(tab)
            await expect(sue.page.locator("#archive-title")).to_have_text(heading)
            if lang == "ar":
                await expect(sue.page.locator("html")).to_have_attribute("dir", "rtl")
                await shot(sue.page, "archive-ar")

        # an agent sees only the chats they took part in
        console = closer.console(await open_console(browser, cluster.urls[0], "alice"))
        await console.tid("tab-archive").click()
        assert await rows(console, 1) == [olena]
        await search(console, q="النرويج")
        await expect(console.tid("archive-empty")).to_be_visible(timeout=WAIT_MS)
        assert closer.page_errors() == []
    finally:
        await closer.close()
        cluster.stop()
