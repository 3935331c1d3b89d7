"""Helpers for the widget's browser tests (this module holds no tests).

The product is real: `chatserver serve` processes (tests/harness.py), Debian's chromium
driven by Playwright, agents played by the Python client.  Host pages on other origins are
served by a tiny static server on another port (``Site``); a small TCP proxy (``Proxy``)
stands between the browser and the server when a test needs to cut the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from chatserver.client import ChatClient, http
from tests.harness import Cluster, scaled
from tests.harness import running as running  # the browser tests import it from here

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "chatserver" / "static" / "widget.js"
SOURCES = ROOT / "widget" / "src"
SIZE_BUDGET_GZIP = 35 * 1024

TIMEOUT_MS = scaled(10) * 1000
expect.set_options(timeout=TIMEOUT_MS)


def gzip_size() -> int:
    return len(gzip.compress(BUNDLE.read_bytes(), compresslevel=9, mtime=0))


def host_page(script_src: str, *, lang: str = "en", head: str = "", before: str = "",
              body: str = "") -> str:
    """A host page embedding the widget the documented way: queue, then one script tag."""
    return f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>host page</title>{head}</head><body>
<h1>A shop</h1><p class="probe">Host page text</p>{body}
<script>
  window.LiveChat = window.LiveChat
    || function () {{ (LiveChat.q = LiveChat.q || []).push(arguments) }};
  {before}
</script>
<script src="{script_src}" async></script>
</body></html>"""


RECORD_EVENTS = """
window.events = [];
window.LiveChat = function () { (LiveChat.q = LiveChat.q || []).push(arguments); };
["ready", "open", "close", "message", "unread", "chatStarted", "chatEnded"].forEach(function (n) {
  LiveChat("on", n, function (d) { window.events.push([n, d === undefined ? null : d]); });
});
"""
"""Runs before every page's own scripts: queues handlers that record the widget's events."""


class Site:
    """A tiny static web server on 127.0.0.1: host pages on an origin other than the
    server's (another port), as a customer's site would be."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return self.url

    def page(self, path: str, html: str) -> str:
        """Serve ``html`` at ``path``; returns the page's URL."""
        self.pages[path] = html
        return self.url + path

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            path = head.split(b" ", 2)[1].decode().split("?", 1)[0]
            body = self.pages.get(path)
            status = "200 OK" if body is not None else "404 Not Found"
            data = (body or "not found").encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(data)}\r\nCache-Control: no-store\r\n"
                "Connection: close\r\n\r\n".encode() + data
            )
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@contextlib.asynccontextmanager
async def site(port: int = 0) -> AsyncIterator[Site]:
    s = Site()
    await s.start(port)
    try:
        yield s
    finally:
        await s.stop()


@contextlib.asynccontextmanager
async def proxied(port: int) -> AsyncIterator[Proxy]:
    proxy = Proxy(port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


@contextlib.asynccontextmanager
async def browser_page(
    browser: Browser, *, viewport: dict[str, int] | None = None, locale: str = "en-US",
    downloads: bool = False,
) -> AsyncIterator[tuple[BrowserContext, Page]]:
    context = await browser.new_context(
        viewport=viewport or {"width": 1280, "height": 800}, locale=locale,
        accept_downloads=downloads,
    )
    await context.add_init_script(RECORD_EVENTS)
    try:
        page = await context.new_page()
        yield context, page
    finally:
        await context.close()


@contextlib.asynccontextmanager
async def clients(*items: ChatClient) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for c in items:
            await c.close()


class W:
    """Locators inside the widget's shadow root (Playwright's CSS pierces open roots)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.host = page.locator("lc-chat-widget")
        self.root = page.locator("lc-chat-widget .root")
        self.launcher = page.locator("lc-chat-widget .launcher")
        self.badge = page.locator("lc-chat-widget .badge")
        self.panel = page.locator("lc-chat-widget .panel")
        self.title = page.locator("lc-chat-widget .head-title")
        self.body = page.locator("lc-chat-widget .body")
        self.banner = page.locator("lc-chat-widget .banner")
        self.queue = page.locator("lc-chat-widget [data-lc=queue]")
        self.position = page.locator("lc-chat-widget [data-lc=position]")
        self.typing = page.locator("lc-chat-widget .typing")
        self.input = page.locator("lc-chat-widget .composer textarea")
        self.send = page.locator("lc-chat-widget .composer .sendb")
        self.rows = page.locator("lc-chat-widget .msgs > li")
        self.bubbles = page.locator("lc-chat-widget .msgs .bubble")
        self.mine = page.locator("lc-chat-widget .msgs .msg.me")
        self.theirs = page.locator("lc-chat-widget .msgs .msg.them")
        self.live = page.locator("lc-chat-widget .sr[aria-live]")
        self.end_button = page.locator("lc-chat-widget .head .ibtn").nth(1)
        self.minimize = page.locator("lc-chat-widget .head .ibtn").last

    def field(self, name: str) -> Locator:
        return self.page.locator(f"lc-chat-widget #lc-f-{name}")

    def button(self, text: str) -> Locator:
        return self.page.locator("lc-chat-widget button", has_text=text)

    async def open(self) -> None:
        await self.launcher.click()
        await expect(self.panel).to_be_visible()

    async def say(self, text: str) -> None:
        await self.input.fill(text)
        await self.input.press("Enter")

    async def texts(self) -> list[str]:
        return [t for t in await self.bubbles.all_inner_texts()]

    async def wait_texts(self, expected: list[str]) -> None:
        await expect(self.bubbles).to_have_text(expected)

    async def events(self, name: str) -> list[Any]:
        events = await self.page.evaluate("window.events || []")
        return [data for kind, data in events if kind == name]


async def start_chat(w: W, name: str = "Ada", email: str = "ada@example.com") -> None:
    if not await w.panel.is_visible():
        await w.open()
    await w.field("name").fill(name)
    if await w.field("email").count():
        await w.field("email").fill(email)
    await w.button("Start chat").click()
    await expect(w.input).to_be_visible()


async def chat_id_of(w: W) -> str:
    """The id of the chat the widget started (from its chatStarted event)."""
    await eventually(lambda: _has_event(w, "chatStarted"))
    return str((await w.events("chatStarted"))[-1]["id"])


async def _has_event(w: W, name: str) -> bool:
    return bool(await w.events(name))


async def accept(agent: ChatClient, chat_id: str) -> None:
    await agent.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == chat_id, scaled(10))
    await agent.request({"type": "accept", "chat": chat_id})


async def accept_next(agent: ChatClient, since: int = 0) -> str:
    offer = await agent.wait_for(lambda f: f["type"] == "offer", scaled(10), since=since)
    chat_id = str(offer["chat"]["id"])
    await agent.request({"type": "accept", "chat": chat_id})
    return chat_id


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def wait_record(cluster: Cluster, chat_id: str,
                      until: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + scaled(15)
    while True:
        status, body = await http(
            "GET", f"{cluster.urls[0]}/api/records/{chat_id}", token=cluster.admin_token
        )
        if status == 200 and (until is None or until(body)):
            return dict(body)
        assert time.monotonic() < deadline, (status, body)
        await asyncio.sleep(0.1)


def agent_texts(agent: ChatClient, chat_id: str) -> list[str]:
    return [m["text"] for m in agent.messages.get(chat_id, []) if not m.get("internal")]


class Proxy:
    """A TCP proxy on 127.0.0.1 that can cut the network.

    ``cut()`` drops every open connection at once and refuses new ones until ``restore()``;
    ``cut_sockets()`` does the same for WebSocket handshakes only;
    ``freeze_downstream()`` keeps connections up but silently discards what the server
    sends (the client's frames still arrive: a message is stored but its ack is lost)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.refusing = False
        self.refusing_sockets = False
        self.frozen = False

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        first = b""
        if self.refusing_sockets:
            # look at the request head: WebSocket handshakes are refused, plain HTTP passes
            with contextlib.suppress(Exception):
                first = await asyncio.wait_for(reader.read(65536), 5)
            if b"/ws/" in first.split(b"\r\n", 1)[0]:
                writer.transport.abort()
                return
        await self._relay(reader, writer, first)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     first: bytes) -> None:
        """Connect to the server, send it ``first`` (what was already read from the client)
        and pipe both ways until either side ends; then drop both connections."""
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        if first:
            up_writer.write(first)
        pair = (writer, up_writer)
        self._pairs.add(pair)
        tasks = [
            asyncio.create_task(self._pipe(reader, up_writer, downstream=False)),
            asyncio.create_task(self._pipe(up_reader, writer, downstream=True)),
        ]
        self._tasks.update(tasks)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            self._tasks.difference_update(tasks)
            self._pairs.discard(pair)
            for wr in pair:
                wr.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    *, downstream: bool) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            if downstream and self.frozen:
                continue
            writer.write(data)
            await writer.drain()

    def cut(self) -> None:
        self.refusing = True
        for client, upstream in list(self._pairs):
            client.transport.abort()
            upstream.transport.abort()

    def freeze_downstream(self) -> None:
        self.frozen = True

    def cut_sockets(self) -> None:
        """Drop every connection; refuse WebSocket handshakes but let plain HTTP through
        (the page and the script still load)."""
        self.cut()
        self.refusing = False
        self.refusing_sockets = True

    def restore(self) -> None:
        self.refusing = False
        self.refusing_sockets = False
        self.frozen = False

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
