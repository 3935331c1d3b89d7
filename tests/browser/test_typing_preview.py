"""Typing preview in real browsers: the visitor types in the widget, the agent's console
shows the draft (in English, Arabic and Ukrainian) and clears it when the message
arrives; with the setting off the widget sends no draft at all and the console shows the
plain indicator.  Real ``chatserver serve`` processes, Debian's chromium."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.test_console import (
    WAIT_MS,
    Closer,
    Console,
    accept,
    closer,  # noqa: F401 (fixture)
    offered_to,
    open_chat,
    open_console,
    set_language,
    start_cluster,
)
from tests.browser.test_widget_support import W, browser_page, chat_id_of, start_chat
from tests.harness import Cluster

pytestmark = pytest.mark.timeout(120)


@contextlib.asynccontextmanager
async def visitor_and_agent(
    browser: Browser, cluster: Cluster, closer: Closer  # noqa: F811
) -> AsyncIterator[tuple[Console, W, list[dict[str, Any]], str]]:
    """Alice's console and a widget page whose chat (visitor "Ada") she has accepted and
    opened; with the typing frames the page sends, and the chat's id."""
    await cluster.add_agent("alice", name="Alice", capacity=2)
    console = closer.console(await open_console(browser, cluster.urls[0], "alice"))
    async with browser_page(browser) as (_, page):
        sent = record_typing_frames(page)
        await page.goto(cluster.urls[0] + "/demo/")
        w = W(page)
        await start_chat(w, name="Ada")
        chat_id = await chat_id_of(w)
        await accept(await offered_to([console], chat_id), chat_id)
        await open_chat(console, chat_id)
        await expect(w.title).to_have_text("Alice", timeout=WAIT_MS)
        yield console, w, sent, chat_id


def record_typing_frames(page: Page) -> list[dict[str, Any]]:
    """Every ``typing`` frame the page's sockets send (decoded), as they go."""
    sent: list[dict[str, Any]] = []

    def on_frame(payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            frame = msgspec.msgpack.decode(payload)
            if isinstance(frame, dict) and frame.get("type") == "typing":
                sent.append(frame)

    page.on("websocket", lambda ws: ws.on("framesent", on_frame))
    return sent


async def test_console_shows_the_visitors_draft_in_three_languages(
    browser: Browser, redis_url: str, closer: Closer  # noqa: F811
) -> None:
    cluster = await start_cluster(redis_url, typing_preview="true")
    try:
        async with visitor_and_agent(browser, cluster, closer) as (console, w, sent, chat_id):
            typing = console.tid("typing")
            draft = console.tid("typing-preview")
            labels = {"en": "Ada is typing:", "ar": "Ada يكتب الآن:", "uk": "Ada друкує:"}
            words = {
                "en": "Do you ship to Kyiv", "ar": " مرحبا، هل تشحنون", "uk": " Привіт, доставка",
            }
            so_far = ""
            for lang in ("en", "ar", "uk"):
                await set_language(console, lang)
                await w.input.press_sequentially(words[lang])
                so_far += words[lang]
                # the newest draft arrives (the widget sends the last one after its interval)
                await expect(draft).to_have_text(so_far, timeout=WAIT_MS)
                await expect(typing).to_contain_text(labels[lang])
                style = await draft.evaluate("e => getComputedStyle(e).fontStyle")
                assert style == "italic", (lang, style)

            # sending the message clears the draft; the message shows instead
            await w.input.press("Enter")
            await expect(console.tid("msg-text").last).to_have_text(so_far, timeout=WAIT_MS)
            await expect(typing).to_have_count(0, timeout=WAIT_MS)
            await expect(draft).to_have_count(0)

            # stopping (the visitor empties the box) clears a draft too
            await w.input.press_sequentially("Also")
            await expect(draft).to_have_text("Also", timeout=WAIT_MS)
            await w.input.fill("")
            await expect(typing).to_have_count(0, timeout=WAIT_MS)

            drafts = [f["text"] for f in sent if "text" in f]
            assert drafts and drafts[-1] == "Also", drafts
            assert all(f["on"] is True for f in sent if "text" in f)
            assert sent[-1] == {"type": "typing", "chat": chat_id, "on": False}
        assert closer.page_errors() == []
    finally:
        cluster.stop()


async def test_with_preview_off_the_widget_sends_no_draft(
    browser: Browser, redis_url: str, closer: Closer  # noqa: F811
) -> None:
    cluster = await start_cluster(redis_url)
    try:
        async with visitor_and_agent(browser, cluster, closer) as (console, w, sent, _):
            await w.input.press_sequentially("My card number is")
            await expect(console.tid("typing")).to_contain_text(
                "Ada is typing…", timeout=WAIT_MS
            )
            await expect(console.tid("typing-preview")).to_have_count(0)
            await w.input.press("Enter")
            await expect(console.tid("msg-text").last).to_have_text("My card number is",
                                                                    timeout=WAIT_MS)
            assert sent, "the widget sent no typing frame"
            assert not any("text" in f for f in sent), sent
        assert closer.page_errors() == []
    finally:
        cluster.stop()
