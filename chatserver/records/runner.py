"""The records side of a process: the schema brought up to date at start (one process at
a time), and with ``BACKGROUND_JOBS`` the writer (outbox → SQL) on its own Redis
connection, the CRM webhook forwarder when one is configured and, with ``SMTP_HOST``, the
sender of the transcripts visitors ask for by e-mail."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.clock import Clock
from chatserver.records import queries
from chatserver.records.crm import CrmForwarder
from chatserver.records.database import migrate
from chatserver.records.queries import Viewer
from chatserver.records.transcripts import TranscriptMailer
from chatserver.records.writer import RecordWriter
from chatserver.settings import Settings
from chatserver.store.keys import Keys
from chatserver.store.locks import Lease
from chatserver.store.redis_conn import connect_pooled


async def migrate_once(engine: AsyncEngine, lease: Lease, wait_s: float = 120.0) -> None:
    """Bring the records schema up to date; one process at a time (``lease``)."""
    deadline = time.monotonic() + wait_s
    while not await lease.take(int(wait_s * 1000)):
        if time.monotonic() > deadline:
            raise RuntimeError("another process holds the migration lock")
        await asyncio.sleep(0.1)
    try:
        await migrate(str(engine.url.render_as_string(hide_password=False)))
    finally:
        await lease.drop()


def start(
    redis_url: str,
    keys: Keys,
    engine: AsyncEngine,
    settings: Settings,
    clock: Clock,
    consumer: str,
) -> tuple[Redis, RecordWriter, list[asyncio.Task[Any]]]:
    """Start the loops; returns the writer's connection (close it on stop), the writer and
    the tasks."""
    # the writer's own connection: its blocking read of the outbox never takes one from
    # client actions (nor from the heartbeat and timers)
    redis = connect_pooled(redis_url, max_connections=2)
    writer = RecordWriter(redis, keys, engine, settings, clock, consumer)
    tasks = [asyncio.create_task(writer.run(), name="records")]
    if settings.crm_webhook_url:
        everything = Viewer("system", sees_all=True)

        async def fetch(chat_id: str) -> dict[str, Any] | None:
            return await queries.fetch(engine, chat_id, everything)

        crm = CrmForwarder(engine, settings, clock, fetch)
        tasks.append(asyncio.create_task(crm.run(), name="crm"))
    if settings.smtp_host:
        mailer = TranscriptMailer(engine, settings, clock)
        tasks.append(asyncio.create_task(mailer.run(), name="transcripts"))
    return redis, writer, tasks
