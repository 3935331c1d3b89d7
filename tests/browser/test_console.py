"""The agent console and supervisor view in a real browser (Debian's chromium driven by
Playwright) against real `chatserver serve` processes; visitors are the Python client.

Each test starts its own cluster.  Pages are found by ``data-testid`` attributes, so the
assertions hold in every language; the screenshots in ``docs/screenshots/`` are written
here (English and Arabic, agent and supervisor)."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from chatserver.client import ChatClient, http
from tests.browser.test_widget_support import Proxy
from tests.harness import ADMIN_PASSWORD, AGENT_PASSWORD, Cluster, scaled

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
WAIT_MS = scaled(15) * 1000


# ---- helpers ----------------------------------------------------------------------------
class Console:
    """One browser context (its own cookie jar) logged in as one agent."""

    def __init__(self, ctx: BrowserContext, page: Page, errors: list[str]) -> None:
        self.ctx = ctx
        self.page = page
        self.errors = errors

    def tid(self, testid: str, within: str = "") -> Any:
        prefix = f"{within} " if within else ""
        return self.page.locator(f"{prefix}[data-testid={testid}]")

    async def tab(self) -> Page:
        """A second tab of the same session (same cookie)."""
        page = await self.ctx.new_page()
        watch_errors(page, self.errors)
        await page.goto(self.page.url)
        await page.locator(".conn-open").wait_for(state="attached", timeout=WAIT_MS)
        return page


async def open_console(
    browser: Browser, url: str, agent_id: str, password: str = AGENT_PASSWORD,
    lang: str = "en", login: bool = True,
) -> Console:
    ctx = await browser.new_context(viewport=VIEWPORT, locale="en-US")  # type: ignore[arg-type]
    page = await ctx.new_page()
    errors: list[str] = []
    watch_errors(page, errors)
    await page.goto(f"{url}/console/?lang={lang}")
    console = Console(ctx, page, errors)
    if login:
        await log_in(page, agent_id, password)
        await page.locator(".conn-open").wait_for(state="attached", timeout=WAIT_MS)
    return console


def watch_errors(page: Page, errors: list[str]) -> None:
    """Uncaught exceptions and Content-Security-Policy violations fail the test."""
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text else None)


async def log_in(page: Page, agent_id: str, password: str) -> None:
    await page.fill("input[name=id]", agent_id)
    await page.fill("input[name=password]", password)
    await page.click("[data-testid=login-form] button[type=submit]")


class Closer:
    """Everything a test opens, closed at the end whatever happens."""

    def __init__(self) -> None:
        self.consoles: list[Console] = []
        self.clients: list[ChatClient] = []

    def console(self, c: Console) -> Console:
        self.consoles.append(c)
        return c

    def client(self, c: ChatClient) -> ChatClient:
        self.clients.append(c)
        return c

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        for c in self.consoles:
            await c.ctx.close()

    def page_errors(self) -> list[str]:
        return [e for c in self.consoles for e in c.errors]


@pytest.fixture
async def closer() -> AsyncIterator[Closer]:
    c = Closer()
    try:
        yield c
    finally:
        await c.close()


async def start_cluster(redis_url: str, n: int = 1, **env: str) -> Cluster:
    cluster = Cluster(
        redis_url, n=n, live_metrics_interval_s="0.5", offer_timeout_s="30", **env
    )
    await cluster.start()
    return cluster


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 15) -> Any:
    deadline = time.monotonic() + scaled(timeout)
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def offered_to(consoles: list[Console], chat_id: str) -> Console:
    """The console that shows an offer of the chat (waits for one)."""

    async def find() -> Console | None:
        for c in consoles:
            if await c.page.locator(f"[data-testid=offer][data-chat='{chat_id}']").count():
                return c
        return None

    found: Console = await until(find, f"an offer of {chat_id}")
    return found


async def accept(console: Console, chat_id: str) -> None:
    offer = console.page.locator(f"[data-testid=offer][data-chat='{chat_id}']")
    await offer.locator("[data-testid=accept]").click()
    await expect(offer).to_have_count(0, timeout=WAIT_MS)
    await expect(
        console.page.locator(f"[data-testid=chat-item][data-chat='{chat_id}']")
    ).to_have_count(1, timeout=WAIT_MS)


async def open_chat(console: Console, chat_id: str) -> None:
    await console.page.locator(f"[data-testid=chat-item][data-chat='{chat_id}']").click()
    await expect(console.tid("chat-pane")).to_have_attribute("data-chat", chat_id)


async def write(console: Console, text: str, within: str = "") -> None:
    box = console.tid("composer", within)
    await box.fill(text)
    await box.press("Enter")


def texts(client: ChatClient, chat_id: str) -> list[str]:
    return [m["text"] for m in client.messages.get(chat_id, [])]


def every_text_seen_by(client: ChatClient) -> str:
    """Everything the client received, as one string (messages and other frames)."""
    return repr(client.frames) + repr(client.messages)


async def wait_record(cluster: Cluster, chat_id: str) -> dict[str, Any]:
    async def fetch() -> dict[str, Any] | None:
        status, body = await http(
            "GET", f"{cluster.urls[0]}/api/records/{chat_id}", token=cluster.admin_token
        )
        return body if status == 200 else None

    record: dict[str, Any] = await until(fetch, f"the record of {chat_id}")
    return record


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(SHOTS / f"{name}.png"))


async def set_language(console: Console, lang: str) -> None:
    await console.tid("lang").first.select_option(lang)
    await expect(console.page.locator("html")).to_have_attribute("lang", lang)


# ---- agents -----------------------------------------------------------------------------
@pytest.mark.timeout(120)
async def test_console_two_agents_decline_concurrent_chats_and_transfer(
    browser: Browser, redis_url: str, closer: Closer
) -> None:
    cluster = await start_cluster(redis_url, n=2)
    try:
        await cluster.add_agent("alice", name="Alice", capacity=3)
        await cluster.add_agent("bob", name="Bob", capacity=3)
        status, _ = await http(
            "POST", cluster.urls[0] + "/api/canned",
            {"shortcut": "hello", "text": "Hello {name}, how can I help?"}, cluster.admin_token,
        )
        assert status == 201
        # the two agents work on different server processes
        alice = closer.console(await open_console(browser, cluster.urls[0], "alice"))
        bob = closer.console(await open_console(browser, cluster.urls[1], "bob"))
        for c in (alice, bob):
            await expect(c.tid("status")).to_have_value("online")

        # a decline sends the chat to the other agent
        v1 = closer.client(await cluster.visitor(server=0))
        chat1 = (await v1.start(name="Ada", email="ada@example.com",
                                page="https://shop.example/cart", locale="en"))["id"]
        await v1.say(chat1, "Where is my order?")
        first = await offered_to([alice, bob], chat1)
        other = bob if first is alice else alice
        await expect(first.tid("countdown")).to_be_visible()
        await first.page.locator(f"[data-testid=offer][data-chat='{chat1}'] "
                                 "[data-testid=decline]").click()
        await expect(first.tid("offer")).to_have_count(0, timeout=WAIT_MS)
        assert await offered_to([other], chat1) is other
        await accept(other, chat1)
        await expect(other.tid("chat-title")).to_have_text("Ada")
        await expect(other.tid("cust-email")).to_have_text("ada@example.com")
        await expect(other.tid("msg-text").first).to_have_text("Where is my order?")
        assert await first.page.locator(f"[data-chat='{chat1}']").count() == 0

        # a canned answer through the `/` shortcut, then typing and read state both ways
        box = other.tid("composer")
        await box.press_sequentially("/hel")
        await expect(other.tid("canned-item")).to_have_count(1)
        await box.press("Enter")
        await expect(box).to_have_value("Hello Ada, how can I help?")
        await box.press("Enter")
        await v1.wait_messages(chat1, 2, scaled(10))
        assert texts(v1, chat1)[1] == "Hello Ada, how can I help?"
        await box.press_sequentially("One moment")
        await v1.wait_for(lambda f: f["type"] == "typing" and f["from"]["role"] == "agent"
                          and f["on"], scaled(10))
        await box.fill("")
        await v1.send({"type": "typing", "chat": chat1, "on": True})
        await expect(other.tid("typing")).to_be_visible()
        await v1.send({"type": "read", "chat": chat1, "seq": 2})
        await expect(other.tid("seen")).to_have_count(1)

        # concurrent chats: two more visitors, both agents busy at once
        v2 = closer.client(await cluster.visitor(server=1))
        chat2 = (await v2.start(name="Bohdan", locale="uk"))["id"]
        await v2.say(chat2, "Привіт!")
        holder2 = await offered_to([alice, bob], chat2)
        await accept(holder2, chat2)
        v3 = closer.client(await cluster.visitor(server=0))
        chat3 = (await v3.start(name="Chen"))["id"]
        holder3 = await offered_to([alice, bob], chat3)
        await holder3.page.keyboard.press("Alt+KeyA")  # the keyboard shortcut
        await expect(holder3.page.locator(f"[data-testid=chat-item][data-chat='{chat3}']")
                     ).to_have_count(1, timeout=WAIT_MS)
        assert {holder2, holder3} == {alice, bob} or holder2 is holder3
        # the agent with two chats: unread counts, waiting time, drafts per chat
        busy = other if other in (holder2, holder3) else holder2
        mine = [c for c, h in ((chat1, other), (chat2, holder2), (chat3, holder3)) if h is busy]
        assert len(mine) >= 2
        a_chat, b_chat = mine[0], mine[1]
        await open_chat(busy, a_chat)
        await busy.tid("composer").fill("half-written answer")
        visitor_of = {chat1: v1, chat2: v2, chat3: v3}
        await visitor_of[b_chat].say(b_chat, "are you there?")
        await visitor_of[b_chat].say(b_chat, "hello??")
        item = busy.page.locator(f"[data-testid=chat-item][data-chat='{b_chat}']")
        await expect(item.locator("[data-testid=unread]")).to_have_text("2")
        await expect(item.locator("[data-testid=waiting]")).to_be_visible()
        await open_chat(busy, b_chat)
        await expect(item.locator("[data-testid=unread]")).to_have_count(0)
        await expect(busy.tid("composer")).to_have_value("")
        await open_chat(busy, a_chat)
        await expect(busy.tid("composer")).to_have_value("half-written answer")

        # a second tab of the same agent follows the same chats
        tab2 = await busy.tab()
        tab2_item = tab2.locator(f"[data-testid=chat-item][data-chat='{b_chat}']")
        await expect(tab2_item).to_have_count(1)
        await open_chat(busy, b_chat)
        await write(busy, "Yes, I am here.")
        await tab2_item.click()
        await expect(tab2.locator("[data-testid=msg-text]").last).to_have_text("Yes, I am here.")
        await tab2.close()

        # a private note and a transfer to the other agent, with a note for them
        await busy.tid("note-toggle").check()
        await write(busy, "internal: customer is VIP")
        await busy.tid("note-toggle").uncheck()
        await expect(busy.page.locator("[data-testid=msg][data-kind=note]")).to_have_count(1)
        target = bob if busy is alice else alice
        target_id = "bob" if busy is alice else "alice"
        await busy.tid("transfer").click()
        await busy.tid("transfer-agent").fill(target_id)
        await busy.tid("transfer-note").fill("please check the refund")
        await busy.tid("transfer-submit").click()
        await expect(busy.page.locator(f"[data-testid=chat-item][data-chat='{b_chat}']")
                     ).to_have_count(0, timeout=WAIT_MS)
        await expect(target.page.locator(f"[data-testid=chat-item][data-chat='{b_chat}']")
                     ).to_have_count(1, timeout=WAIT_MS)
        await open_chat(target, b_chat)
        notes = target.page.locator("[data-testid=msg][data-kind=note] [data-testid=msg-text]")
        await expect(notes).to_have_text(["internal: customer is VIP", "please check the refund"])
        await expect(target.page.locator("[data-testid=msg-text]").filter(
            has_text="Yes, I am here.")).to_have_count(1)

        # close with an outcome and tags
        await target.tid("tag-input").fill("refund")
        await target.tid("tag-input").press("Enter")
        await target.tid("close-chat").click()
        await target.tid("outcome").select_option("follow_up")
        await target.tid("close-submit").click()
        await expect(target.page.locator(f"[data-testid=chat-item][data-chat='{b_chat}']")
                     ).to_have_count(0, timeout=WAIT_MS)
        v = visitor_of[b_chat]
        await v.wait_for(lambda f: f["type"] == "chat" and f["chat"]["state"] == "closed",
                         scaled(10))
        seen = every_text_seen_by(v)
        assert "customer is VIP" not in seen and "please check the refund" not in seen
        record = await wait_record(cluster, b_chat)
        assert record["outcome"] == "follow_up" and record["tags"] == ["refund"]
        assert record["agent_id"] == target_id
        assert [a["agent_id"] for a in record["agents"]][-1] == target_id
        assert closer.page_errors() == []
    finally:
        cluster.stop()


# ---- supervisor -------------------------------------------------------------------------
@pytest.mark.timeout(120)
async def test_console_supervisor_live_whisper_join_reassign_close(
    browser: Browser, redis_url: str, closer: Closer
) -> None:
    cluster = await start_cluster(redis_url, n=2)
    try:
        await cluster.set_topic("billing", required={"billing": 1})
        await cluster.add_agent("alice", name="Alice", capacity=1)
        await cluster.add_agent("sue", name="Sue", role="supervisor", capacity=0)
        alice = closer.console(await open_console(browser, cluster.urls[0], "alice"))
        sue = closer.console(await open_console(browser, cluster.urls[1], "sue"))
        await sue.tid("tab-live").click()
        general = sue.page.locator("[data-testid=queue-row][data-topic=general]")
        alice_row = sue.page.locator("[data-testid=agent-row][data-agent=alice]")
        await expect(general.locator("[data-testid=queue-waiting]")).to_have_text("0")
        await expect(alice_row.locator("[data-testid=agent-load]")).to_have_text("0/1")
        await expect(alice_row.locator("[data-testid=agent-status]")).to_have_text("Online")

        # a chat arrives and is taken: the agent's load changes live
        v1 = closer.client(await cluster.visitor(server=0))
        chat1 = (await v1.start(name="Dana", email="dana@example.com",
                                page="https://shop.example/checkout"))["id"]
        await v1.say(chat1, "My card was charged twice")
        await accept(await offered_to([alice], chat1), chat1)
        await expect(alice_row.locator("[data-testid=agent-load]")).to_have_text("1/1")
        await expect(sue.tid("live-active")).to_have_text("1")
        await write(alice, "Sorry to hear that, let me look.")
        await v1.wait_messages(chat1, 2, scaled(10))

        # the agent is full: the next visitor waits in the queue, live
        v2 = closer.client(await cluster.visitor(server=1))
        chat2 = (await v2.start(name="Emil"))["id"]
        await expect(general.locator("[data-testid=queue-waiting]")).to_have_text("1")
        await expect(sue.tid("live-queued")).to_have_text("1")

        # the supervisor reads the chat, whispers to the agent; the visitor never sees it
        row = sue.page.locator(f"[data-testid=active-row][data-chat='{chat1}']")
        await expect(row.locator("[data-testid=active-visitor]")).to_have_text("Dana")
        await row.locator("[data-testid=watch]").click()
        pane = "[data-testid=watch-pane]"
        await expect(sue.tid("msg-text", pane)).to_have_text(
            ["My card was charged twice", "Sorry to hear that, let me look."]
        )
        await write(sue, "Offer a refund, it is our fault", within=pane)
        whisper = alice.page.locator("[data-testid=msg][data-kind=whisper]")
        await expect(whisper.locator("[data-testid=msg-text]")).to_have_text(
            "Offer a refund, it is our fault"
        )
        await v1.say(chat1, "Hello?")
        await expect(sue.tid("msg-text", pane).last).to_have_text("Hello?")
        assert "Offer a refund" not in every_text_seen_by(v1)
        assert [m["kind"] for m in v1.messages[chat1]] == ["message"] * 3

        # screenshots: agent and supervisor, English and Arabic
        await alice.tid("composer").fill("I can offer a refund right away.")
        await shot(alice.page, "agent-en")
        await shot(sue.page, "supervisor-en")
        for c in (alice, sue):
            await set_language(c, "ar")
        await expect(sue.page.locator("html")).to_have_attribute("dir", "rtl")
        await expect(alice_row.locator("[data-testid=agent-status]")).to_have_text("متصل")
        await shot(alice.page, "agent-ar")
        await shot(sue.page, "supervisor-ar")
        for c in (alice, sue):
            await set_language(c, "en")
        await alice.tid("composer").fill("")

        # the agent's status change shows up live
        await alice.tid("status").select_option("away")
        await expect(alice_row.locator("[data-testid=agent-status]")).to_have_text("Away")
        await alice.tid("status").select_option("online")
        await expect(alice_row.locator("[data-testid=agent-status]")).to_have_text("Online")

        # the supervisor joins and writes to the visitor
        await sue.tid("join", pane).click()
        await expect(sue.tid("mode-message", pane)).to_be_checked()
        await write(sue, "Hello Dana, I am the supervisor.", within=pane)
        await until(lambda: _has_text(v1, chat1, "Hello Dana, I am the supervisor."),
                    "the supervisor's message at the visitor")
        sent = next(m for m in v1.messages[chat1] if m["text"].startswith("Hello Dana"))
        assert sent["from"]["id"] == "sue"

        # the supervisor closes the chat: the agent sees it ended, the queue drains
        await sue.tid("sup-close", pane).click()
        await sue.tid("outcome").select_option("resolved")
        await sue.tid("close-submit").click()
        await expect(sue.tid("watch-ended")).to_be_visible()
        await expect(alice.tid("ended")).to_be_visible()
        await expect(general.locator("[data-testid=queue-waiting]")).to_have_text("0")
        await alice.tid("dismiss").click()
        await accept(await offered_to([alice], chat2), chat2)

        # reassign the second chat to a skill queue nobody can serve: it waits there
        await sue.tid("unwatch").click()
        row2 = sue.page.locator(f"[data-testid=active-row][data-chat='{chat2}']")
        await row2.locator("[data-testid=watch]").click()
        await sue.tid("reassign", pane).click()
        await sue.tid("to-topic").check()
        await sue.tid("transfer-topic").select_option("billing")
        await sue.tid("transfer-note").fill("needs billing")
        await sue.tid("transfer-submit").click()
        billing = sue.page.locator("[data-testid=queue-row][data-topic=billing]")
        await expect(billing.locator("[data-testid=queue-waiting]")).to_have_text("1")
        await expect(alice.page.locator(f"[data-testid=chat-item][data-chat='{chat2}']")
                     ).to_have_count(0)
        await expect(alice_row.locator("[data-testid=agent-load]")).to_have_text("0/1")
        assert "needs billing" not in every_text_seen_by(v2)
        assert closer.page_errors() == []
    finally:
        cluster.stop()


async def _has_text(client: ChatClient, chat_id: str, text: str) -> bool:
    return text in texts(client, chat_id)


# ---- administration ---------------------------------------------------------------------
@pytest.mark.timeout(120)
async def test_console_admin_disabling_an_agent_logs_them_out(
    browser: Browser, redis_url: str, closer: Closer
) -> None:
    cluster = await start_cluster(redis_url)
    try:
        await cluster.add_agent("carol", name="Carol", capacity=2)
        carol = closer.console(await open_console(browser, cluster.urls[0], "carol"))
        admin = closer.console(
            await open_console(browser, cluster.urls[0], "admin", ADMIN_PASSWORD)
        )
        await admin.tid("tab-admin").click()
        row = admin.page.locator("[data-testid=admin-agent-row][data-agent=carol]")
        # capacity and skills
        await row.locator("[data-testid=capacity]").fill("4")
        await row.locator("[data-testid=skills]").fill("billing:7, sales")
        await row.locator("[data-testid=save-agent]").click()

        async def carol_updated() -> bool:
            _, body = await http("GET", cluster.urls[0] + "/api/agents/carol",
                                 token=cluster.admin_token)
            return bool(body["capacity"] == 4 and body["skills"] == {"billing": 7, "sales": 0})

        await until(carol_updated, "carol's new capacity and skills")
        await asyncio.sleep(0.5)  # a capacity or skills change must not log her out
        assert await carol.page.locator(".conn-open").count() == 1
        # disabling closes her console at once
        await row.locator("[data-testid=toggle-disabled]").click()
        await expect(carol.tid("logged-out")).to_be_visible(timeout=WAIT_MS)
        await expect(carol.tid("login-form")).to_be_visible()
        await log_in(carol.page, "carol", AGENT_PASSWORD)
        await expect(carol.tid("login-error")).to_be_visible()

        # topics, canned answers, widget settings
        await admin.tid("admin-topics").click()
        form = admin.tid("new-topic")
        await form.locator("input").nth(0).fill("returns")
        await form.locator("input").nth(1).fill("returns:3")
        await form.locator("button[type=submit]").click()
        await expect(admin.page.locator("[data-testid=admin-topics] tr[data-topic=returns]")
                     ).to_have_count(1)
        await admin.tid("admin-canned").click()
        form = admin.tid("new-canned")
        await form.locator("input").fill("bye")
        await form.locator("textarea").fill("Thank you, goodbye!")
        await form.locator("button[type=submit]").click()
        await expect(admin.tid("admin-canned").locator("tbody tr")).to_have_count(1)
        await admin.tid("admin-widget").click()
        await admin.tid("origins").fill("https://shop.example\nhttps://www.shop.example")
        await admin.tid("save-widget").click()

        async def widget_saved() -> bool:
            _, body = await http("GET", cluster.urls[0] + "/api/widget/settings",
                                 token=cluster.admin_token)
            return bool(body["allowed_origins"] == ["https://shop.example",
                                                    "https://www.shop.example"])

        await until(widget_saved, "the widget settings")
        _, topics = await http("GET", cluster.urls[0] + "/api/topics", token=cluster.admin_token)
        assert {"name": "returns", "required": {"returns": 3}, "optional": {},
                "priority": 5, "labels": {}} in topics
        _, canned = await http("GET", cluster.urls[0] + "/api/canned", token=cluster.admin_token)
        assert [(c["shortcut"], c["text"]) for c in canned] == [("bye", "Thank you, goodbye!")]
        assert closer.page_errors() == []
    finally:
        cluster.stop()


# ---- stored XSS, login errors -----------------------------------------------------------
SCRIPT_NAME = '<img src=x onerror="window.__xss=1">'
SCRIPT_TEXT = "<script>window.__xss=2</script><b onmouseover=alert(1)>bold</b>"


@pytest.mark.timeout(120)
async def test_console_shows_script_payloads_as_plain_text(
    browser: Browser, redis_url: str, closer: Closer
) -> None:
    cluster = await start_cluster(redis_url, logins_per_minute="4")
    try:
        # logins so far: the cluster's admin, then alice's (add_agent), then the console's
        await cluster.add_agent("alice", name="Alice", capacity=2)
        alice = closer.console(await open_console(browser, cluster.urls[0], "alice"))
        v = closer.client(await cluster.visitor())
        chat = (await v.start(name=SCRIPT_NAME, email='"><svg onload=alert(1)>@x.example',
                              page="javascript:window.__xss=3", locale="<i>x</i>"))["id"]
        await v.say(chat, SCRIPT_TEXT)
        offer = alice.page.locator(f"[data-testid=offer][data-chat='{chat}']")
        await expect(offer.locator(".offer-name")).to_have_text(SCRIPT_NAME, timeout=WAIT_MS)
        await accept(alice, chat)
        await expect(alice.tid("chat-title")).to_have_text(SCRIPT_NAME)
        await expect(alice.tid("chat-name")).to_have_text(SCRIPT_NAME)
        await expect(alice.tid("msg-text")).to_have_text(SCRIPT_TEXT)
        await expect(alice.tid("cust-email")).to_have_text('"><svg onload=alert(1)>@x.example')
        await expect(alice.tid("cust-page")).to_have_text("javascript:window.__xss=3")
        assert await alice.page.locator("[data-testid=cust-page] a").count() == 0
        await alice.page.locator("[data-testid=msg-text]").hover()
        # the transcript after the chat: earlier interactions show the same text as text
        await alice.tid("close-chat").click()
        await alice.tid("close-submit").click()
        await wait_record(cluster, chat)
        v_again = closer.client(await ChatClient.visitor(cluster.urls[0], v.token))
        chat_b = (await v_again.start(name=SCRIPT_NAME))["id"]
        await accept(await offered_to([alice], chat_b), chat_b)
        earlier = alice.tid("earlier")
        await expect(earlier).to_have_count(1, timeout=WAIT_MS)
        await earlier.locator("button").click()
        await expect(alice.tid("record-transcript")).to_contain_text(SCRIPT_TEXT)
        assert await alice.page.evaluate("window.__xss") is None
        injected = "#app img, #app script, [onerror], [onload], [onmouseover]"
        assert await alice.page.locator(injected).count() == 0
        assert closer.page_errors() == []

        # a wrong password and the login rate limit are shown to the user
        stranger = closer.console(
            await open_console(browser, cluster.urls[0], "", login=False)
        )
        await log_in(stranger.page, "alice", "wrong-password")
        error = stranger.tid("login-error")
        await expect(error).to_be_visible()
        for _ in range(8):
            if "Too many" in (await error.text_content() or ""):
                break
            await log_in(stranger.page, "alice", "wrong-password")
            await asyncio.sleep(0.2)
        await expect(error).to_contain_text("Too many login attempts")
    finally:
        cluster.stop()


# ---- reports ----------------------------------------------------------------------------
@pytest.mark.timeout(120)
async def test_console_report_figures_match_the_records(
    browser: Browser, redis_url: str, closer: Closer
) -> None:
    cluster = await start_cluster(redis_url)
    try:
        agent = closer.client(await cluster.agent(await cluster.add_agent("alice", capacity=2)))
        await cluster.add_agent("sue", name="Sue", role="supervisor", capacity=0)
        # two answered chats (one rated 5, one rated 2) and one the visitor abandoned
        for rating in (5, 2):
            v = closer.client(await cluster.visitor())
            chat = (await v.start(name=f"R{rating}"))["id"]
            await agent.wait_for(lambda f, c=chat: f["type"] == "offer" and f["chat"]["id"] == c,
                                 scaled(10))
            await agent.request({"type": "accept", "chat": chat})
            await agent.say(chat, "hi")
            await agent.request({"type": "close", "chat": chat, "outcome": "resolved"})
            # and the NPS answer: 10 (promoter) beside the 5, 4 (detractor) beside the 2
            await v.request({"type": "rate", "chat": chat, "rating": rating,
                             "nps": 10 if rating == 5 else 4})
        await agent.request({"type": "status", "status": "away"})
        v = closer.client(await cluster.visitor())
        gone = (await v.start(name="Gone"))["id"]
        await v.request({"type": "leave", "chat": gone})

        async def metrics() -> dict[str, Any] | None:
            status, body = await http("GET", cluster.urls[0] + "/api/metrics",
                                      token=cluster.admin_token)
            assert status == 200
            m = body["metrics"]
            return body if m["offered"] == 3 and m["rated"] == 2 else None

        await until(metrics, "the three records in the metrics")
        sue = closer.console(await open_console(browser, cluster.urls[0], "sue"))
        await sue.tid("tab-reports").click()
        # hand-computed: 3 offered, 2 answered, satisfaction 1 of 2 rated = 50%
        await expect(sue.tid("sum-offered")).to_have_text("3", timeout=WAIT_MS)
        await expect(sue.tid("sum-answered")).to_have_text("2")
        await expect(sue.tid("sum-csat")).to_have_text("50%")
        # NPS: 1 promoter and 1 detractor of 2 answers -> 50 % - 50 % = 0
        await expect(sue.tid("sum-nps")).to_have_text("0")
        row = sue.page.locator("[data-testid=agent-table] tr[data-row=alice]")
        await expect(row.locator("td[data-col=answered]")).to_have_text("2")
        await expect(row.locator("td[data-col=csat]")).to_have_text("50%")
        await expect(row.locator("td[data-col=promoters]")).to_have_text("1")
        await expect(row.locator("td[data-col=detractors]")).to_have_text("1")
        topic = sue.page.locator("[data-testid=topic-table] tr[data-row=general]")
        await expect(topic.locator("td[data-col=offered]")).to_have_text("3")
        bars = sue.page.locator("[data-testid=bar-chart] rect.s-offered")
        assert await bars.count() >= 1
        heights = [float(await b.get_attribute("height") or 0) for b in await bars.all()]
        assert sum(1 for h in heights if h > 0) == 1  # all three in this hour
        # the CSV export holds the same figures as the API
        async with sue.page.expect_download() as info:
            await sue.tid("agent-table-csv").click()
        download = await info.value
        path = await download.path()
        content = await asyncio.to_thread(Path(path).read_text, "utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(content)))
        await download.delete()
        status, grouped = await http(
            "GET", cluster.urls[0] + "/api/metrics?group=agent&from="
            + str(int(time.time() * 1000) // 86_400_000 * 86_400_000),
            token=cluster.admin_token,
        )
        assert status == 200
        by_agent = {r["agent"]: r for r in rows}
        api_alice = grouped["groups"]["alice"]
        assert int(by_agent["alice"]["answered"]) == api_alice["answered"] == 2
        assert int(by_agent["alice"]["offered"]) == api_alice["offered"]
        assert float(by_agent["alice"]["csat"]) == api_alice["csat"] == 0.5
        assert closer.page_errors() == []
    finally:
        cluster.stop()


# ---- reconnection -----------------------------------------------------------------------
@pytest.mark.timeout(120)
async def test_console_reconnects_after_a_server_crash_and_resumes_without_duplicates(
    browser: Browser, redis_url: str, closer: Closer
) -> None:
    cluster = await start_cluster(redis_url, offline_grace_s="60", presence_ttl_s="60")
    try:
        await cluster.add_agent("alice", name="Alice", capacity=2)
        alice = closer.console(await open_console(browser, cluster.urls[0], "alice"))
        v = closer.client(await ChatClient.visitor(cluster.urls[0], reconnect=True))
        chat = (await v.start(name="Ivan"))["id"]
        await v.say(chat, "one")
        await accept(await offered_to([alice], chat), chat)
        await write(alice, "two")
        await v.wait_messages(chat, 2, scaled(10))
        await alice.tid("composer").fill("a draft survives")
        server = cluster.servers[0]
        server.kill()
        server.log.close()
        await expect(alice.page.locator(".conn-reconnecting")).to_have_count(1)
        await asyncio.to_thread(server.start)
        await alice.page.locator(".conn-open").wait_for(state="attached", timeout=WAIT_MS)
        await until(lambda: _connected(v), "the visitor's reconnection")
        await v.say(chat, "three")
        await v.say(chat, "four")
        await expect(alice.tid("msg-text")).to_have_text(
            ["one", "two", "three", "four"], timeout=WAIT_MS
        )
        await expect(alice.tid("composer")).to_have_value("a draft survives")
        await write(alice, "five")
        await v.wait_messages(chat, 5, scaled(10))
        assert texts(v, chat) == ["one", "two", "three", "four", "five"]
        assert closer.page_errors() == []
    finally:
        cluster.stop()


@pytest.mark.timeout(180)
async def test_console_finds_a_silent_socket_dead_by_its_ping_and_resumes_without_duplicates(
    browser: Browser, redis_url: str, closer: Closer
) -> None:
    """A half-open socket: the connection stays up but the server's frames are lost on the
    way.  Only the link's ping (clients/link.ts) notices; the console drops the socket,
    reconnects and resumes the chat from its last seq: what it missed comes once."""
    proxy = Proxy(0)
    await proxy.start()
    cluster = await start_cluster(
        redis_url, agent_origins=proxy.url, offline_grace_s="60", presence_ttl_s="60"
    )
    proxy.target_port = cluster.servers[0].port
    try:
        await cluster.add_agent("alice", name="Alice", capacity=2)
        alice = closer.console(await open_console(browser, proxy.url, "alice"))
        v = closer.client(await ChatClient.visitor(cluster.urls[0]))
        chat = (await v.start(name="Ivan"))["id"]
        await v.say(chat, "one")
        await accept(await offered_to([alice], chat), chat)
        await expect(alice.tid("msg-text")).to_have_text(["one"], timeout=WAIT_MS)

        proxy.freeze_downstream()
        await v.say(chat, "two")
        await v.say(chat, "three")
        # no pong within the link's time: the socket is dropped (the new handshake's answer
        # is lost too, so the console stays "reconnecting" until the network is back)
        await expect(alice.page.locator(".conn-reconnecting")).to_have_count(
            1, timeout=scaled(60) * 1000
        )
        proxy.cut()  # the hanging handshake fails at once; the next one goes through
        proxy.restore()
        await alice.page.locator(".conn-open").wait_for(state="attached", timeout=WAIT_MS)
        await expect(alice.tid("msg-text")).to_have_text(["one", "two", "three"], timeout=WAIT_MS)

        await v.say(chat, "four")
        await write(alice, "five")
        await expect(alice.tid("msg-text")).to_have_text(
            ["one", "two", "three", "four", "five"], timeout=WAIT_MS
        )
        await v.wait_messages(chat, 5, scaled(10))
        assert texts(v, chat) == ["one", "two", "three", "four", "five"]
        assert closer.page_errors() == []
    finally:
        cluster.stop()
        await proxy.stop()


async def _connected(client: ChatClient) -> bool:
    return client.connected.is_set() and client.connects >= 2
