"""'Email me the transcript' in the widget, in a real browser against real servers and a
real SMTP server (aiosmtpd): after the agent ends the chat, the end-of-chat card offers it
with the address from the pre-chat form; a bad address is refused in the visitor's
language; the e-mail arrives in English, Arabic and Ukrainian without the agent's internal
note, and the record notes the address.  Not offered by a server that sends no e-mail."""

from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import Browser, expect

from chatserver.client import http
from tests.browser.test_widget_support import (
    W,
    accept,
    browser_page,
    clients,
    running,
)
from tests.harness import scaled
from tests.records.test_inbox import smtp_server

pytestmark = pytest.mark.timeout(150)

NOTE = "internal: refund approved by finance"
CASES = {
    # language: (visitor's line, label, bad-address error, "will be sent" start, subject)
    "en": ("Where is my parcel?", "Email me the transcript",
           "Please enter a valid email address.", "The transcript will be sent to",
           "Transcript of your chat"),
    "ar": ("أين طردي؟", "أرسل لي نص المحادثة بالبريد الإلكتروني",
           "يرجى إدخال بريد إلكتروني صحيح.", "سيُرسَل نص المحادثة إلى", "نص محادثتك"),
    "uk": ("Де моя посилка?", "Надіслати мені запис розмови електронною поштою",
           "Введіть правильну адресу електронної пошти.", "Запис розмови буде надіслано",
           "Запис вашої розмови в чаті"),
}


async def test_email_me_the_transcript_in_three_languages(
    browser: Browser, redis_url: str
) -> None:
    with smtp_server() as (mailbox, port):
        env = {"smtp_host": "127.0.0.1", "smtp_port": str(port), "smtp_starttls": "false",
               "smtp_from": "support@shop.example"}
        async with running(redis_url, **env) as cluster, browser_page(browser) as (_, page):
            agent = await cluster.agent(await cluster.add_agent("sara", name="Sara"))
            async with clients(agent):
                w = W(page)
                form = w.body.locator("[data-lc=transcript]")
                email = w.body.locator("#lc-transcript-email")
                chats: dict[str, str] = {}
                for n, (lang, (line, label, bad, sent, _)) in enumerate(CASES.items()):
                    await page.goto(cluster.urls[0] + "/demo/")
                    await page.evaluate(f"LiveChat('setLocale', '{lang}')")
                    await expect(w.root).to_have_attribute("lang", lang)
                    if not await w.panel.is_visible():
                        await w.open()
                    if n:
                        await w.body.locator("[data-action=new]").click()
                    address = f"visitor-{lang}@example.com"
                    await w.field("name").fill(f"V-{lang}")
                    await w.field("email").fill(address)
                    await w.field("name").press("Enter")
                    await expect(w.input).to_be_visible()
                    chat_id = await new_chat_id(w, set(chats.values()))
                    chats[lang] = chat_id
                    await accept(agent, chat_id)
                    await w.say(line)
                    await expect(w.mine).to_have_count(1)
                    await agent.say(chat_id, NOTE, internal=True)
                    await agent.say(chat_id, f"OK {lang}")
                    await expect(w.theirs).to_have_count(1)
                    await agent.request({"type": "close", "chat": chat_id})

                    # the card offers it, the address from the pre-chat form filled in
                    await expect(form).to_be_visible()
                    await expect(form.locator("label")).to_have_text(label)
                    await expect(email).to_have_value(address)
                    await email.fill("not-an-address")
                    await form.locator("[data-action=transcript-send]").click()
                    await expect(form.locator(".err")).to_have_text(bad)
                    await expect(email).to_have_attribute("aria-invalid", "true")
                    await email.fill(address)
                    await form.locator("[data-action=transcript-send]").click()
                    done = w.body.locator("[data-lc=transcript-sent]")
                    await expect(done).to_contain_text(sent)
                    await expect(done).to_contain_text(address)
                    await expect(form).to_have_count(0)
                    await wait_mail(mailbox, n + 1)

                for n, (lang, (line, _, _, _, subject)) in enumerate(CASES.items()):
                    _, recipients, message = mailbox.messages[n]
                    assert recipients == [f"visitor-{lang}@example.com"]
                    assert message["Subject"] == subject
                    assert message["Content-Language"] == lang
                    body = message.get_content()
                    assert line in body and f"Sara: OK {lang}" in body and NOTE not in body
                    assert chats[lang] in body
                    status, record = await http(
                        "GET", f"{cluster.urls[0]}/api/records/{chats[lang]}",
                        token=cluster.admin_token)
                    assert status == 200
                    assert [e["email"] for e in record["transcript_emails"]] == [
                        f"visitor-{lang}@example.com"]


async def test_not_offered_when_the_server_sends_no_email(
    browser: Browser, redis_url: str
) -> None:
    async with running(redis_url) as cluster, browser_page(browser) as (_, page):
        agent = await cluster.agent(await cluster.add_agent("sara", name="Sara"))
        async with clients(agent):
            w = W(page)
            await page.goto(cluster.urls[0] + "/demo/")
            await w.open()
            await w.field("name").fill("Ada")
            await w.field("email").fill("ada@example.com")
            await w.field("name").press("Enter")
            await expect(w.input).to_be_visible()
            chat_id = await new_chat_id(w, set())
            await accept(agent, chat_id)
            await agent.say(chat_id, "Hello")
            await expect(w.theirs).to_have_count(1)
            await agent.request({"type": "close", "chat": chat_id})
            await expect(w.body.locator("[data-lc=rating]")).to_be_visible()
            await expect(w.body.locator("[data-action=download]")).to_be_visible()
            await expect(w.body.locator("[data-lc=transcript]")).to_have_count(0)


async def new_chat_id(w: W, known: set[str]) -> str:
    """The id of the chat the widget started last (its chatStarted event), not one of
    ``known`` (each case loads the page again, and the ended chat comes back with it)."""
    deadline = time.monotonic() + scaled(10)
    while True:
        fresh = [str(e["id"]) for e in await w.events("chatStarted") if e["id"] not in known]
        if fresh:
            return fresh[-1]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)


async def wait_mail(mailbox: object, n: int) -> None:
    deadline = time.monotonic() + scaled(20)
    while len(mailbox.messages) < n:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
