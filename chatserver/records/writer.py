"""The records writer: turns the outbox into interaction records, exactly once.

The outbox is a Redis Stream read through the consumer group ``records``.  For each batch of
entries the writer reads each chat's state from Redis, builds the records (pure), upserts
them in one transaction, and only then acknowledges and deletes the entries.  Therefore:

- a writer killed mid-write leaves the entry pending; after ``RECORD_CLAIM_IDLE_S`` any
  writer claims it (XAUTOCLAIM) and writes it again: the upsert makes that harmless;
- two writers never lose or double a record: each entry goes to one of them, and if both
  end up writing a chat the upsert keeps one row;
- while the database is down nothing is acknowledged: entries wait and are written when it
  returns (the writer backs off, up to 5 s between tries).

The writer also copies agent status changes (for occupancy) from their stream to SQL.

In a serving process the writer yields to live traffic: it handles at most
``RECORD_BATCH`` entries per pass and, while it has a backlog (entries left by a previous
process on the same Redis, or a database outage just over), pauses between passes: at
least ``RECORD_PAUSE_MS``, and long enough that it is busy at most ``RECORD_BUSY_SHARE``
of the time.  It reads each finished chat's log once, in pages of
``RECORD_LOG_PAGE`` messages (the record holds the whole transcript, so every message is
read once; a page bounds how long one Redis call and one decode take).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.clock import Clock
from chatserver.records import database
from chatserver.records.builder import (
    END_STATES,
    InteractionRecord,
    RecordError,
    build_record,
)
from chatserver.settings import Settings
from chatserver.store.codec import text
from chatserver.store.keys import Keys
from chatserver.store.outbox import Entry, Outbox

log = logging.getLogger(__name__)
_frame = msgspec.msgpack.Decoder(dict[str, Any])


def transcript_request(entry_id: Any, fields: dict[str, str]) -> database.TranscriptRequest:
    """A ``transcript`` outbox entry (``lua/transcript.lua``) as the e-mail to queue."""
    ts = fields.get("ts", "")
    return database.TranscriptRequest(
        id=text(entry_id),
        chat_id=fields.get("chat", ""),
        email=fields.get("email", ""),
        requested_at=int(ts) if ts.isdigit() else 0,
    )


class RecordWriter:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        engine: AsyncEngine,
        settings: Settings,
        clock: Clock,
        consumer: str,
    ) -> None:
        self.outbox = Outbox(redis, keys)
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.consumer = consumer
        self.written = 0
        self._retry_at = 0.0
        self._seal_ttl_s = int(max(settings.record_hold_s, settings.chat_retention_s))

    async def ensure_group(self) -> None:
        await self.outbox.ensure_group()

    async def run(self) -> None:
        """Write records until cancelled."""
        delay = 0.1
        await self.ensure_group()
        while True:
            try:
                started = time.monotonic()
                done = await self.step(block_ms=1000)
                await self.copy_status_changes()
                delay = 0.1
                if done:
                    # a backlog: leave the event loop and Redis to live traffic a while
                    await asyncio.sleep(self.pause_after(time.monotonic() - started))
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # the stream was lost (Redis without persistence)
                    await self.ensure_group()
                    continue
                log.warning("records writer: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception as exc:
                log.warning("records writer: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def pause_after(self, busy_s: float) -> float:
        """Seconds to pause after a pass that handled entries and took ``busy_s``: at least
        ``RECORD_PAUSE_MS``, and long enough that the writer is busy at most
        ``RECORD_BUSY_SHARE`` of the time."""
        share = min(1.0, max(0.01, self.settings.record_busy_share))
        return max(self.settings.record_pause_ms / 1000, busy_s * (1 - share) / share)

    async def step(self, block_ms: int | None = None) -> int:
        """Handle what is due, at most ``RECORD_BATCH`` entries: this writer's own
        unacknowledged entries, entries another writer left pending too long, then new
        ones (waiting up to ``block_ms`` for one when nothing else was due).  Returns how
        many were handled."""
        batch = max(1, self.settings.record_batch)
        done = 0
        outbox = self.outbox
        done += await self._handle(await outbox.pending(self.consumer, batch))
        if done < batch:
            idle_ms = int(self.settings.record_claim_idle_s * 1000)
            done += await self._handle(await outbox.claim(self.consumer, idle_ms, batch - done))
        if done < batch:
            done += await self._handle(
                await outbox.fresh(self.consumer, batch - done, None if done else block_ms)
            )
        return done

    async def _handle(self, entries: list[Entry]) -> int:
        """Write the records of a batch of outbox entries in one database transaction,
        then acknowledge them all (nothing is acknowledged before its record is
        committed).  Returns how many entries were handled."""
        if not entries:
            return 0
        records: list[InteractionRecord] = []
        transcripts: list[database.TranscriptRequest] = []
        for entry_id, fields in entries:
            if fields:  # (else deleted meanwhile)
                record = await self.read_entry(fields)
                if record is not None:
                    records.append(record)
                if fields.get("kind") == "transcript":
                    transcripts.append(transcript_request(entry_id, fields))
        await self.write_records(records, transcripts)
        await self.outbox.done([entry_id for entry_id, _ in entries])
        return len(entries)

    async def write_entry(self, fields: dict[str, str]) -> None:
        """Write the record an outbox entry names; raises if the database refuses."""
        record = await self.read_entry(fields)
        if record is not None:
            await self.write_records([record])

    async def write_records(
        self,
        records: list[InteractionRecord],
        transcripts: list[database.TranscriptRequest] | None = None,
    ) -> None:
        """Upsert records and queue the transcript e-mails asked for (one transaction),
        then let the chats' live keys expire after the normal retention."""
        if not records and not transcripts:
            return
        await database.upsert_records(
            self.engine,
            records,
            self.clock(),
            crm=bool(self.settings.crm_webhook_url),
            transcripts=transcripts or (),
        )
        if not records:
            return
        chats = {r.chat_id for r in records}
        self.written += len(chats)
        await self.outbox.expire_chats(chats, int(self.settings.chat_retention_s))

    async def read_entry(self, fields: dict[str, str]) -> InteractionRecord | None:
        """The record an outbox entry names, built from the chat's state in Redis; None
        when there is none to write (a late rating is put on the stored record here)."""
        chat_id = fields.get("chat", "")
        page = max(1, self.settings.record_log_page)
        read = await self.outbox.read_chat(chat_id, page, self._seal_ttl_s)
        data = read.chat
        if data.get("state") not in END_STATES:
            if fields.get("kind") == "transcript":
                pass  # the record is written already: the request is queued (``_handle``)
            elif fields.get("kind") == "rating" and "rating" in fields:
                # the chat's live keys have expired: put the rating on the stored record
                nps = fields.get("nps", "")
                await database.set_rating(
                    self.engine,
                    chat_id,
                    int(fields["rating"]),
                    fields.get("comment", ""),
                    int(nps) if nps.isdigit() else None,
                )
            else:
                log.warning("outbox names chat %s, which has no ended state; skipped", chat_id)
            return None
        messages = await self._read_log(chat_id, read.first_page, page)
        try:
            return build_record(data, read.history, messages, read.notices)
        except RecordError as exc:
            log.warning("%s; skipped", exc)
            return None

    async def _read_log(self, chat_id: str, first: Any, page: int) -> list[dict[str, Any]]:
        """The whole log, given its first page: the rest is read ``page`` entries at a
        time, each page once (a log is capped at ``LOG_MAX_MESSAGES``)."""
        messages = [_frame.decode(f[b"f"]) for _, f in first]
        entries = first
        while len(entries) == page:
            last = text(entries[-1][0])
            entries = await self.outbox.log_after(chat_id, last, page)
            messages.extend(_frame.decode(f[b"f"]) for _, f in entries)
        return messages

    async def copy_status_changes(self) -> None:
        entries = await self.outbox.status_changes(500)
        if not entries:
            return
        rows = [
            (entry_id, f.get("agent", ""), f.get("status", ""), int(f.get("ts") or 0))
            for entry_id, f in entries
        ]
        await database.insert_status_changes(self.engine, rows)
        await self.outbox.drop_status_changes([e for e, _ in entries])
