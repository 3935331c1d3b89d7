"""The planning page of the console in a real browser: a supervisor makes the plan of a
recorded week (written to the server's SQLite records), sees the table and the curve with
the API's figures, in English, Arabic (right to left) and Ukrainian; agents have no such
tab.  Writes ``docs/screenshots/planning.png``."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from chatserver.client import http
from tests.browser.test_console import (
    WAIT_MS,
    Closer,
    open_console,
    set_language,
    shot,
    start_cluster,
)
from tests.planning.week import T0, WEEK, write_week


@pytest.mark.timeout(120)
async def test_planning_page(browser: Browser, redis_url: str, tmp_path: Path) -> None:
    db = tmp_path / "records.db"
    await write_week(f"sqlite+aiosqlite:///{db}")
    cluster = await start_cluster(redis_url, database_url=f"sqlite:///{db}",
                                  plan_sim_arrivals="300")
    closer = Closer()
    try:
        await cluster.add_agent("sue", name="Sue", role="supervisor", capacity=0)
        await cluster.add_agent("pat", name="Pat", capacity=2)
        sue = closer.console(await open_console(browser, cluster.urls[0], "sue"))
        await sue.tid("tab-planning").click()
        await sue.tid("plan-period").select_option("custom")
        dates = sue.page.locator("[data-testid=planning] input[type=date]")
        await dates.nth(0).fill("2026-11-16")
        await dates.nth(1).fill("2026-11-22")
        await sue.tid("plan-within").fill("60")
        await sue.tid("plan-hours").fill("Mon 9-12")
        await sue.tid("plan-run").click()
        table = sue.tid("plan-table")
        await expect(table.locator("tbody tr")).to_have_count(4, timeout=WAIT_MS)

        # the same figures as the API for the same question
        status, body = await http(
            "GET", f"{cluster.urls[0]}/api/planning?from={T0}&to={T0 + WEEK}"
            "&within_s=60&sl=80&max_abandon=5&hours=Mon%209-12",
            token=cluster.admin_token,
        )
        assert status == 200, body
        # billing and tech need the same skill: one group per hour
        assert [r["topic"] for r in body["rows"]] == ["billing+tech"] * 4
        for r in body["rows"]:
            row = table.locator(f"tr[data-row='{r['label']}|billing+tech']")
            await expect(row.locator("td[data-col=erlang_agents]")).to_have_text(
                str(r["erlang_agents"]))
            await expect(row.locator("td[data-col=sim_agents]")).to_have_text(
                str(r["sim_agents"]))
            await expect(row.locator("td[data-col=staffed]")).to_have_text("4")
        await expect(sue.tid("plan-summary")).to_contain_text("2")
        chart = sue.tid("plan-chart")
        await expect(chart.locator("circle.s-erlang")).to_have_count(
            len(body["curve"]["points"]))
        await expect(chart.locator("rect.s-sim")).to_have_count(len(body["curve"]["points"]))
        await shot(sue.page, "planning")

        # Arabic: right to left, the same figures, the headings translated
        await set_language(sue, "ar")
        await expect(sue.page.locator("html")).to_have_attribute("dir", "rtl")
        await expect(table.locator("th").first).to_have_text("الساعة")
        await expect(table.locator("tbody tr").first.locator("td").first).to_contain_text(
            "الاثنين")
        await set_language(sue, "uk")
        await expect(table.locator("th").first).to_have_text("Година")
        await expect(sue.tid("plan-run")).to_have_text("Скласти план")

        # a bad hour is explained, not a crash
        await set_language(sue, "en")
        await sue.tid("plan-hours").fill("Mon 25")
        await sue.tid("plan-run").click()
        await expect(sue.tid("plan-error")).to_contain_text("hours out of range")

        # an agent has no planning tab
        pat = closer.console(await open_console(browser, cluster.urls[0], "pat"))
        await expect(pat.tid("tab-chats")).to_have_count(1)
        await expect(pat.tid("tab-planning")).to_have_count(0)
        assert closer.page_errors() == []
    finally:
        await closer.close()
        cluster.stop()
