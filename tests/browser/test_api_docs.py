"""/api/docs shows the OpenAPI document in a browser, from the product's own files only."""

from __future__ import annotations

from playwright.async_api import Browser, Request, expect

from chatserver.web.openapi import OPERATIONS
from tests.browser.test_widget_support import browser_page
from tests.harness import running


async def test_api_docs_page_lists_every_operation_from_local_files(
    browser: Browser, redis_url: str
) -> None:
    async with running(redis_url) as cluster, browser_page(browser) as (_, page):
        base = cluster.urls[0]
        requested: list[str] = []

        def seen(request: Request) -> None:
            requested.append(request.url)

        page.on("request", seen)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(base + "/api/docs")
        ops = page.locator("details.op")
        await expect(ops).to_have_count(len(OPERATIONS))
        await expect(page.locator("h2", has_text="Authentication")).to_be_visible()
        login = ops.filter(has_text="/api/login")
        await login.locator("summary").click()
        await expect(login.locator("pre").first).to_contain_text('"password"')
        assert not errors, errors
        assert requested and all(url.startswith(base) for url in requested), requested
