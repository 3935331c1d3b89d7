"""Sending the transcripts visitors ask for (the ``transcript`` frame) by e-mail.

A request travels: the visitor's frame -> ``lua/transcript.lua`` (checks, counts, puts it
in the records outbox behind the chat's own entry) -> the records writer, which queues it
in ``transcript_emails`` in the same transaction as the chat's record -> this loop, which
sends it once the record exists (a request queued before its record is written simply
waits: it is not due until the record is there), from the record's messages the visitor
saw (no internal notes, no whispers), in the chat's language, through ``mailer.send``.

Delivery is retried with exponential backoff (1 s, 2 s, 4 s ... up to an hour) at most
``TRANSCRIPT_MAX_ATTEMPTS`` times; a row's ``sent_at`` records when (and ``email`` to
which address) it was sent.  Several processes may run the loop: each send is claimed
with a conditional UPDATE (a lease of ``LEASE_S``; ``records/retries.py``, shared with
the CRM hand-off).  A process that dies after the SMTP
server accepted the e-mail but before ``sent_at`` is written sends it again after the
lease (at least once).
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.clock import Clock
from chatserver.core import transcript
from chatserver.records import mailer
from chatserver.records.retries import RetryTable
from chatserver.records.schema import interaction_messages, interactions, transcript_emails
from chatserver.settings import Settings

log = logging.getLogger(__name__)
LEASE_S = 120
BATCH = 20


class TranscriptMailer:
    def __init__(self, engine: AsyncEngine, settings: Settings, clock: Clock) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.sent = 0
        self.table = RetryTable(
            engine,
            transcript_emails,
            key="id",
            done="sent_at",
            lease_s=LEASE_S,
            max_attempts=lambda: settings.transcript_max_attempts,
        )

    async def run(self) -> None:
        """Send what is due until cancelled."""
        await RetryTable.work(self.send_due, "transcript e-mails")

    async def send_due(self) -> int:
        """Send the due requests whose record is written; returns how many were tried."""
        written = exists().where(interactions.c.chat_id == transcript_emails.c.chat_id)
        return await self.table.try_due(self.clock(), BATCH, self._send, written)

    async def _send(self, request_id: str) -> None:
        t = transcript_emails.c
        m = interaction_messages.c
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(t.chat_id, t.email, interactions.c.locale)
                    .join(interactions, interactions.c.chat_id == t.chat_id)
                    .where(t.id == request_id)
                )
            ).one()
            lines = [
                transcript.Line(
                    at=r.at,
                    sender_role=r.sender_role,
                    sender_name=r.sender_name,
                    kind=r.kind,
                    internal=bool(r.internal),
                    text=_with_file(r.text, r.file),
                )
                for r in await conn.execute(
                    select(m.at, m.sender_role, m.sender_name, m.kind, m.internal, m.text, m.file)
                    .where(and_(m.chat_id == row.chat_id, m.internal.is_(False)))
                    .order_by(m.seq)
                )
            ]
        lang = transcript.language(row.locale or "")
        error = ""
        try:
            message = mailer.transcript_message(
                self.settings,
                to=row.email,
                subject=transcript.subject(lang),
                text=transcript.body(lang, row.chat_id, lines),
                lang=lang,
            )
            await mailer.send(self.settings, message)
        except (ValueError, mailer.MailError) as exc:
            error = str(exc) or type(exc).__name__
        attempts = await self.table.finish(request_id, self.clock(), error)
        if not attempts:
            self.sent += 1
            return
        log.info(
            "transcript e-mail of %s not sent (%s); attempt %d",
            row.chat_id,
            error,
            attempts,
            extra={"chat": row.chat_id},
        )


def _with_file(text: str, file: str | None) -> str:
    """A message's text, after the name of its attachment in brackets (docs/files.md)."""
    if not file:
        return text
    try:
        name = str(json.loads(file).get("name", ""))
    except (ValueError, AttributeError):
        return text
    return f"[{name}] {text}".strip()
