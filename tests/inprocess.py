"""Hub servers inside the test's own event loop, with a clock the test controls.

Still real: uvicorn on a free port, real WebSockets, real Redis and SQL.  Only time is the
test's: every decision the product makes reads ``FakeClock``, so a scenario can say
"twenty seconds later" and check exact figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn

from chatserver.hub.node import Node
from chatserver.settings import Settings
from chatserver.web.app import create_app
from tests.harness import ADMIN_PASSWORD, free_port


class FakeClock:
    def __init__(self, start_ms: int) -> None:
        self.ms = start_ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)

    def at(self, start_ms: int, seconds: float) -> None:
        """Set the time to ``seconds`` after ``start_ms`` (never backwards)."""
        target = start_ms + int(seconds * 1000)
        assert target >= self.ms, "the clock never goes back"
        self.ms = target


@contextlib.asynccontextmanager
async def inprocess_hubs(
    redis_url: str, clock: FakeClock, n: int = 1, nodes: list[Node] | None = None,
    **overrides: Any,
) -> AsyncIterator[list[str]]:
    """Start ``n`` hubs sharing Redis, one data folder and ``clock``; yields their URLs.
    Each hub's ``Node`` is appended to ``nodes`` when given (a test that looks inside)."""
    data = Path(tempfile.mkdtemp(prefix="lc-inproc-"))
    base = Settings(
        redis_url=redis_url,
        data_dir=data,
        key_prefix="ip" + secrets.token_hex(4),
        secret_key=secrets.token_urlsafe(32),
        password_time_cost=1,
        password_memory_kib=64,
        admin_password=ADMIN_PASSWORD,
        timer_interval_s=0.05,
        heartbeat_interval_s=0.5,
        new_visitors_per_minute=100000,
        logins_per_minute=100000,
        messages_per_10s=1000,
        free_tags=True,  # as tests/harness.py FAST_SETTINGS
    ).with_(**overrides)
    servers: list[uvicorn.Server] = []
    tasks: list[asyncio.Task[None]] = []
    urls = []
    try:
        for _ in range(n):
            port = free_port()
            app = create_app(base.with_(port=port), clock=clock)
            config = uvicorn.Config(
                app, host="127.0.0.1", port=port, loop="none", ws="websockets-sansio",
                lifespan="on", log_level="warning", ws_per_message_deflate=False,
            )
            server = uvicorn.Server(config)
            server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
            servers.append(server)
            tasks.append(asyncio.create_task(server.serve()))
            while not server.started:
                if tasks[-1].done():
                    tasks[-1].result()
                await asyncio.sleep(0.02)
            urls.append(f"http://127.0.0.1:{port}")
            if nodes is not None:
                nodes.append(app.state.node)
        yield urls
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
