"""Transcript by e-mail: after a chat ended its visitor asks for the transcript (the
``transcript`` frame) and a real SMTP server (aiosmtpd) receives it, in the visitor's
language, without internal notes; the record notes to which address it went.  Bad
requests get a clear error; a request that arrives before the record is written waits for
it; an SMTP server that is down is retried."""

from __future__ import annotations

import asyncio
import time
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from chatserver.client import ChatClient, ClientError, http
from chatserver.records import database
from chatserver.records.schema import interactions, transcript_emails
from chatserver.records.transcripts import TranscriptMailer
from chatserver.records.writer import RecordWriter
from chatserver.settings import Settings
from chatserver.store.keys import Keys
from chatserver.store.redis_conn import connect_pooled
from tests.harness import Cluster, active_chat, close_quietly, free_port, running, scaled
from tests.records.test_inbox import Mailbox, inbox_cluster, smtp_server

AR_LINE = "مرحبا، أين طلبي؟"  # (the pure part: tests/core/test_transcript.py)
UK_LINE = "Привіт, де моє замовлення?"
NOTE = "internal: VIP, check the warehouse"


# --- on real servers ----------------------------------------------------------------------


async def wait_mail(mailbox: Mailbox, n: int, within: float = 20) -> list[EmailMessage]:
    deadline = time.monotonic() + scaled(within)
    while len(mailbox.messages) < n:
        assert time.monotonic() < deadline, mailbox.messages
        await asyncio.sleep(0.1)
    return [m for _, _, m in mailbox.messages]


async def wait_sent(cluster: Cluster, chat_id: str, n: int) -> dict[str, Any]:
    deadline = time.monotonic() + scaled(20)
    while True:
        status, body = await http("GET", f"{cluster.urls[0]}/api/records/{chat_id}",
                                  token=cluster.admin_token)
        sent = [e for e in body.get("transcript_emails", []) if e["sent_at"]]
        if status == 200 and len(sent) >= n:
            return dict(body)
        assert time.monotonic() < deadline, (status, body)
        await asyncio.sleep(0.1)


async def refused(client: ChatClient, frame: dict[str, Any]) -> str:
    with pytest.raises(ClientError) as info:
        await client.request(frame)
    return str(info.value.code)


@pytest.mark.timeout(120)
async def test_visitor_gets_the_transcript_by_email(redis_url: str, database_url: str) -> None:
    with smtp_server() as (mailbox, port):
        async with inbox_cluster(redis_url, port, transcript_max_per_chat="2",
                                 database_url=database_url) as cluster:
            status, config = await http("GET", f"{cluster.urls[1]}/api/widget/config")
            assert status == 200 and config["email_transcript"] is True
            agent = await cluster.agent(await cluster.add_agent("sara", name="Sara", capacity=3))
            visitor = await cluster.visitor(server=1)
            other = await cluster.visitor()
            chat_id = await active_chat(agent, visitor, name="Оксана", locale="uk-UA",
                                        email="oksana@example.com")
            frame = {"type": "transcript", "chat": chat_id, "email": "oksana@example.com"}
            # not before the chat ended
            assert await refused(visitor, frame) == "invalid_state"
            await visitor.say(chat_id, UK_LINE)
            await agent.say(chat_id, NOTE, internal=True)
            await agent.say(chat_id, "Добрий день! Перевіряю.")
            await agent.request({"type": "close", "chat": chat_id, "outcome": "resolved"})

            # bad requests: a clear error each, nothing sent
            assert await refused(visitor, {**frame, "email": "oksana@"}) == "bad_email"
            assert await refused(visitor, {**frame, "email": "a@b.cd, c@d.ef"}) == "bad_email"
            assert await refused(visitor, {**frame, "email": "x"}) == "bad_frame"
            assert await refused(other, frame) == "forbidden"
            assert await refused(visitor, {**frame, "chat": "c-nope"}) == "not_found"

            # asked for at once (the record is probably not written yet): it is sent
            reply = await visitor.request({**frame, "email": " oksana@example.com "})
            assert reply["type"] == "ok" and reply["chat"] == chat_id
            [message] = await wait_mail(mailbox, 1)
            _, recipients, _ = mailbox.messages[0]
            assert recipients == ["oksana@example.com"]
            assert message["To"] == "oksana@example.com"
            assert message["From"] == "support@shop.example"
            assert message["Subject"] == "Запис вашої розмови в чаті"
            assert message["Content-Language"] == "uk"
            body = message.get_content()
            assert f"Ви: {UK_LINE}" in body and "Sara: Добрий день! Перевіряю." in body
            assert NOTE not in body and chat_id in body
            assert "Ось запис вашої розмови з нами в чаті." in body

            # the record notes it; the limit (2) counts every request
            record = await wait_sent(cluster, chat_id, 1)
            [sent] = record["transcript_emails"]
            assert sent["email"] == "oksana@example.com" and sent["sent_at"] >= sent[
                "requested_at"] > 0
            await visitor.request({**frame, "email": "work@example.com"})
            assert await refused(visitor, frame) == "too_many"
            await wait_mail(mailbox, 2)
            assert mailbox.messages[1][1] == ["work@example.com"]
            record = await wait_sent(cluster, chat_id, 2)
            assert sorted(e["email"] for e in record["transcript_emails"]) == [
                "oksana@example.com", "work@example.com"]

            # a chat the visitor ended, in Arabic
            ali = await cluster.visitor()
            ar_chat = await active_chat(agent, ali, name="علي", locale="ar")
            await ali.say(ar_chat, AR_LINE)
            await agent.say(ar_chat, "أهلاً بك")
            await ali.request({"type": "leave", "chat": ar_chat})
            await ali.request({"type": "transcript", "chat": ar_chat, "email": "ali@example.com"})
            messages = await wait_mail(mailbox, 3)
            arabic = messages[2]
            assert arabic["Subject"] == "نص محادثتك" and arabic["Content-Language"] == "ar"
            assert "\u200f[" in arabic.get_content() and f"أنت: {AR_LINE}" in arabic.get_content()
            await close_quietly([agent, visitor, other, ali])


@pytest.mark.timeout(60)
async def test_no_smtp_server_configured(redis_url: str) -> None:
    async with inbox_cluster(redis_url, None) as cluster:
        agent = await cluster.agent(await cluster.add_agent("sara"))
        visitor = await cluster.visitor()
        chat_id = await active_chat(agent, visitor)
        await agent.request({"type": "close", "chat": chat_id})
        code = await refused(
            visitor, {"type": "transcript", "chat": chat_id, "email": "a@example.com"})
        assert code == "mail_not_configured"
        status, config = await http("GET", f"{cluster.urls[0]}/api/widget/config")
        assert status == 200 and config["email_transcript"] is False  # the widget hides it
        await close_quietly([agent, visitor])


@pytest.mark.timeout(90)
async def test_request_before_the_record_waits_for_it_and_smtp_down_is_retried(
    redis_url: str, database_url: str
) -> None:
    """No records writer runs in the server (BACKGROUND_JOBS=false): the request is queued
    in Redis; the writer run here writes the record and queues the e-mail in one step; the
    mailer sends it only then, and retries while the SMTP server is down."""
    smtp_port = free_port()
    env = {"background_jobs": "false", "smtp_host": "127.0.0.1", "smtp_port": str(smtp_port),
           "smtp_starttls": "false", "smtp_from": "support@shop.example",
           "database_url": database_url}
    async with running(redis_url, **env) as cluster:
        agent = await cluster.agent(await cluster.add_agent("sara", name="Sara"))
        visitor = await cluster.visitor()
        chat_id = await active_chat(agent, visitor, locale="en")
        await visitor.say(chat_id, "Where is my order?")
        await agent.say(chat_id, NOTE, internal=True)
        await agent.request({"type": "close", "chat": chat_id})
        await visitor.request({"type": "transcript", "chat": chat_id, "email": "v@example.com"})

        settings = Settings.from_env({k.upper(): v for k, v in env.items()}).with_(
            data_dir=cluster.data_dir, smtp_timeout_s=5.0)
        engine = database.create_engine(database.database_url(settings))
        now = [int(time.time() * 1000)]
        mailer = TranscriptMailer(engine, settings, lambda: now[0])
        async with engine.connect() as conn:
            assert (await conn.execute(select(interactions.c.chat_id).where(
                interactions.c.chat_id == chat_id))).first() is None
        assert await mailer.send_due() == 0  # nothing queued: no record yet

        redis = connect_pooled(redis_url, max_connections=2)
        writer = RecordWriter(redis, Keys(cluster.prefix), engine, settings, lambda: now[0],
                              "test")
        try:
            await writer.ensure_group()
            while await writer.step(block_ms=100):
                pass
        finally:
            await redis.aclose()
        async with engine.connect() as conn:
            [row] = (await conn.execute(select(transcript_emails).where(
                transcript_emails.c.chat_id == chat_id))).all()
        assert row.email == "v@example.com" and row.sent_at is None
        assert isinstance(row.id, str) and "-" in row.id  # the outbox entry id, as text

        # the SMTP server is down: the try fails and is retried later
        assert await mailer.send_due() == 1
        async with engine.connect() as conn:
            row = (await conn.execute(select(transcript_emails))).one()
        assert row.attempts == 1 and row.sent_at is None and row.last_error
        assert await mailer.send_due() == 0  # not due yet
        with smtp_server_on(smtp_port) as mailbox:
            now[0] = row.next_attempt_at
            assert await mailer.send_due() == 1
            [message] = await wait_mail(mailbox, 1)
        body = message.get_content()
        assert "You: Where is my order?" in body and NOTE not in body
        assert message["Subject"] == "Transcript of your chat"
        async with engine.connect() as conn:
            row = (await conn.execute(select(transcript_emails))).one()
        assert row.attempts == 2 and row.sent_at == now[0] and row.last_error == ""
        assert await mailer.send_due() == 0  # sent once
        await engine.dispose()
        await close_quietly([agent, visitor])


def smtp_server_on(port: int) -> Any:
    import contextlib

    from aiosmtpd.controller import Controller

    @contextlib.contextmanager
    def serve() -> Any:
        mailbox = Mailbox()
        controller = Controller(mailbox, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            yield mailbox
        finally:
            controller.stop()

    return serve()
