"""CRM hand-off: every new record is POSTed to ``CRM_WEBHOOK_URL``, signed, retried.

Delivery is at least once: a record is retried with exponential backoff (1 s, 2 s, 4 s ...
up to an hour between tries, ``CRM_MAX_ATTEMPTS`` tries) until the CRM answers 2xx.  A
CRM must therefore treat ``X-Chat-Record-Id`` as an idempotency key.

Signature (see ``docs/records.md``)::

    X-Chat-Timestamp: <unix seconds>
    X-Chat-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

Several workers may run: each delivery is claimed with a conditional UPDATE (a lease of
``LEASE_S``) so that two workers do not post the same record at once
(``records/retries.py``, shared with the transcript e-mails).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.clock import Clock
from chatserver.records.retries import RetryTable
from chatserver.records.schema import crm_deliveries
from chatserver.settings import Settings
from chatserver.telemetry import metrics

log = logging.getLogger(__name__)
LEASE_S = 60

FetchRecord = Callable[[str], Awaitable[dict[str, Any] | None]]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a CRM does on its side (constant-time compare)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class CrmForwarder:
    def __init__(
        self, engine: AsyncEngine, settings: Settings, clock: Clock, fetch: FetchRecord
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.fetch = fetch
        self.delivered = 0
        self.table = RetryTable(
            engine,
            crm_deliveries,
            key="chat_id",
            done="delivered_at",
            lease_s=LEASE_S,
            max_attempts=lambda: settings.crm_max_attempts,
        )

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=10.0) as client:
            await RetryTable.work(lambda: self.deliver_due(client), "CRM delivery loop")

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        async def deliver(chat_id: str) -> None:
            await self._deliver(client, chat_id)

        return await self.table.try_due(self.clock(), 20, deliver)

    async def _deliver(self, client: httpx.AsyncClient, chat_id: str) -> None:
        record = await self.fetch(chat_id)
        error = ""
        if record is None:
            error = "record not found"
        else:
            body = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
            timestamp = str(self.clock() // 1000)
            headers = {
                "Content-Type": "application/json",
                "X-Chat-Record-Id": chat_id,
                "X-Chat-Timestamp": timestamp,
                "X-Chat-Signature": sign(self.settings.crm_webhook_secret, timestamp, body),
            }
            try:
                response = await client.post(
                    self.settings.crm_webhook_url, content=body, headers=headers
                )
                ok = 200 <= response.status_code < 300
                error = "" if ok else f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
        attempts = await self.table.finish(chat_id, self.clock(), error)
        if not attempts:
            self.delivered += 1
            metrics.CRM_DELIVERED.inc()
            return
        metrics.CRM_FAILED.inc()
        log.info(
            "CRM delivery of %s failed (%s); attempt %d",
            chat_id,
            error,
            attempts,
            extra={"chat": chat_id},
        )
