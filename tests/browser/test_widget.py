"""The visitor widget in a real browser against a real server, with an agent played by the
Python client: the whole journey, the offline form, and hostile message text."""

from __future__ import annotations

import asyncio
import urllib.parse

import pytest
from playwright.async_api import Browser, expect

from chatserver.client import http
from tests.browser.test_widget_support import (
    W,
    accept_next,
    agent_texts,
    browser_page,
    clients,
    eventually,
    running,
    start_chat,
    wait_record,
)
from tests.harness import scaled

pytestmark = pytest.mark.timeout(90)


async def test_full_journey_form_queue_chat_typing_read_end_rating_record(
    browser: Browser, redis_url: str
) -> None:
    async with running(redis_url) as cluster, browser_page(browser, downloads=True) as (_, page):
        # the name is required (no field is by default)
        url = cluster.urls[0] + "/api/widget/settings"
        _, settings = await http("GET", url, token=cluster.admin_token)
        status, _ = await http("PUT", url, {**settings, "required_fields": ["name"]},
                               token=cluster.admin_token)
        assert status == 200
        token = await cluster.add_agent("alice", name="Alice", capacity=1)
        agent = await cluster.agent(token)
        busy = await cluster.visitor()
        ahead = await cluster.visitor()
        async with clients(agent, busy, ahead):
            # the agent is busy with one chat and another visitor is waiting already
            busy_chat = await busy.start(name="Busy")
            await accept_next(agent)
            ahead_chat = await ahead.start(name="Ahead")

            await page.goto(cluster.urls[0] + "/demo/")
            w = W(page)
            await w.open()
            # the pre-chat form: the name is required
            await expect(w.field("name")).to_be_focused()
            await w.button("Start chat").click()
            await expect(w.field("name")).to_have_attribute("aria-invalid", "true")
            await expect(w.body).to_contain_text("Please fill in this field.")
            await expect(w.field("name")).to_be_focused()
            await w.field("name").fill("Ada")
            await w.field("email").fill("not-an-email")
            await w.button("Start chat").click()
            await expect(w.body).to_contain_text("Please enter a valid email address.")
            await w.field("email").fill("ada@example.com")
            await w.button("Start chat").click()

            # queued behind the other visitor, then the position moves up live
            await expect(w.position).to_have_text("Your place in the queue: 2")
            await expect(w.queue).to_contain_text("Estimated wait")
            await expect(w.input).to_be_focused()
            await ahead.request({"type": "leave", "chat": ahead_chat["id"]})
            await expect(w.position).to_have_text("Your place in the queue: 1")

            # a message written while waiting is delivered once the agent takes the chat
            await w.say("Hello, I am waiting")
            await expect(w.mine.last).to_have_attribute("data-state", "sent")
            since = len(agent.frames)
            await agent.request({"type": "close", "chat": busy_chat["id"]})
            chat_id = await accept_next(agent, since)
            await expect(w.title).to_have_text("Alice")
            await expect(w.queue).to_be_hidden()
            await expect(w.live).to_have_text("Alice joined the chat")
            started = await w.events("chatStarted")
            assert started == [{"id": chat_id}]

            # typing, both ways
            since = len(agent.frames)
            await w.input.press_sequentially("Do you ship")
            typing = await agent.wait_for(
                lambda f: f["type"] == "typing" and f["from"]["role"] == "visitor", since=since
            )
            assert typing["on"] is True and typing["chat"] == chat_id
            await w.input.press("Enter")
            await agent.send({"type": "typing", "chat": chat_id, "on": True})
            await expect(w.typing).to_have_text("Alice is typing…")

            # messages both ways
            await agent.say(chat_id, "Yes, everywhere. Anything else?")
            await w.wait_texts(["Hello, I am waiting", "Do you ship",
                                "Yes, everywhere. Anything else?"])
            await expect(w.typing).to_have_text("")
            await expect(w.theirs.last.locator(".who")).to_have_text("Alice")
            await expect(w.live).to_have_text(
                "New message from Alice: Yes, everywhere. Anything else?")
            await agent.wait_messages(chat_id, 3)
            assert agent_texts(agent, chat_id) == [
                "Hello, I am waiting", "Do you ship", "Yes, everywhere. Anything else?"]

            # read receipts, both ways: the open panel reads the agent's message ...
            last_seq = agent.messages[chat_id][-1]["seq"]
            await agent.wait_for(lambda f: f["type"] == "read" and f["by"]["role"] == "visitor"
                                 and f["seq"] >= last_seq)
            # ... and the visitor sees that the agent read theirs
            await expect(w.mine.last).to_have_attribute("data-state", "sent")
            await agent.send({"type": "read", "chat": chat_id, "seq": last_seq})
            await expect(w.mine.last).to_have_attribute("data-state", "read")
            await expect(w.mine.last.locator(".state")).to_have_text("Read")
            incoming = [e["text"] for e in await w.events("message")
                        if e["from"]["role"] == "agent"]
            assert incoming == ["Yes, everywhere. Anything else?"]

            # the agent ends the chat; the visitor rates it and downloads the transcript
            await agent.request({"type": "close", "chat": chat_id, "outcome": "resolved"})
            await expect(w.body.locator("[data-lc=ended]")).to_have_text("Alice ended the chat.")
            await expect(w.input).to_be_hidden()
            ended = await w.events("chatEnded")
            assert ended == [{"id": chat_id, "by": "agent", "outcome": "resolved"}]
            await w.button("Send rating").click()
            await expect(w.body).to_contain_text("Please choose a rating.")
            await w.body.locator("label[for=lc-star-4]").click()
            await w.field("comment").fill("Quick and kind")
            await w.button("Send rating").click()
            await expect(w.body.locator("[data-lc=thanks]")).to_have_text(
                "Thank you for your feedback!")
            async with page.expect_download() as info:
                await w.body.locator("[data-action=download]").click()
            download = await info.value
            path = await download.path()
            text = path.read_text(encoding="utf-8-sig")
            assert chat_id in text
            assert "You: Hello, I am waiting" in text
            assert "Alice: Yes, everywhere. Anything else?" in text

            record = await wait_record(cluster, chat_id, until=lambda r: r["rating"] == 4)
            assert record["rating_comment"] == "Quick and kind"
            assert record["visitor_name"] == "Ada" and record["visitor_email"] == "ada@example.com"
            assert record["page_url"].endswith("/demo/") and record["locale"] == "en"
            assert [m["text"] for m in record["messages"]] == [
                "Hello, I am waiting", "Do you ship", "Yes, everywhere. Anything else?"]

            # and a new chat can start
            await w.body.locator("[data-action=new]").click()
            await expect(w.field("name")).to_have_value("Ada")


async def test_visitor_ends_the_chat(browser: Browser, redis_url: str) -> None:
    async with running(redis_url) as cluster, browser_page(browser) as (_, page):
        token = await cluster.add_agent("bob", name="Bob")
        agent = await cluster.agent(token)
        async with clients(agent):
            await page.goto(cluster.urls[0] + "/demo/")
            w = W(page)
            await start_chat(w)
            chat_id = await accept_next(agent)
            await expect(w.title).to_have_text("Bob")
            await w.end_button.click()
            confirm = page.locator("lc-chat-widget .confirm")
            await expect(confirm).to_contain_text("End this chat?")
            await expect(confirm.locator("[data-action=cancel]")).to_be_focused()
            await page.keyboard.press("Escape")  # cancels the question, keeps the panel
            await expect(confirm).to_be_hidden()
            await expect(w.panel).to_be_visible()
            await w.end_button.click()
            await confirm.locator("[data-action=end]").click()
            await expect(w.body.locator("[data-lc=ended]")).to_have_text("You ended the chat.")
            await agent.wait_for(lambda f: f["type"] == "ended" and f["chat"] == chat_id)
            record = await wait_record(cluster, chat_id)
            assert record["outcome"] == "visitor_left"


async def test_offline_form_when_no_agent_is_online_creates_a_record(
    browser: Browser, redis_url: str
) -> None:
    async with running(redis_url) as cluster, browser_page(browser) as (_, page):
        await page.goto(cluster.urls[0] + "/demo/")
        w = W(page)
        await w.open()
        form = w.body.locator("form[data-lc=offline]")
        await expect(form).to_contain_text("We're away right now")
        await expect(w.input).to_be_hidden()
        await w.button("Send message").click()
        await expect(w.field("email")).to_have_attribute("aria-invalid", "true")
        await expect(w.field("message")).to_have_attribute("aria-invalid", "true")
        await expect(w.field("email")).to_be_focused()
        await w.field("name").fill("Late Larry")
        await w.field("email").fill("larry@example")
        await w.field("message").fill("Please call me back about order 42")
        await w.button("Send message").click()
        await expect(w.body).to_contain_text("Please enter a valid email address.")
        await w.field("email").fill("larry@example.com")
        await w.button("Send message").click()
        await expect(w.body.locator("[data-lc=offline-thanks]")).to_be_visible()

        query = urllib.parse.urlencode({"email": "larry@example.com"})

        async def found() -> bool:
            status, body = await http("GET", f"{cluster.urls[0]}/api/records?{query}",
                                      token=cluster.admin_token)
            return status == 200 and len(body["items"]) == 1

        await eventually(found, 15)
        _, body = await http("GET", f"{cluster.urls[0]}/api/records?{query}",
                             token=cluster.admin_token)
        record = await wait_record(cluster, body["items"][0]["chat_id"])
        assert record["end_state"] == "offline"
        assert record["visitor_name"] == "Late Larry"
        assert [m["text"] for m in record["messages"]] == ["Please call me back about order 42"]


HOSTILE_VISITOR = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=2</script>",
    "javascript:window.__pwned=3 and data:text/html,<b>x</b>",
]
HOSTILE_AGENT = [
    "<img src=x onerror=window.__pwned=4><b>bold?</b>",
    "<a href=\"javascript:window.__pwned=5\">click</a>",
    "See https://example.com/help?q=1&x=<y> (and http://ok.test/a_(b)).",
]


async def test_script_and_html_payloads_are_shown_as_text_and_only_http_links_clickable(
    browser: Browser, redis_url: str
) -> None:
    async with running(redis_url) as cluster, browser_page(browser) as (_, page):
        token = await cluster.add_agent("carol", name="<i>Carol</i>")
        agent = await cluster.agent(token)
        async with clients(agent):
            await page.goto(cluster.urls[0] + "/demo/")
            w = W(page)
            await start_chat(w, name='"><svg onload=window.__pwned=6>')
            chat_id = await accept_next(agent)
            for text in HOSTILE_VISITOR:
                await w.say(text)
            await agent.wait_messages(chat_id, len(HOSTILE_VISITOR))
            for text in HOSTILE_AGENT:
                await agent.say(chat_id, text)
            await w.wait_texts(HOSTILE_VISITOR + HOSTILE_AGENT)
            await expect(w.title).to_have_text("<i>Carol</i>")
            await asyncio.sleep(scaled(0.3))
            assert await page.evaluate("window.__pwned") is None
            markup = page.locator(
                "lc-chat-widget .msgs img, lc-chat-widget .msgs script, lc-chat-widget .msgs b,"
                " lc-chat-widget .msgs svg, lc-chat-widget .head i")
            assert await markup.count() == 0
            links = w.bubbles.locator("a")
            hrefs = [await links.nth(i).get_attribute("href") for i in range(await links.count())]
            assert hrefs == ["https://example.com/help?q=1&x=", "http://ok.test/a_(b)"]
            for i in range(await links.count()):
                assert await links.nth(i).get_attribute("rel") == "noopener noreferrer nofollow"
                assert await links.nth(i).get_attribute("target") == "_blank"
            # what an agent wrote arrives untouched
            assert agent_texts(agent, chat_id) == HOSTILE_VISITOR + HOSTILE_AGENT
