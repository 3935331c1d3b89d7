"""Issue 15, part 5: the i18n and accessibility gaps, in a real chromium.

- a figure with a unit (the Live tile's average speed of answer) reads in the language's
  order in Arabic: the Arabic unit, the number first (on the right), not "s 14.6";
- the digits: Latin in Arabic, in the widget and the console alike, as docs/widget.md says;
- the reports' tables fit a 1280 px window and scroll inside a box that Tab reaches (a
  labelled region, translated, with a visible focus ring);
- the Alt+A / Alt+D hints of the offer bar meet WCAG AA contrast (4.5:1), computed here
  from the browser's computed colours."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.test_console import (
    WAIT_MS,
    Closer,
    open_console,
    set_language,
    start_cluster,
    until,
)
from tests.browser.test_widget_support import (
    W,
    accept_next,
    browser_page,
    clients,
    running,
    start_chat,
)
from tests.harness import scaled

ARABIC_INDIC = re.compile("[\u0660-\u0669\u06f0-\u06f9]")

# Where, in the element, the number and the unit are drawn: the rectangles of the two
# parts of its text (the number is the run of digits, the unit the letters).
GEOMETRY = """(el) => {
  const node = document.createTreeWalker(el, NodeFilter.SHOW_TEXT).nextNode();
  const text = node.textContent;
  const num = text.match(/[0-9][0-9.,]*/);
  const unit = text.match(/\\p{L}+/u);
  const rect = (start, end) => {
    const r = document.createRange();
    r.setStart(node, start);
    r.setEnd(node, end);
    const b = r.getBoundingClientRect();
    return { left: b.left, right: b.right };
  };
  return {
    text,
    num: rect(num.index, num.index + num[0].length),
    unit: rect(unit.index, unit.index + unit[0].length),
  };
}"""

# WCAG 2 contrast of an element's text against what is behind it (its own background, else
# its ancestors', composited over white).
CONTRAST = """(el) => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const bg = parse(getComputedStyle(e).backgroundColor);
    if (bg.a > 0) layers.push(bg);
    if (bg.a >= 1) break;
  }
  let under = { r: 255, g: 255, b: 255 };
  for (const l of layers.reverse()) {
    under = { r: l.r * l.a + under.r * (1 - l.a), g: l.g * l.a + under.g * (1 - l.a),
              b: l.b * l.a + under.b * (1 - l.a) };
  }
  const fg0 = parse(getComputedStyle(el).color);
  const fg = { r: fg0.r * fg0.a + under.r * (1 - fg0.a), g: fg0.g * fg0.a + under.g * (1 - fg0.a),
               b: fg0.b * fg0.a + under.b * (1 - fg0.a) };
  const lum = (c) => {
    const ch = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * ch(c.r) + 0.7152 * ch(c.g) + 0.0722 * ch(c.b);
  };
  const [a, b] = [lum(fg), lum(under)].sort((x, y) => y - x);
  return { ratio: (a + 0.05) / (b + 0.05), color: getComputedStyle(el).color,
           background: `rgb(${under.r}, ${under.g}, ${under.b})`,
           size: getComputedStyle(el).fontSize };
}"""


# Makes this chromium behave like one with older locale data, where "ar" alone meant
# Arabic-Indic digits: a bare "ar" given to Intl's formatters becomes "ar-u-nu-arab".
OLD_ARABIC_DEFAULT = """(() => {
  for (const name of ["NumberFormat", "DateTimeFormat"]) {
    const Real = Intl[name];
    const fix = (l) => (l === "ar" ? "ar-u-nu-arab" : l);
    function Patched(locales, options) {
      const ls = Array.isArray(locales) ? locales.map(fix) : fix(locales);
      return new Real(ls, options);
    }
    Patched.prototype = Real.prototype;
    Patched.supportedLocalesOf = Real.supportedLocalesOf;
    Intl[name] = Patched;
  }
})();"""


async def answered_chats(cluster: Any, closer: Closer, n: int = 2) -> None:
    """``n`` chats answered and closed by "bob" (a Python agent), then bob goes away."""
    bob = closer.client(await cluster.agent(await cluster.add_agent("bob", capacity=2)))
    for i in range(n):
        v = closer.client(await cluster.visitor())
        chat = (await v.start(name=f"V{i}"))["id"]
        await bob.wait_for(
            lambda f, c=chat: f["type"] == "offer" and f["chat"]["id"] == c, scaled(10)
        )
        await bob.request({"type": "accept", "chat": chat})
        await bob.say(chat, "hello")
        await bob.request({"type": "close", "chat": chat, "outcome": "resolved"})
    await bob.request({"type": "status", "status": "away"})


async def figure_order(page: Page, testid: str) -> dict[str, Any]:
    el = page.locator(f"[data-testid={testid}] bdi")
    await expect(el).to_have_count(1)
    geometry: dict[str, Any] = await el.evaluate(GEOMETRY)
    return geometry


@pytest.mark.timeout(180)
async def test_live_tile_reports_and_offer_bar_in_three_languages(
    browser: Browser, redis_url: str
) -> None:
    cluster = await start_cluster(redis_url)
    closer = Closer()
    try:
        await cluster.add_agent("sue", name="Sue", role="supervisor", capacity=0)
        await cluster.add_agent("alice", name="Alice", capacity=2)
        await answered_chats(cluster, closer)
        sue = closer.console(await open_console(browser, cluster.urls[0], "sue"))
        page = sue.page

        # 1. the Live tile: "0.4 s" in English, "0.4 ث" in Arabic with the number on the
        # right (read first), never the English unit; Latin digits (see 2.)
        await sue.tid("tab-live").click()
        asa = sue.tid("live-asa")
        await expect(asa).to_have_text(re.compile(r"^[0-9.]+ s$"), timeout=WAIT_MS)
        en = await figure_order(page, "live-asa")
        assert en["num"]["right"] <= en["unit"]["left"] + 0.5, en  # LTR: number, then unit
        await set_language(sue, "ar")
        await expect(asa).to_have_text(re.compile(r"^[0-9.]+ ث$"))
        ar = await figure_order(page, "live-asa")
        assert " s" not in ar["text"] and not ARABIC_INDIC.search(ar["text"]), ar
        assert ar["num"]["left"] >= ar["unit"]["right"] - 0.5, ar  # RTL: number on the right
        await expect(sue.tid("live-sl")).not_to_contain_text(ARABIC_INDIC)
        await expect(sue.tid("live-abandon")).to_have_text(
            re.compile("^[0-9.]+[\u200e\u200f]*%[\u200e\u200f]*$")
        )
        await set_language(sue, "uk")
        await expect(asa).to_have_text(re.compile("^[0-9,]+ \u0441$"))  # 14,6 and the Cyrillic es
        # the same figure in the reports' summary and tables, in Arabic
        await set_language(sue, "ar")
        await sue.tid("tab-reports").click()
        await expect(sue.tid("sum-asa")).to_have_text(re.compile(r"^[0-9.]+ ث$"), timeout=WAIT_MS)
        rep = await figure_order(page, "sum-asa")
        assert rep["num"]["left"] >= rep["unit"]["right"] - 0.5, rep
        cell = page.locator(
            "[data-testid=agent-table] tr[data-row=bob] td[data-col=avg_speed_of_answer_s]"
        )
        await expect(cell).to_have_text(re.compile(r"^[0-9.]+ ث$"))
        assert not ARABIC_INDIC.search(await page.locator("[data-testid=reports]").inner_text())

        # 3. the reports' tables at 1280 x 800, each language: the page does not scroll
        # sideways; each table's box is a labelled region that Tab reaches, with a ring
        labels = set()
        scrolled = 0
        for lang in ("en", "ar", "uk"):
            await set_language(sue, lang)
            for table in ("agent-table", "topic-table"):
                box = sue.tid(f"{table}-scroll")
                await expect(box).to_be_visible(timeout=WAIT_MS)
                await expect(box).to_have_attribute("tabindex", "0")
                await expect(box).to_have_attribute("role", "region")
                label = await box.get_attribute("aria-label")
                title = await page.locator(
                    f"section:has([data-testid={table}-scroll]) h2"
                ).text_content()
                assert label and title in label, (label, title)
                labels.add(label)
                fits = await page.evaluate(
                    """(sel) => {
                      const box = document.querySelector(sel).getBoundingClientRect();
                      const root = document.documentElement;
                      const reports = document.querySelector('[data-testid=reports]');
                      return { page: root.scrollWidth <= root.clientWidth,
                               reports: reports.scrollWidth <= reports.clientWidth,
                               left: box.left, right: box.right, width: root.clientWidth };
                    }""",
                    f"[data-testid={table}-scroll]",
                )
                assert fits["page"] and fits["reports"], (lang, table, fits)
                assert fits["left"] >= 0 and fits["right"] <= fits["width"], (lang, table, fits)
                # keyboard: from the table's CSV button, Tab lands on its scroll box
                await sue.tid(f"{table}-csv").focus()
                await page.keyboard.press("Tab")
                await expect(box).to_be_focused()
                ring = await box.evaluate(
                    "(e) => [getComputedStyle(e).outlineStyle, getComputedStyle(e).outlineWidth]"
                )
                assert ring[0] != "none" and float(ring[1].removesuffix("px")) >= 2, (lang, ring)
                # the table fits its box in English and Arabic (the headings wrap); the
                # Ukrainian headings' long words make it wider: the arrow keys scroll it
                wide = await box.evaluate("(e) => e.scrollWidth > e.clientWidth")
                assert not wide or lang == "uk", (lang, table)
                if wide:
                    scrolled += 1
                    before = await box.evaluate("(e) => Math.abs(e.scrollLeft)")
                    for _ in range(5):
                        await page.keyboard.press("ArrowLeft" if lang == "ar" else "ArrowRight")
                    moved = f"(e) => Math.abs(e.scrollLeft) > {before}"

                    async def scrolled_on(b: Any = box, js: str = moved) -> bool:
                        return bool(await b.evaluate(js))

                    await until(scrolled_on, f"{table} scrolled by the keyboard ({lang})")
        assert scrolled >= 1  # the keyboard scrolling was exercised
        assert len(labels) == 6, labels  # translated: a different label per table and language

        # 4. the Alt+A / Alt+D hints on an offer: 4.5:1 at least, light and dark preference
        # (the console has one theme; the check holds whatever the system asks for)
        alice = closer.console(await open_console(browser, cluster.urls[0], "alice"))
        v = closer.client(await cluster.visitor())
        await v.start(name="Offered")
        offer = alice.tid("offer")
        await expect(offer).to_have_count(1, timeout=WAIT_MS)
        for scheme in ("light", "dark"):
            await alice.page.emulate_media(color_scheme=scheme)
            for button in ("accept", "decline"):
                kbd = offer.locator(f"[data-testid={button}] kbd")
                await alice.page.mouse.move(0, 0)
                c = await kbd.evaluate(CONTRAST)
                assert c["ratio"] >= 4.5, (scheme, button, c)
                await offer.locator(f"[data-testid={button}]").hover()
                c = await kbd.evaluate(CONTRAST)
                assert c["ratio"] >= 4.5, (scheme, button, "hover", c)
        assert closer.page_errors() == []
    finally:
        await closer.close()
        cluster.stop()


@pytest.mark.timeout(120)
async def test_arabic_widget_shows_the_digits_the_docs_promise(
    browser: Browser, redis_url: str
) -> None:
    """docs/widget.md: Latin digits in Arabic (CLDR's default for "ar"), pinned with
    "ar-u-nu-latn" so that every browser shows the same; the console agrees."""
    async with (
        running(redis_url) as cluster,
        browser_page(browser, viewport={"width": 1000, "height": 720}) as (_, page),
    ):
        token = await cluster.add_agent("alice", name="Alice", capacity=1)
        agent = await cluster.agent(token)
        busy = await cluster.visitor()
        async with clients(agent, busy):
            await busy.start(name="Busy")
            await accept_next(agent)
            # a browser whose locale data predates CLDR 42 (Arabic-Indic digits for a bare
            # "ar"): the widget asks for Latin digits, so it shows them there too
            await page.add_init_script(OLD_ARABIC_DEFAULT)
            await page.goto(cluster.urls[0] + "/demo/")
            assert await page.evaluate("new Intl.NumberFormat('ar').format(1)") == "\u0661"
            w = W(page)
            await w.open()
            await start_chat(w)
            await expect(w.position).to_be_visible(timeout=WAIT_MS)
            await page.evaluate("LiveChat('setLocale', 'ar')")
            await expect(w.root).to_have_attribute("lang", "ar")
            # the queue position: "ترتيبك في قائمة الانتظار: 1", Latin digit
            await expect(w.position).to_contain_text("ترتيبك")
            await expect(w.position).to_have_text(re.compile(r"[0-9]"))
            assert not ARABIC_INDIC.search(await w.position.inner_text())
    # (the console's Arabic figures: the test above)
