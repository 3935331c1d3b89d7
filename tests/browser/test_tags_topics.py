"""Issue 15, part 5 in a real browser: an admin keeps the list of tags and translates a
topic's name in the console; an agent's tag editor offers the list and refuses a tag off
it (FREE_TAGS off, the default); the widget's pre-chat form shows the topic in the
visitor's language (English, Arabic, Ukrainian)."""

# ruff: noqa: RUF001  (Arabic and Ukrainian text is what these tests are about)
from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from chatserver.client import http
from tests.browser.test_console import (
    WAIT_MS,
    Closer,
    accept,
    offered_to,
    open_console,
    set_language,
    until,
)
from tests.browser.test_widget_support import W, browser_page
from tests.harness import ADMIN_PASSWORD, Cluster


@pytest.mark.timeout(150)
async def test_admin_tag_list_and_topic_names_reach_agents_and_visitors(
    browser: Browser, redis_url: str
) -> None:
    closer = Closer()
    cluster = Cluster(redis_url, n=1, free_tags="false", live_metrics_interval_s="0.5")
    await cluster.start()
    try:
        await cluster.set_topic("billing")
        await cluster.set_topic("sales")
        await cluster.add_agent("alice", name="Alice")
        url = cluster.urls[0]

        admin = closer.console(await open_console(browser, url, "admin", ADMIN_PASSWORD))
        await admin.tid("tab-admin").click()
        await admin.tid("admin-tags").click()
        await expect(admin.tid("tag-list-mode")).to_contain_text("only these tags")
        await admin.tid("tag-list-text").fill("vip\n  Відгук \nvip\nاسترداد\n")
        await admin.tid("save-tags").click()
        await expect(admin.tid("tag-list-text")).to_have_value("vip\nВідгук\nاسترداد",
                                                               timeout=WAIT_MS)
        status, body = await http("GET", f"{url}/api/tags", token=cluster.admin_token)
        assert status == 200
        assert body == {"tags": ["vip", "Відгук", "استرداد"], "free": False}

        await admin.page.locator("[data-testid=admin-topics][role=tab]").click()
        row = admin.page.locator("tr[data-topic=billing]")
        await row.locator("[data-testid=topic-label-ar]").fill("الفواتير")
        await row.locator("[data-testid=topic-label-uk]").fill("Рахунки")
        await row.locator("button", has_text="Save").click()

        async def labels() -> dict[str, str]:
            _, topics = await http("GET", f"{url}/api/topics", token=cluster.admin_token)
            return dict({t["name"]: t for t in topics}["billing"]["labels"])

        await until(labels, "the topic's labels saved")
        assert await labels() == {"ar": "الفواتير", "uk": "Рахунки"}

        # the widget's topic list in each language
        for lang, billing, sales in (("ar", "الفواتير", "Sales"), ("uk", "Рахунки", "Sales"),
                                     ("en", "Billing", "Sales")):
            async with browser_page(browser) as (_, page):
                await page.goto(url + "/demo/")
                await page.locator(f"nav button[data-lang={lang}]").click()
                w = W(page)
                await w.open()
                select = w.field("topic")
                await expect(select.locator("option[value=billing]")).to_have_text(billing)
                await expect(select.locator("option[value=sales]")).to_have_text(sales)

        # an agent tags a chat: the list is offered, a tag off it is refused in the page
        alice = closer.console(await open_console(browser, url, "alice"))
        visitor = closer.client(await cluster.visitor())
        chat = str((await visitor.start(name="Олена", topic="billing"))["id"])
        console = await offered_to([alice], chat)
        await accept(console, chat)
        options = alice.page.locator(f"datalist#tag-list-{chat} option")
        await expect(options).to_have_count(3, timeout=WAIT_MS)
        tag_input = alice.tid("tag-input")
        await tag_input.fill("made-up")
        await tag_input.press("Enter")
        await expect(alice.tid("tag-error")).to_contain_text("made-up")
        await tag_input.fill("VIP")  # the list's spelling is used
        await tag_input.press("Enter")
        await expect(alice.tid("tags").locator(".chip bdi")).to_have_text(["vip"])
        await expect(options).to_have_count(2)
        for lang, text in (("ar", "ليس في قائمة الوسوم"), ("uk", "немає у списку тегів")):
            await set_language(alice, lang)
            await tag_input.fill("nope")
            await tag_input.press("Enter")
            await expect(alice.tid("tag-error")).to_contain_text(text)
        # the server kept "vip" (a refused change is undone in the page, with a toast)
        await expect(alice.tid("tags").locator(".chip bdi")).to_have_text(["vip"])
        await expect(alice.tid("toast")).to_have_count(0)
        assert closer.page_errors() == []
    finally:
        await closer.close()
        cluster.stop()
