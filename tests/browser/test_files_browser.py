"""File attachments in real browsers (Debian's chromium) against a real server: the widget,
embedded on another site (cross-origin: CORS), sends an image that the agent console
previews; the agent sends a PDF from the console that the visitor downloads from the
widget; a disguised file is refused with a message in the visitor's language (en, ar,
uk), and the attach button is labelled in it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser.test_console import (
    Closer,
    accept,
    offered_to,
    open_chat,
    open_console,
    shot,
)
from tests.browser.test_widget_support import (
    W,
    browser_page,
    host_page,
    running,
    site,
    start_chat,
)
from tests.test_files import HTML, PDF, png_bytes

WAIT_MS = 15_000


@contextlib.asynccontextmanager
async def closing(closer: Closer) -> AsyncIterator[Closer]:
    try:
        yield closer
    finally:
        await closer.close()

START = {"en": "Start chat", "ar": "ابدأ المحادثة", "uk": "Почати чат"}
ATTACH = {"en": "Attach a file", "ar": "إرفاق ملف", "uk": "Прикріпити файл"}
REFUSED = {
    "en": "This kind of file can't be sent. Images and PDF files can.",
    "ar": "لا يمكن إرسال هذا النوع من الملفات. يمكن إرسال الصور وملفات PDF.",
    "uk": "Такий файл надіслати не можна. Можна надсилати зображення і файли PDF.",  # noqa: RUF001
}


@pytest.mark.timeout(150)
async def test_widget_sends_an_image_console_previews_it_agent_sends_a_pdf_visitor_downloads(
    browser: Browser, redis_url: str, tmp_path: Path
) -> None:
    closer = Closer()
    async with (
        site() as shop,
        running(redis_url, widget_origins=shop.origin) as cluster,
        browser_page(browser, downloads=True) as (_, page),
        closing(closer),
    ):
        await cluster.add_agent("alice", name="Alice", capacity=2)
        agent = closer.console(await open_console(browser, cluster.urls[0], "alice"))
        await page.goto(shop.page("/", host_page(cluster.urls[0] + "/widget.js")))
        w = W(page)
        await start_chat(w, name="Ada")
        chat_id = str(await page.evaluate("window.events.filter(e => e[0] == 'chatStarted')"
                                          "[0][1].id"))
        await accept(await offered_to([agent], chat_id), chat_id)
        await open_chat(agent, chat_id)

        # the visitor sends an image: a preview in the widget and in the console
        hostile = "<img src=x onerror=alert(1)>.png"  # SECURITY.md attack 9: a file name
        image = tmp_path / hostile
        image.write_bytes(png_bytes())
        attach = page.locator("lc-chat-widget [data-lc=attach]")
        await expect(attach).to_have_attribute("aria-label", ATTACH["en"])
        await page.locator("lc-chat-widget [data-lc=file-input]").set_input_files(str(image))
        mine = page.locator("lc-chat-widget .msg.me img.preview")
        await expect(mine).to_have_count(1, timeout=WAIT_MS)
        await page.wait_for_function(
            "() => { const i = document.querySelector('lc-chat-widget').shadowRoot"
            ".querySelector('.msg.me img.preview');"
            " return i && i.complete && i.naturalWidth == 1 }",
            timeout=WAIT_MS,
        )
        preview = agent.tid("file-image")
        await expect(preview).to_have_count(1, timeout=WAIT_MS)
        await agent.page.wait_for_function(
            "() => { const i = document.querySelector('[data-testid=file-image]');"
            " return i && i.complete && i.naturalWidth == 1 }",
            timeout=WAIT_MS,
        )
        await expect(preview).to_have_attribute("alt", hostile)
        await expect(agent.tid("file-image-link")).to_contain_text(hostile)  # as text
        assert await agent.page.locator("img[src=x]").count() == 0
        assert await page.locator("lc-chat-widget img[src=x]").count() == 0

        # the agent sends a PDF from the console; the visitor downloads it
        pdf = tmp_path / "invoice.pdf"
        pdf.write_bytes(PDF)
        await agent.tid("attach").set_input_files(str(pdf))
        await expect(agent.tid("file-link")).to_contain_text("invoice.pdf", timeout=WAIT_MS)
        link = page.locator("lc-chat-widget .msg.them [data-lc=file-link]")
        await expect(link).to_contain_text("invoice.pdf", timeout=WAIT_MS)
        await expect(link).not_to_have_attribute("href", "#", timeout=WAIT_MS)
        await shot(agent.page, "console-files")
        await shot(page, "widget-files")
        async with page.expect_download(timeout=WAIT_MS) as download_info:
            await link.click()
        download = await download_info.value
        assert download.suggested_filename == "invoice.pdf"
        saved = tmp_path / "downloaded.pdf"
        await download.save_as(saved)
        assert saved.read_bytes() == PDF
        assert not closer.page_errors()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("lang", ["en", "ar", "uk"])
async def test_widget_refuses_a_disguised_file_in_the_visitors_language(
    browser: Browser, redis_url: str, tmp_path: Path, lang: str
) -> None:
    closer = Closer()
    async with (
        site() as shop,
        running(redis_url, widget_origins=shop.origin) as cluster,
        browser_page(browser) as (_, page),
        closing(closer),
    ):
        token = await cluster.add_agent("bob", capacity=1)
        closer.client(await cluster.agent(token))  # online, so the chat form is offered
        await page.goto(shop.page("/", host_page(cluster.urls[0] + "/widget.js", lang=lang)))
        w = W(page)
        await w.open()
        await w.field("name").fill("Ada")
        await w.button(START[lang]).click()
        await expect(w.input).to_be_visible()
        attach = page.locator("lc-chat-widget [data-lc=attach]")
        await expect(attach).to_have_attribute("aria-label", ATTACH[lang])
        fake = tmp_path / "cat.png"
        fake.write_bytes(HTML)  # named .png, but a page with a script
        await page.locator("lc-chat-widget [data-lc=file-input]").set_input_files(str(fake))
        await expect(page.locator("lc-chat-widget [data-lc=file-error]")).to_have_text(
            REFUSED[lang], timeout=WAIT_MS
        )
        await expect(page.locator("lc-chat-widget .msg img, lc-chat-widget .msg .file")
                     ).to_have_count(0)
