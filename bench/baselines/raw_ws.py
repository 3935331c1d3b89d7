"""The Python ceiling: a minimal chat relay written directly on the ``websockets`` library.

No routing, no Redis, no persistence, one process.  A client connects to ``/room/<id>``;
every binary frame it sends is broadcast to every connection in that room, the sender
included (as the product echoes a message to its sender), with ``websockets.broadcast``
(one write per socket, no per-connection task).

    python -m bench.baselines.raw_ws PORT
"""

from __future__ import annotations

import asyncio
import signal
import sys

import uvloop
import websockets
from websockets.asyncio.server import ServerConnection, serve

rooms: dict[str, set[ServerConnection]] = {}


async def handler(ws: ServerConnection) -> None:
    path = ws.request.path if ws.request is not None else "/"
    room = path.rsplit("/", 1)[-1]
    members = rooms.setdefault(room, set())
    members.add(ws)
    try:
        async for data in ws:
            websockets.broadcast(members, data)
    except websockets.ConnectionClosed:
        pass
    finally:
        members.discard(ws)
        if not members:
            rooms.pop(room, None)


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=65536,
                     ping_interval=20, backlog=4096):
        await stop


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
