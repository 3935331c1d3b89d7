"""The optional NPS question in the widget, in a real browser: hidden by default, shown
beside the 1-5 rating when the widget setting asks for it (English, Arabic and
Ukrainian), optional, and the answer lands in the interaction record."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from chatserver.client import http
from tests.browser.test_widget_support import (
    W,
    accept,
    browser_page,
    chat_id_of,
    clients,
    running,
    start_chat,
    wait_record,
)

pytestmark = pytest.mark.timeout(120)

QUESTION = {
    "en": "How likely are you to recommend us?",
    "ar": "ما مدى احتمال أن توصي بنا؟",
    "uk": "Наскільки ймовірно, що ви порекомендуєте нас?",
}


async def test_nps_question_follows_the_widget_setting(browser: Browser, redis_url: str) -> None:
    async with running(redis_url) as cluster, browser_page(browser) as (_, page):
        agent = await cluster.agent(await cluster.add_agent("alice", name="Alice", capacity=2))
        async with clients(agent):
            w = W(page)
            nps = w.body.locator("[data-lc=nps]")

            # off by default: the rating only
            await page.goto(cluster.urls[0] + "/demo/")
            await start_chat(w, name="Off")
            first = await chat_id_of(w)
            await accept(agent, first)
            await agent.request({"type": "close", "chat": first})
            await expect(w.body.locator("[data-lc=rating]")).to_be_visible()
            await expect(nps).to_have_count(0)
            await w.body.locator("label[for=lc-star-3]").click()
            await w.button("Send rating").click()
            await expect(w.body.locator("[data-lc=thanks]")).to_be_visible()
            record = await wait_record(cluster, first, until=lambda r: r["rating"] == 3)
            assert record["nps"] is None

            # switched on: the 0-10 question beside the stars, in every language
            status, _ = await http("PATCH", cluster.urls[0] + "/api/widget/settings",
                                   {"nps_question": True}, token=cluster.admin_token)
            assert status == 200
            await page.reload()
            await w.body.locator("[data-action=new]").click()
            await start_chat(w, name="On")
            second = await chat_id_of(w)
            await accept(agent, second)
            await agent.request({"type": "close", "chat": second})
            await expect(nps).to_be_visible()
            await expect(nps.locator("input[type=radio]")).to_have_count(11)
            for lang in ("ar", "uk", "en"):
                await page.evaluate(f"LiveChat('setLocale', '{lang}')")
                await expect(w.root).to_have_attribute("lang", lang)
                await expect(nps.locator("legend")).to_contain_text(QUESTION[lang])
            # optional: the rating alone would do; here both are given
            await w.body.locator("label[for=lc-star-5]").click()
            await w.body.locator("label[for=lc-nps-9]").click()
            await expect(nps.locator("label.on")).to_have_text("9")
            await w.button("Send rating").click()
            await expect(w.body.locator("[data-lc=thanks]")).to_be_visible()
            record = await wait_record(cluster, second, until=lambda r: r["rating"] == 5)
            assert record["nps"] == 9
