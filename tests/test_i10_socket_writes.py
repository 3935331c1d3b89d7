"""Issue 10, item 3: a WebSocket's frames of one event-loop iteration leave in one socket
write (``web/coalesce.py``, installed by ``GuardedHttpProtocol``), in order, and a close
still sends what was buffered before it.  A real uvicorn server on a free port, a real
client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from chatserver.web.coalesce import CoalescingTransport
from chatserver.web.http_protocol import GuardedHttpProtocol
from tests.harness import free_port, scaled


def _transport(ws: WebSocket) -> Any:
    protocol = ws._receive.__self__  # type: ignore[attr-defined]  # uvicorn's protocol
    return protocol.transport


async def _burst(ws: WebSocket) -> None:
    await ws.accept()
    await asyncio.sleep(0.05)  # the handshake's write is done
    transport = _transport(ws)
    before = transport.writes
    for i in range(5):
        await ws.send_text(f"frame {i}")  # five frames, one iteration
    await asyncio.sleep(0.05)
    await ws.send_text(json.dumps({
        "coalescing": isinstance(transport, CoalescingTransport),
        "writes": transport.writes - before,
    }))
    for i in range(3):
        await ws.send_text(f"last {i}")
    await ws.close(4000, "bye")  # buffered frames still go out before the close


async def test_frames_of_one_iteration_leave_in_one_write() -> None:
    port = free_port()
    app = Starlette(routes=[WebSocketRoute("/ws", _burst)])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, loop="none", ws="websockets-sansio",
        http=GuardedHttpProtocol, lifespan="off", log_level="warning",
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.02)
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as client:
            got = [await asyncio.wait_for(client.recv(), scaled(5)) for _ in range(6)]
            assert got[:5] == [f"frame {i}" for i in range(5)]
            assert json.loads(got[5]) == {"coalescing": True, "writes": 1}
            assert [await client.recv() for _ in range(3)] == [f"last {i}" for i in range(3)]
            await client.wait_closed()
            assert client.close_code == 4000
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, scaled(10))
