"""Embedding the widget in someone else's page: the command queue before load, languages
and right-to-left layout, hostile host CSS, phone screens, foreign origins, bundle size."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from tests.browser.test_widget_support import (
    BUNDLE,
    SIZE_BUDGET_GZIP,
    SOURCES,
    W,
    accept,
    browser_page,
    chat_id_of,
    clients,
    gzip_size,
    host_page,
    running,
    site,
    start_chat,
)

pytestmark = pytest.mark.timeout(90)

PROBE_STYLE = """() => {
  const out = {};
  for (const sel of ['p.probe', 'button.probe', 'body']) {
    const cs = getComputedStyle(document.querySelector(sel));
    out[sel] = [cs.fontFamily, cs.fontSize, cs.color, cs.backgroundColor, cs.boxSizing,
                cs.lineHeight, cs.margin, cs.padding, cs.direction, cs.borderRadius].join('|');
  }
  return out;
}"""


async def test_command_queue_before_load_events_keyboard_and_no_style_leak(
    browser: Browser, redis_url: str
) -> None:
    async with (
        site() as shop,
        running(redis_url, widget_origins=shop.origin) as cluster,
        browser_page(browser) as (_, page),
    ):
        before = (
            f"window.styleBefore = ({PROBE_STYLE})();"
            "LiveChat('init', {siteKey: 'shop-1', locale: 'uk', color: '#0b6e4f',"
            " title: 'Крамниця'});"
            "LiveChat('setVisitor', {name: 'Оксана', email: 'oksana@example.com'});"
            "LiveChat('open');"
        )
        html = host_page(cluster.urls[0] + "/widget.js", before=before,
                         body='<button class="probe">Buy</button>')
        await page.goto(shop.page("/", html))
        w = W(page)
        # every call queued before the script loaded has run, in order
        await expect(w.panel).to_be_visible()
        assert await w.events("ready") == [None]
        assert len(await w.events("open")) == 1
        await expect(w.title).to_have_text("Крамниця")
        # nobody is online: the leave-a-message form, in Ukrainian
        await expect(w.button("Надіслати повідомлення")).to_be_visible()
        await expect(w.field("name")).to_have_value("Оксана")
        await expect(w.field("email")).to_have_value("oksana@example.com")
        await expect(w.field("name")).to_be_focused()
        await expect(w.launcher).to_have_css("background-color", "rgb(11, 110, 79)")
        assert await page.evaluate("typeof LiveChat.q") == "undefined"

        # the widget's styles do not leak into the page
        after = await page.evaluate(PROBE_STYLE)
        assert after == await page.evaluate("window.styleBefore")

        # commands after load; keyboard use; focus goes back to the launcher
        await page.evaluate("LiveChat('close')")
        await expect(w.panel).to_be_hidden()
        assert len(await w.events("close")) == 1
        await expect(w.launcher).to_have_attribute("aria-label", "Відкрити чат")
        await expect(w.launcher).to_have_attribute("aria-expanded", "false")
        await w.launcher.focus()
        await page.keyboard.press("Enter")
        await expect(w.panel).to_be_visible()
        await expect(w.launcher).to_have_attribute("aria-expanded", "true")
        await expect(w.field("name")).to_be_focused()
        await page.keyboard.press("Tab")
        await expect(w.field("email")).to_be_focused()
        await page.keyboard.press("Escape")
        await expect(w.panel).to_be_hidden()
        await expect(w.launcher).to_be_focused()

        await page.evaluate("LiveChat('setLocale', 'en'); LiveChat('open')")
        await expect(w.button("Send message")).to_be_visible()
        await page.evaluate("LiveChat('hide')")
        await expect(w.launcher).to_be_hidden()
        await expect(w.panel).to_be_hidden()
        await page.evaluate("LiveChat('show')")
        await expect(w.launcher).to_be_visible()

        # the widget's storage is namespaced by server and site key; the token is
        # there, never in a URL
        keys = await page.evaluate("Object.keys(localStorage)")
        assert any(k.endswith(":shop-1:token") for k in keys), keys


async def test_arabic_page_gets_a_mirrored_right_to_left_widget(
    browser: Browser, redis_url: str
) -> None:
    async with running(redis_url) as cluster, browser_page(browser, locale="ar") as (_, page):
        token = await cluster.add_agent("amal", name="أمل")
        agent = await cluster.agent(token)
        async with clients(agent), site() as shop:
            html = host_page(cluster.urls[0] + "/widget.js", lang="ar")
            await page.goto(shop.page("/", html))
            w = W(page)
            await expect(w.launcher).to_have_attribute("aria-label", "افتح المحادثة")
            await w.open()
            await expect(w.root).to_have_attribute("dir", "rtl")
            await expect(w.root).to_have_attribute("lang", "ar")
            await w.field("name").fill("سارة")
            await w.button("ابدأ المحادثة").click()
            chat_id = await chat_id_of(w)
            await accept(agent, chat_id)
            await expect(w.title).to_have_text("أمل")
            await w.say("مرحبا")
            await agent.wait_messages(chat_id, 1)
            await agent.say(chat_id, "أهلا وسهلا")
            await w.wait_texts(["مرحبا", "أهلا وسهلا"])

            width = page.viewport_size["width"]  # type: ignore[index]
            launcher = await w.launcher.bounding_box()
            panel = await w.panel.bounding_box()
            mine = await w.mine.locator(".bubble").bounding_box()
            theirs = await w.theirs.locator(".bubble").bounding_box()
            assert launcher and panel and mine and theirs
            # mirrored: launcher and panel on the left, own messages on the left
            assert launcher["x"] < width / 2 and panel["x"] < width / 2
            assert mine["x"] < theirs["x"]
            assert await w.input.evaluate("e => getComputedStyle(e).direction") == "rtl"
            await expect(w.mine.locator(".state")).to_have_text(re.compile("تم"))

            # switching language at run time flips the layout back
            await page.evaluate("LiveChat('setLocale', 'en')")
            await expect(w.root).to_have_attribute("dir", "ltr")
            launcher = await w.launcher.bounding_box()
            mine = await w.mine.locator(".bubble").bounding_box()
            theirs = await w.theirs.locator(".bubble").bounding_box()
            assert launcher and mine and theirs
            assert launcher["x"] > width / 2 and mine["x"] > theirs["x"]
            await expect(w.end_button).to_have_attribute("aria-label", "End chat")


HOSTILE_CSS = """<style>
html, body { font-size: 0 !important; line-height: 0 !important; color: transparent !important;
  visibility: hidden !important; direction: rtl !important; letter-spacing: 20px !important;
  pointer-events: none !important; white-space: nowrap !important; cursor: none !important;
  text-transform: uppercase !important; font-family: "Comic Sans MS", cursive !important; }
body * { display: none !important; position: static !important; width: 0 !important;
  height: 0 !important; opacity: 0 !important; margin: 77px !important; z-index: -1 !important;
  transform: scale(0) !important; filter: blur(10px) !important; }
lc-chat-widget, div, button, input, textarea, form, span, p, ol, li, label, select {
  all: unset !important; display: none !important; }
.launcher, .panel, .badge, .bubble, button, input { display: none !important; }
*::before, *::after { content: "HOSTILE" !important; }
</style>"""


async def test_hostile_host_css_does_not_break_the_widget(
    browser: Browser, redis_url: str
) -> None:
    async with (
        site() as shop,
        running(redis_url, widget_origins=shop.origin) as cluster,
        browser_page(browser) as (_, page),
    ):
        token = await cluster.add_agent("alice", name="Alice")
        agent = await cluster.agent(token)
        async with clients(agent):
            html = host_page(cluster.urls[0] + "/widget.js", head=HOSTILE_CSS)
            await page.goto(shop.page("/", html))
            w = W(page)
            await expect(w.launcher).to_be_visible()
            box = await w.launcher.bounding_box()
            assert box and box["width"] == 60 and box["height"] == 60
            await w.open()  # a real click: visible, on top, and receives pointer events
            panel = await w.panel.bounding_box()
            assert panel and panel["width"] == 376
            name = w.field("name")
            # retried: the form may be rebuilt once as the widget's socket brings the
            # server's availability (a field of a replaced form has no computed style)
            for prop, value in [("font-size", "14px"), ("visibility", "visible"),
                                ("color", "rgb(27, 31, 36)"), ("letter-spacing", "normal"),
                                ("direction", "ltr"), ("text-transform", "none")]:
                await expect(name).to_have_css(prop, value)
            await start_chat(w)
            chat_id = await chat_id_of(w)
            await accept(agent, chat_id)
            await w.say("still works")
            await agent.wait_messages(chat_id, 1)
            await agent.say(chat_id, "it does")
            await w.wait_texts(["still works", "it does"])
            assert "HOSTILE" not in await w.panel.inner_text()


async def test_phone_screen_gets_a_full_screen_panel(browser: Browser, redis_url: str) -> None:
    async with (
        running(redis_url) as cluster,
        browser_page(browser, viewport={"width": 375, "height": 667}) as (_, page),
    ):
        await page.goto(cluster.urls[0] + "/demo/")
        w = W(page)
        await w.open()
        box = await w.panel.bounding_box()
        assert box == {"x": 0, "y": 0, "width": 375, "height": 667}
        await expect(w.launcher).to_be_hidden()
        await w.minimize.click()
        await expect(w.panel).to_be_hidden()
        await expect(w.launcher).to_be_visible()
        await expect(w.launcher).to_be_focused()


async def test_a_site_not_allowed_gets_no_visitor_socket(browser: Browser, redis_url: str) -> None:
    async with (
        site() as allowed,
        site() as other,
        running(redis_url, widget_origins=allowed.origin) as cluster,
        browser_page(browser) as (_, page),
    ):
        sockets: list[object] = []
        frames: list[object] = []

        def on_socket(ws: object) -> None:
            sockets.append(ws)
            ws.on("framereceived", lambda data: frames.append(data))  # type: ignore[attr-defined]

        page.on("websocket", on_socket)
        await page.goto(other.page("/", host_page(cluster.urls[0] + "/widget.js")))
        w = W(page)
        await w.open()
        await page.wait_for_timeout(1500)
        await expect(w.body).to_contain_text("Connecting…")
        assert sockets and frames == []  # tried, refused before any frame
        assert await page.evaluate("Object.keys(localStorage).length") == 0


HTML_SINKS = [re.compile(p) for p in (
    r"\.(innerHTML|outerHTML)\s*[+]?=", r"insertAdjacentHTML\s*\(", r"document\.write(ln)?\s*\(",
    r"\beval\s*\(", r"new Function\s*\(", r"createContextualFragment", r"DOMParser",
)]


def test_bundle_is_small_and_never_parses_html() -> None:
    size = gzip_size()
    print(f"\nwidget.js: {BUNDLE.stat().st_size} bytes, {size} bytes gzipped (-9)")
    assert size <= SIZE_BUDGET_GZIP, f"widget.js is {size} bytes gzipped, over the budget"
    for path in [*SOURCES.glob("*.ts"), SOURCES.parents[1] / "clients" / "link.ts"]:
        code = path.read_text(encoding="utf-8")
        for sink in HTML_SINKS:
            assert not sink.search(code), f"{path.name} uses {sink.pattern}"
    bundle = BUNDLE.read_text(encoding="ascii")
    assert bundle.startswith("/*! chatserver visitor widget")
    for sink in HTML_SINKS:
        assert not sink.search(bundle), f"the bundle uses {sink.pattern}"
