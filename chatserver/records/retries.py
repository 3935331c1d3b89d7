"""A table of deliveries retried until done: the CRM hand-off (``crm_deliveries``) and the
transcript e-mails (``transcript_emails``) share its rules.

Each row has a key, ``attempts``, ``next_attempt_at``, ``last_error`` and a column that
is set when it is done.  Several processes work one table: a row is *claimed* with a
conditional UPDATE that moves ``next_attempt_at`` a lease ahead, so only one process
tries it at a time; a process that dies mid-try leaves it to the next one after the lease
(delivery is at least once).  A failed try is retried with exponential backoff (1 s, 2 s,
4 s ... up to an hour) until ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Table, and_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 3600
IDLE_S = 1.0
"""How long a worker waits when nothing was due."""
FAILED_PASS_S = 2.0
"""How long a worker waits after a pass failed (the database away, say)."""
ERROR_CHARS = 1000


def backoff_s(attempts: int) -> int:
    return int(min(2 ** max(attempts - 1, 0), MAX_BACKOFF_S))


class RetryTable:
    def __init__(
        self,
        engine: AsyncEngine,
        table: Table,
        *,
        key: str,
        done: str,
        lease_s: int,
        max_attempts: Callable[[], int],
    ) -> None:
        self.engine = engine
        self.table = table
        self.key = table.c[key]
        self.done = table.c[done]
        self.lease_s = lease_s
        self.max_attempts = max_attempts

    async def due(self, now: int, limit: int, *also: Any) -> list[str]:
        """Keys of the rows to try now, oldest first (``also``: further conditions)."""
        t = self.table.c
        query = (
            select(self.key)
            .where(
                and_(
                    self.done.is_(None),
                    t.next_attempt_at <= now,
                    t.attempts < self.max_attempts(),
                    *also,
                )
            )
            .order_by(t.next_attempt_at)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [str(row[0]) for row in await conn.execute(query)]

    async def try_due(
        self, now: int, limit: int, attempt: Callable[[str], Awaitable[None]], *also: Any
    ) -> int:
        """Claim each due row in turn and ``attempt`` it (which ends with ``finish``);
        returns how many were tried."""
        tried = 0
        for key in await self.due(now, limit, *also):
            if await self.claim(key, now):
                await attempt(key)
                tried += 1
        return tried

    @staticmethod
    async def work(step: Callable[[], Awaitable[int]], what: str) -> None:
        """Run ``step`` (one pass: how many rows it tried) until cancelled, pausing when
        nothing was due; a failed pass is logged and tried again."""
        while True:
            try:
                if not await step():
                    await asyncio.sleep(IDLE_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s: %s", what, exc)
                await asyncio.sleep(FAILED_PASS_S)

    async def claim(self, key: str, now: int) -> bool:
        """Take the row for one try (False: another process has it, or it is done)."""
        t = self.table.c
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(self.table)
                .where(and_(self.key == key, self.done.is_(None), t.next_attempt_at <= now))
                .values(next_attempt_at=now + self.lease_s * 1000)
            )
            return bool(result.rowcount)

    async def finish(self, key: str, now: int, error: str) -> int:
        """Record a try: done when ``error`` is empty (returns 0), else the attempts made
        so far, with the next try after the backoff."""
        t = self.table.c
        async with self.engine.begin() as conn:
            if not error:
                await conn.execute(
                    update(self.table)
                    .where(self.key == key)
                    .values({self.done: now, t.attempts: t.attempts + 1, t.last_error: ""})
                )
                return 0
            attempts = int(
                (await conn.execute(select(t.attempts).where(self.key == key))).scalar_one()
            ) + 1
            await conn.execute(
                update(self.table)
                .where(self.key == key)
                .values(
                    attempts=attempts,
                    last_error=error[:ERROR_CHARS],
                    next_attempt_at=now + backoff_s(attempts) * 1000,
                )
            )
            return attempts
