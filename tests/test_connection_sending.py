"""The send side of chatserver.hub.connection.Connection, against a fake socket: frames go
out once each and in order, a full backlog closes with 1013, close() flushes then closes
with its code, finish() stops everything, and an idle connection holds no writer task."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from starlette.websockets import WebSocketState

from chatserver.hub.connection import Connection
from chatserver.protocol import CloseCode


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed_with: tuple[int, str] | None = None
        self.application_state = WebSocketState.CONNECTED
        self.gate: asyncio.Event | None = None  # when set, a send waits for it (slow reader)
        self.fail = False

    async def send_bytes(self, data: bytes) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("socket gone")
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.application_state = WebSocketState.DISCONNECTED
        self.closed_with = (code, reason)


def make(limit: int = 5) -> tuple[Connection, FakeSocket]:
    ws = FakeSocket()
    node: Any = SimpleNamespace(settings=SimpleNamespace(
        send_queue_frames=limit, send_queue_bytes=0, send_queue_bytes_per_address=0))
    conn = Connection(node, ws, conn_id="vc1", role="visitor", subject="v1",  # type: ignore[arg-type]
                      name="Visitor")
    conn.welcomed = True  # as after its welcome: frames go out as they come
    return conn, ws


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def writer_running(conn: Connection) -> bool:
    return conn._flusher is not None


async def test_idle_connection_holds_no_writer() -> None:
    conn, ws = make()
    await settle()
    assert not writer_running(conn) and conn._pending is None
    conn.send_raw(b"1")
    conn.send_raw(b"2")
    assert writer_running(conn)
    await settle()
    assert ws.sent == [b"1", b"2"]
    assert not writer_running(conn) and conn._pending is None  # drained: nothing kept
    conn.send_raw(b"3")
    await settle()
    assert ws.sent == [b"1", b"2", b"3"] and ws.closed_with is None


async def test_order_is_kept_while_the_socket_is_slow() -> None:
    conn, ws = make(limit=100)
    ws.gate = asyncio.Event()
    for i in range(10):
        conn.send_raw(b"%d" % i)
    await settle()
    for i in range(10, 20):
        conn.send_raw(b"%d" % i)
    ws.gate.set()
    await settle()
    await asyncio.sleep(0.01)
    assert ws.sent == [b"%d" % i for i in range(20)]


async def test_full_backlog_closes_with_try_again() -> None:
    conn, ws = make(limit=3)
    ws.gate = asyncio.Event()
    conn.send_raw(b"a")
    await settle()  # "a" is being written (taken off the backlog), the socket is stuck
    for data in (b"b", b"c", b"d"):
        conn.send_raw(data)  # the backlog is now full (3)
    assert not conn.closed
    conn.send_raw(b"e")  # one too many
    assert conn.closed and conn.close_code == CloseCode.TRY_AGAIN
    conn.send_raw(b"f")  # ignored once closed
    ws.gate.set()
    await settle()
    # what was queued is dropped (no room for the close), the close goes out
    assert ws.sent == [b"a"]
    assert ws.closed_with == (CloseCode.TRY_AGAIN, "too slow")


async def test_close_flushes_then_closes_with_its_code() -> None:
    conn, ws = make()
    conn.send_raw(b"1")
    conn.send_raw(b"2")
    conn.close(CloseCode.POLICY, "bye")
    conn.close(1000)  # a second close changes nothing
    conn.send_raw(b"3")
    await settle()
    assert ws.sent == [b"1", b"2"]
    assert ws.closed_with == (CloseCode.POLICY, "bye")
    assert not writer_running(conn)


async def test_close_of_an_idle_connection() -> None:
    conn, ws = make()
    await settle()
    conn.close(CloseCode.POLICY, "too many bad frames")
    await settle()
    assert ws.sent == [] and ws.closed_with == (CloseCode.POLICY, "too many bad frames")


async def test_finish_right_after_close_still_sends_the_close() -> None:
    conn, ws = make()
    await settle()
    conn.close(CloseCode.FLOODING, "too many frames")
    await conn.finish()  # before the writer had a chance to run
    assert ws.closed_with == (CloseCode.FLOODING, "too many frames")


async def test_finish_stops_a_stuck_writer_and_closes() -> None:
    conn, ws = make()
    ws.gate = asyncio.Event()
    conn.send_raw(b"1")
    conn.send_raw(b"2")
    await settle()
    await conn.finish()
    assert ws.sent == [] and ws.closed_with == (1000, "")
    assert conn._pending is None
    conn.send_raw(b"3")
    await settle()
    assert ws.sent == [] and not writer_running(conn)


async def test_finish_of_an_idle_connection_closes_it() -> None:
    conn, ws = make()
    await settle()
    await conn.finish()
    assert ws.closed_with == (1000, "")


async def test_after_a_failed_send_nothing_more_is_written() -> None:
    conn, ws = make(limit=3)
    ws.fail = True
    conn.send_raw(b"1")
    await settle()
    ws.fail = False
    conn.send_raw(b"2")
    conn.send_raw(b"3")
    await settle()
    assert ws.sent == [] and not writer_running(conn)
    conn.send_raw(b"4")
    conn.send_raw(b"5")  # the backlog fills up: closed as too slow
    assert conn.closed and conn.close_code == CloseCode.TRY_AGAIN
    await conn.finish()
    assert ws.sent == [] and ws.closed_with is None
