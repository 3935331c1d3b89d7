"""What a Python team would pick instead: python-socketio with its Redis manager.

Run two (or more) of these against one Redis: ``AsyncRedisManager`` publishes every
``emit`` to a Redis channel and each process delivers it to its own members of the room.
Served by uvicorn with uvloop (as the product is), WebSocket transport, no compression.

Events: ``join`` {room} puts the client in the room; ``msg`` {room, text} is emitted to the
room, the sender included.

    python -m bench.baselines.socketio_redis PORT REDIS_URL
"""

from __future__ import annotations

import sys
from typing import Any

import socketio
import uvicorn


def create_app(redis_url: str) -> Any:
    mgr = socketio.AsyncRedisManager(redis_url)
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr,
                               cors_allowed_origins="*", transports=["websocket"],
                               http_compression=False, max_http_buffer_size=65536)

    @sio.event
    async def join(sid: str, data: dict[str, Any]) -> bool:
        await sio.enter_room(sid, data["room"])
        return True

    @sio.event
    async def msg(sid: str, data: dict[str, Any]) -> None:
        await sio.emit("msg", data, room=data["room"])

    return socketio.ASGIApp(sio)


def main() -> None:
    port, redis_url = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(create_app(redis_url), host="127.0.0.1", port=port, loop="uvloop",
                ws="websockets-sansio", ws_per_message_deflate=False, log_level="warning",
                lifespan="off", backlog=4096)


if __name__ == "__main__":
    main()
