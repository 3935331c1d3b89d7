"""A chat's messages: the capped log (a Redis Stream, entry id ``<seq>-0``), exactly-once
append with client-id dedup, read receipts and the participant list the message script
checks.  All keys of one chat share the ``{c:<chat>}`` slot.

The pub/sub envelopes on a chat channel are described in ``chatserver/protocol/envelope.py``
(``publication``, ``EVERYONE`` and ``AGENTS_ONLY`` are re-exported from there).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from chatserver.protocol.envelope import AGENTS_ONLY as AGENTS_ONLY
from chatserver.protocol.envelope import EVERYONE as EVERYONE
from chatserver.protocol.envelope import publication as publication
from chatserver.settings import Settings
from chatserver.store.cluster import ClusterMux
from chatserver.store.codec import mapping as hmapping
from chatserver.store.codec import text
from chatserver.store.keys import Keys
from chatserver.store.scripts import Scripts
from chatserver.store.scripts import source as script_source
from chatserver.telemetry import metrics


@dataclass(frozen=True)
class PostResult:
    status: str
    """'ok' (stored now), 'dup' (stored before: same seq), 'forbidden' or 'closed'."""
    seq: int


@dataclass(frozen=True)
class LogEntry:
    seq: int
    audience: str
    frame: bytes
    origin: str = ""
    """Id of the connection that sent it ('' for none): it is not sent its own message."""


def participant(role: str, ident: str) -> str:
    return f"{role}:{ident}"


class MessageStore:
    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts, settings: Settings) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.settings = settings
        self.epoch = 0
        self._run_id = ""
        self._ttl = int(
            settings.chat_retention_s + settings.chat_idle_timeout_s + settings.queue_timeout_s
        )

    def guard_epoch(self) -> None:
        """Check the server's run id on every new Redis connection, before it carries a
        command: after a Redis restart the epoch is bumped before any message is posted,
        so no sequence number lost with the last second of the append-only file is ever
        given out again."""
        source = script_source("bump_epoch")
        keys = self.keys

        async def on_connect(conn: Any) -> None:
            await conn.on_connect()
            await conn.send_command("INFO", "server")
            info = text(await conn.read_response())
            run_id = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in info.splitlines()
                    if line.startswith("run_id:")
                ),
                "",
            )
            if run_id and run_id != self._run_id:
                await conn.send_command("EVAL", source, 2, keys.epoch, keys.run_id, run_id)
                self.epoch = int(await conn.read_response())
                self._run_id = run_id

        self.redis.connection_pool.connection_kwargs["redis_connect_func"] = on_connect

    async def refresh_epoch(self) -> int:
        """Bump the epoch if the Redis server restarted since it was last recorded."""
        info = await self.redis.info("server")
        run_id = str(info.get("run_id", ""))
        self.epoch = int(
            await self.scripts.call(
                "bump_epoch", epoch=self.keys.epoch, epoch_run=self.keys.run_id, run_id=run_id
            )
        )
        self._run_id = run_id
        return self.epoch

    @property
    def run_id(self) -> str:
        """The run id of the Redis server last connected to (changes when it restarts)."""
        return self._run_id

    def _chat_keys(self, chat_id: str) -> list[str]:
        """The keys of the chat's slot that expire with its log."""
        return [
            self.keys.chat_log(chat_id),
            self.keys.chat_ids(chat_id),
            self.keys.chat_meta(chat_id),
        ]

    async def open_chat(self, chat_id: str, participants: Iterable[str]) -> None:
        """Mark the chat open for messages and admit its first participants."""
        meta = self.keys.chat_meta(chat_id)
        mapping: dict[str, Any] = {"open": "1"}
        mapping.update({f"p:{p}": "1" for p in participants})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(meta, mapping=hmapping(mapping))
            pipe.expire(meta, self._ttl)
            await pipe.execute()

    async def discard_chat(self, chat_id: str) -> None:
        """Drop a log opened for a chat that was then not created (``open_chat`` comes
        first: see ``VisitorActions.start``)."""
        await self.redis.delete(self.keys.chat_meta(chat_id))

    async def set_participants(
        self, chat_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> None:
        meta = self.keys.chat_meta(chat_id)
        add, remove = list(add), list(remove)
        async with self.redis.pipeline(transaction=True) as pipe:
            if remove:
                pipe.hdel(meta, *[f"p:{p}" for p in remove])
            if add:
                pipe.hset(meta, mapping=hmapping({f"p:{p}": "1" for p in add}))
            await pipe.execute()

    async def close_chat(self, chat_id: str) -> None:
        meta = self.keys.chat_meta(chat_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(meta, "open", "0")
            hold = max(self.settings.record_hold_s, self.settings.chat_retention_s)
            for key in self._chat_keys(chat_id):
                pipe.expire(key, int(hold))
            await pipe.execute()

    async def post(
        self,
        chat_id: str,
        *,
        role: str,
        sender_id: str,
        sender_name: str,
        cid: str,
        text: str,
        kind: str,
        audience: str,
        now_ms: int,
        system: bool = False,
        origin: str = "",
        file: bytes = b"",
    ) -> PostResult:
        """``file``: an attachment's msgpack-encoded ``{id, name, size, type}`` map, put
        on the message as its ``file`` (empty: none)."""
        k = self.keys
        status, seq = await self.scripts.call(
            "post",
            log=k.chat_log(chat_id),
            ids=k.chat_ids(chat_id),
            meta=k.chat_meta(chat_id),
            channel=k.chat_channel(chat_id),
            chat_id=chat_id,
            role=role,
            sender_id=sender_id,
            sender_name=sender_name,
            cid=cid,
            text=text,
            kind=kind,
            audience=audience,
            now=now_ms,
            epoch=self.epoch,
            log_max=self.settings.log_max_messages,
            ttl=self._ttl,
            system="1" if system else "0",
            origin=origin,
            file=file,
        )
        result = PostResult(status.decode(), int(seq))
        if self.settings.redis_wait_replicas > 0 and result.status in ("ok", "dup"):
            await self.wait_replicas(chat_id)
        return result

    async def wait_replicas(self, chat_id: str) -> int:
        """``WAIT`` until ``redis_wait_replicas`` replicas have every write this process
        made on the connection to the master of the chat's slot (so its last post), or
        ``redis_wait_timeout_ms`` passed; returns how many had it.

        ``WAIT`` counts the writes of the connection it is sent on, so it goes on the one
        that carried the post: the shared connection (``MuxRedis``), or on a cluster that
        master's (``ClusterMux``: a keyless command would go to any master).  A lost
        connection raises (the client is refused with ``overloaded``, resends the same
        ``cid`` and is answered from the new master: ``dup`` if the message survived,
        stored anew if it was lost).  Fewer replicas within the timeout (slow or none,
        as after a failover until the old master rejoins): acknowledged anyway, counted
        in ``chat_messages_unreplicated_total``."""
        want, timeout = self.settings.redis_wait_replicas, self.settings.redis_wait_timeout_ms
        mux = getattr(self.redis, "mux", None)
        if isinstance(mux, ClusterMux):
            master = mux.master_of(self.keys.chat_log(chat_id))
            (reply,) = await master.send([("WAIT", want, timeout)])
            if isinstance(reply, BaseException):
                raise reply
        else:
            reply = await self.redis.wait(want, timeout)
        acked = int(reply)
        if acked < want:
            metrics.UNREPLICATED.inc()
        return acked

    async def mark_read(self, chat_id: str, who: str, seq: int) -> tuple[int, bool]:
        """Store how far ``who`` has read; returns (stored seq, moved).  -1: not a
        participant."""
        stored, moved = await self.scripts.call(
            "read_receipt", meta=self.keys.chat_meta(chat_id), who=who, read=seq
        )
        return int(stored), bool(int(moved))

    async def publish(self, chat_id: str, frame: dict[str, Any], agents_only: bool = False) -> None:
        await self.redis.publish(self.keys.chat_channel(chat_id), publication(frame, agents_only))

    async def meta(self, chat_id: str) -> dict[str, str]:
        raw = await self.redis.hgetall(self.keys.chat_meta(chat_id))
        return {text(k): text(v) for k, v in raw.items()}

    async def last_seq(self, chat_id: str) -> int:
        return int(await self.redis.hget(self.keys.chat_meta(chat_id), "seq") or 0)

    async def read_after(self, chat_id: str, after: int, limit: int) -> tuple[bool, list[LogEntry]]:
        """Entries with seq > ``after`` (up to ``limit``), and whether some that should
        follow ``after`` are gone from the log (trimmed, or lost in a Redis restart)."""
        log = self.keys.chat_log(chat_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xrange(log, "-", "+", count=1)
            pipe.xrange(log, f"{after + 1}-0", "+", count=limit)
            # the last seq given out, for an empty log (in the same round trip: a chat
            # just created, or a log lost in a Redis restart)
            pipe.hget(self.keys.chat_meta(chat_id), "seq")
            first, entries, last = await pipe.execute()
        gap = False
        if first:
            first_seq = int(first[0][0].split(b"-")[0])
            gap = first_seq > after + 1
        else:
            gap = int(last or 0) > after
        return gap, [_entry(e) for e in entries]

    async def read_before(
        self,
        chat_id: str,
        before: int | None,
        limit: int,
        *,
        internal: bool,
        max_bytes: int = 0,
    ) -> tuple[bool, bool, list[LogEntry]]:
        """The newest ``limit`` entries with seq < ``before`` that the reader may see
        (``internal``: agents' notes too), oldest first, and no more of them than fit in
        ``max_bytes`` (at least one; 0: no byte limit).

        Returns (complete, trimmed, entries): ``complete`` when nothing older exists,
        ``trimmed`` when older messages existed but were dropped from the capped log.  A
        page cut short by ``max_bytes`` is neither."""
        log = self.keys.chat_log(chat_id)
        end = f"({before}-0" if before else "+"
        picked: list[LogEntry] = []
        size = 0
        full = False  # the byte limit cut the page short
        # read in modest batches: a page of 1000 long messages is never held twice over
        batch_size = min(limit, 100)
        older_left = True  # entries older than ``end`` may remain in the log
        while len(picked) < limit and older_left and not full:
            batch: Any = await self.redis.xrevrange(log, end, "-", count=batch_size)
            older_left = len(batch) == batch_size
            for i, raw in enumerate(batch):
                entry = _entry(raw)
                if internal or entry.audience == EVERYONE:
                    if picked and max_bytes and size + len(entry.frame) > max_bytes:
                        full = True
                        break
                    picked.append(entry)
                    size += len(entry.frame)
                    if len(picked) == limit:
                        older_left = older_left or i < len(batch) - 1
                        break
                end = f"({entry.seq}-0"
        picked.reverse()
        if full:
            return False, False, picked
        oldest: Any = await self.redis.xrange(log, "-", "+", count=1)
        first_seq = int(oldest[0][0].split(b"-")[0]) if oldest else 1
        if older_left and picked and picked[0].seq <= first_seq:
            older_left = False
        complete = not older_left and first_seq <= 1
        trimmed = not older_left and first_seq > 1
        return complete, trimmed, picked


def _entry(raw: tuple[bytes, dict[bytes, bytes]]) -> LogEntry:
    ident, fields = raw
    origin = fields.get(b"o")
    return LogEntry(
        int(ident.split(b"-")[0]),
        fields[b"a"].decode(),
        fields[b"f"],
        origin.decode() if origin else "",
    )
