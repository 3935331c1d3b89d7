"""Issue 10, item 4: a message the server refuses with ``overloaded`` stays pending in the
widget (not failed), is resent after the server's hint with the same cid, and reaches the
agent once when storage answers again.  The hub runs on the test's own Valkey, paused
(SIGSTOP) for longer than the widget's acknowledgement timeout."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time

import pytest
from playwright.async_api import Browser, expect

from tests.browser.test_widget_support import (
    W,
    accept,
    agent_texts,
    browser_page,
    chat_id_of,
    clients,
    running,
    start_chat,
)
from tests.harness import Valkey, scaled

pytestmark = pytest.mark.timeout(150)


async def test_i10_04_widget_keeps_overloaded_message_pending_and_resends(
    browser: Browser, valkey: Valkey
) -> None:
    pid = int(valkey.server._process.pid)
    async with (
        running(valkey.url, action_timeout_s="1", overload_retry_ms="1000") as cluster,
        browser_page(browser) as (_, page),
    ):
        agent = await cluster.agent(await cluster.add_agent("alice", name="Alice"))
        async with clients(agent):
            await page.goto(cluster.urls[0] + "/demo/")
            w = W(page)
            await start_chat(w)
            chat_id = await chat_id_of(w)
            await accept(agent, chat_id)
            await w.say("before")
            await agent.wait_messages(chat_id, 1)

            os.kill(pid, signal.SIGSTOP)
            try:
                await w.say("while storage is paused")
                # longer than the widget's 10 s acknowledgement timeout: refused with
                # `overloaded` again and again, the message stays pending all along
                until = time.monotonic() + 12
                while time.monotonic() < until:
                    await expect(w.mine.last).to_have_attribute("data-state", "sending")
                    await asyncio.sleep(1)
                assert "storage overloaded on Send" in cluster.servers[0].output()
            finally:
                os.kill(pid, signal.SIGCONT)
            await expect(w.mine.last).to_have_attribute(
                "data-state", re.compile("sent|read"), timeout=scaled(30) * 1000
            )
            await agent.wait_messages(chat_id, 2, scaled(10))
            await asyncio.sleep(scaled(0.5))
            assert agent_texts(agent, chat_id) == ["before", "while storage is paused"]
