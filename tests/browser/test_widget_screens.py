"""Screenshots of every state of the widget in English, Arabic and Ukrainian.

They go to ``WIDGET_SCREENSHOTS_DIR`` when set (for the docs:
``WIDGET_SCREENSHOTS_DIR=docs/screenshots .venv/bin/pytest tests/browser/test_widget_screens.py``),
else to a temporary folder.  The test also checks that every string on screen changes with
the language (nothing left untranslated)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.test_widget_support import (
    W,
    accept,
    accept_next,
    browser_page,
    chat_id_of,
    clients,
    running,
    start_chat,
)

pytestmark = pytest.mark.timeout(120)
LANGS = ("en", "ar", "uk")


async def shoot(page: Page, folder: Path, state: str) -> list[str]:
    """One screenshot per language; returns the widget's visible text in each."""
    w = W(page)
    texts = []
    for lang in LANGS:
        await page.evaluate(f"LiveChat('setLocale', '{lang}')")
        await expect(w.root).to_have_attribute("lang", lang)
        await page.screenshot(path=str(folder / f"widget-{state}-{lang}.png"))
        texts.append(await w.panel.inner_text() if await w.panel.is_visible()
                     else str(await w.launcher.get_attribute("aria-label")))
    await page.evaluate("LiveChat('setLocale', 'en')")
    # all three differ: every string of the state is translated
    assert len(set(texts)) == 3, texts
    return texts


async def test_screenshots_of_each_state_in_three_languages(
    browser: Browser, redis_url: str, tmp_path: Path
) -> None:
    folder = Path(os.environ.get("WIDGET_SCREENSHOTS_DIR") or tmp_path)
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    async with (
        running(redis_url) as cluster,
        browser_page(browser, viewport={"width": 1000, "height": 720}) as (_, page),
    ):
        token = await cluster.add_agent("alice", name="Alice", capacity=1)
        await page.goto(cluster.urls[0] + "/demo/")
        w = W(page)
        await w.open()
        await expect(w.body.locator("form[data-lc=offline]")).to_be_visible()
        await shoot(page, folder, "offline")

        agent = await cluster.agent(token)
        busy = await cluster.visitor()
        async with clients(agent, busy):
            busy_chat = await busy.start(name="Busy")
            await accept_next(agent)
            await page.reload()
            await expect(w.body.locator("form[data-lc=prechat]")).to_be_visible()
            await w.field("name").fill("Ada")
            await shoot(page, folder, "prechat")

            await start_chat(w)
            chat_id = await chat_id_of(w)
            await expect(w.position).to_be_visible()
            await shoot(page, folder, "queued")

            since = len(agent.frames)
            await agent.request({"type": "close", "chat": busy_chat["id"]})
            await accept(agent, chat_id)
            await agent.wait_for(lambda f: f["type"] == "ok", since=since)
            await w.say("Hello! Where is my order 1042? https://shop.example/orders/1042")
            await agent.wait_messages(chat_id, 1)
            await agent.say(chat_id, "Hi Ada, it left the warehouse this morning.")
            await agent.send({"type": "read", "chat": chat_id,
                              "seq": agent.messages[chat_id][0]["seq"]})
            await agent.send({"type": "typing", "chat": chat_id, "on": True})
            await expect(w.typing).not_to_have_text("")
            await shoot(page, folder, "chat")

            await w.minimize.click()
            await agent.say(chat_id, "Anything else I can do?")
            await expect(w.badge).to_be_visible()
            await shoot(page, folder, "unread")

            await w.open()
            await agent.request({"type": "close", "chat": chat_id})
            await expect(w.body.locator("[data-lc=rating]")).to_be_visible()
            await w.body.locator("label[for=lc-star-4]").click()
            await shoot(page, folder, "ended")
    shots = await asyncio.to_thread(lambda: list(folder.glob("widget-*.png")))
    assert len(shots) >= 6 * len(LANGS)
