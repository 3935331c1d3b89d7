"""The console's Inbox tab in a real browser against real servers: offline messages left
over real WebSockets, listed by topic and status; one agent claims and answers by e-mail
(a real SMTP server, aiosmtpd, receives it), the other sees it claimed and is refused
when claiming it from a stale page; English, Arabic and Ukrainian.  Writes
``docs/screenshots/inbox.png`` (and ``inbox-ar.png``)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from chatserver.client import ChatClient
from tests.browser.test_console import (
    WAIT_MS,
    Closer,
    open_console,
    set_language,
    shot,
    start_cluster,
    wait_record,
)
from tests.records.test_inbox import smtp_server


async def leave(url: str, closer: Closer, **frame: str) -> str:
    visitor = closer.client(await ChatClient.visitor(url))
    reply = await visitor.request({"type": "offline", **frame})
    return str(reply["chat"])


@pytest.mark.timeout(150)
async def test_inbox_tab_claim_and_reply_by_email(browser: Browser, redis_url: str) -> None:
    closer = Closer()
    with smtp_server() as (mailbox, port):
        cluster = await start_cluster(
            redis_url, smtp_host="127.0.0.1", smtp_port=str(port), smtp_starttls="false",
            smtp_from="support@shop.example")
        try:
            await cluster.set_topic("billing")
            await cluster.set_topic("sales")
            await cluster.add_agent("anna", name="Anna")
            await cluster.add_agent("boris", name="Boris")
            url = cluster.urls[0]
            first = await leave(url, closer, email="olena@example.com", name="Олена",
                                topic="billing", text="Where is my invoice for November?")
            second = await leave(url, closer, email="sami@example.com", name="سامي",
                                 topic="billing", text="هل يمكنني تغيير طريقة الدفع؟")
            third = await leave(url, closer, email="max@example.com", name="Max",
                                topic="sales", text="Do you ship to Norway?")
            for chat_id in (first, second, third):
                await wait_record(cluster, chat_id)

            anna = closer.console(await open_console(browser, url, "anna"))
            boris = closer.console(await open_console(browser, url, "boris"))
            for c in (anna, boris):
                await c.tid("tab-inbox").click()
                await expect(c.tid("inbox-item")).to_have_count(3, timeout=WAIT_MS)
            groups = anna.tid("inbox-group")
            await expect(groups).to_have_count(2)
            await expect(anna.page.locator("[data-testid=inbox-group][data-topic=billing] "
                                           "[data-testid=inbox-item]")).to_have_count(2)

            # filter by topic
            await anna.tid("inbox-topic").select_option("sales")
            await expect(anna.tid("inbox-item")).to_have_count(1, timeout=WAIT_MS)
            await anna.tid("inbox-topic").select_option("")
            await expect(anna.tid("inbox-item")).to_have_count(3, timeout=WAIT_MS)

            item = anna.page.locator(f"[data-testid=inbox-item][data-chat='{first}']")
            await item.locator("[data-testid=inbox-claim]").click()
            await expect(item.locator("[data-testid=inbox-claimed]")).to_be_visible()
            # boris's page is stale: his claim is refused with a clear message
            stale = boris.page.locator(f"[data-testid=inbox-item][data-chat='{first}']")
            await stale.locator("[data-testid=inbox-claim]").click()
            await expect(stale.locator("[data-testid=inbox-error]")).to_contain_text(
                "Another agent")
            await boris.tid("inbox-refresh").click()
            await expect(stale.locator("[data-testid=inbox-claimed]")).to_contain_text("anna")
            await expect(stale.locator("[data-testid=inbox-claim]")).to_have_count(0)
            await expect(stale.locator("[data-testid=inbox-send]")).to_have_count(0)

            # an empty reply is refused in the page; then the real one goes by e-mail
            await item.locator("[data-testid=inbox-send]").click()
            await expect(item.locator("[data-testid=inbox-error]")).to_be_visible()
            answer = "Hello Olena, the November invoice is attached to your account page."
            await item.locator("[data-testid=inbox-reply-text]").fill(answer)
            await item.locator("[data-testid=inbox-send]").click()
            await expect(item).to_have_attribute("data-status", "answered", timeout=WAIT_MS)
            await expect(item.locator("[data-testid=inbox-sent]")).to_contain_text(answer)
            [(sender, recipients, message)] = mailbox.messages
            assert sender == "support@shop.example" and recipients == ["olena@example.com"]
            assert message.get_content().startswith(answer)
            record = await wait_record(cluster, first)
            assert record["reply"] == answer and record["replied_by"] == "anna"

            # anna claims the Arabic message too (open, claimed by her, with its form)
            other = anna.page.locator(f"[data-testid=inbox-item][data-chat='{second}']")
            await other.locator("[data-testid=inbox-claim]").click()
            await expect(other.locator("[data-testid=inbox-reply-text]")).to_be_visible()
            await other.locator("[data-testid=inbox-reply-text]").fill("مرحبًا سامي")
            await shot(anna.page, "inbox")

            # only mine: the two anna claimed
            await anna.tid("inbox-status").select_option("")
            await anna.tid("inbox-mine").check()
            await expect(anna.tid("inbox-item")).to_have_count(2, timeout=WAIT_MS)
            await boris.tid("inbox-mine").check()
            await expect(boris.tid("inbox-empty")).to_be_visible(timeout=WAIT_MS)
            await boris.tid("inbox-mine").uncheck()

            # the answered filter; the three languages
            await boris.tid("inbox-status").select_option("answered")
            await expect(boris.tid("inbox-item")).to_have_count(1, timeout=WAIT_MS)
            for lang, tab, answered in (("ar", "صندوق الوارد", "تم الرد"),
                                        ("uk", "Вхідні", "Відповіли"),
                                        ("en", "Inbox", "Answered")):
                await set_language(anna, lang)
                await expect(anna.tid("tab-inbox")).to_have_text(tab)
                await expect(item.locator("[data-testid=inbox-badge]")).to_have_text(answered)
                if lang == "ar":
                    await shot(anna.page, "inbox-ar")
            assert closer.page_errors() == []
        finally:
            await closer.close()
            cluster.stop()
