"""The inbox of offline messages on real servers: a visitor leaves a message over a real
WebSocket, agents claim it (two at once: one wins) and answer it through the REST API, and
a real SMTP server (aiosmtpd, on a free port) receives the e-mail; the record keeps the
reply and the status becomes answered.  Bad input gets a clear 4xx."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from chatserver.client import http
from tests.harness import Cluster, close_quietly, free_port, written_record


class Mailbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as server:
        yield server


@contextlib.asynccontextmanager
async def inbox_cluster(redis_url: str, smtp_port: int | None, **env: str
                        ) -> AsyncIterator[Cluster]:
    smtp = {} if smtp_port is None else {
        "smtp_host": "127.0.0.1", "smtp_port": str(smtp_port), "smtp_starttls": "false",
        "smtp_from": "support@shop.example", "inbox_reply_subject": "Re: your message to Shop",
    }
    cluster = Cluster(redis_url, n=2, **smtp, **env)
    await cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


async def leave_message(cluster: Cluster, text: str, *, topic: str = "billing",
                        email_address: str = "olena@example.com", name: str = "Олена") -> str:
    visitor = await cluster.visitor(server=1)
    try:
        reply = await visitor.request({"type": "offline", "email": email_address,
                                       "text": text, "name": name, "topic": topic,
                                       "locale": "uk"})
    finally:
        await close_quietly([visitor])
    chat_id = str(reply["chat"])
    await written_record(cluster, chat_id, within=20)
    return chat_id


QUESTION = "Де мій рахунок?\nДякую"  # noqa: RUF001 (Ukrainian)


async def test_claim_reply_by_email_and_the_record(
    redis_url: str, database_url: str, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp
    async with inbox_cluster(redis_url, port, database_url=database_url) as cluster:
        await cluster.set_topic("billing")
        await cluster.set_topic("sales")
        anna = await cluster.add_agent("anna")
        boris = await cluster.add_agent("boris")
        base = cluster.urls[0]
        chat_id = await leave_message(cluster, QUESTION)
        other = await leave_message(cluster, "price?", topic="sales")

        status, page = await http("GET", f"{base}/api/inbox?topic=billing&status=open",
                                  token=anna)
        assert status == 200, page
        [item] = [i for i in page["items"] if i["chat_id"] == chat_id]
        assert item["status"] == "open" and item["claimed_by"] is None
        assert item["text"] == QUESTION and item["topic"] == "billing"
        assert all(i["topic"] == "billing" for i in page["items"])
        assert other not in {i["chat_id"] for i in page["items"]}

        # replying before claiming is refused; claiming twice by the same agent is fine
        status, body = await http("POST", f"{base}/api/inbox/{chat_id}/reply",
                                  {"text": "hi"}, anna)
        assert (status, body["error"]) == (409, "not_claimed")
        status, body = await http("POST", f"{base}/api/inbox/{chat_id}/claim", None, anna)
        assert status == 200 and body["claimed_by"] == "anna", body
        status, body = await http("POST", f"{base}/api/inbox/{chat_id}/claim", None, anna)
        assert status == 200 and body["claimed_by"] == "anna", body
        status, body = await http("POST", f"{base}/api/inbox/{chat_id}/claim", None, boris)
        assert (status, body["error"]) == (409, "claimed"), body

        # bad replies: empty, only spaces, too long, another agent's claim, unknown fields
        for reply_body, code in [({"text": ""}, 400), ({"text": "   "}, 400),
                                 ({"text": "x" * 10_001}, 400), ({"txt": "hi"}, 400)]:
            status, body = await http("POST", f"{base}/api/inbox/{chat_id}/reply",
                                      reply_body, anna)
            assert status == code and body["error"] == "bad_request", (reply_body, body)
        status, body = await http("POST", f"{base}/api/inbox/{chat_id}/reply",
                                  {"text": "mine"}, boris)
        assert (status, body["error"]) == (409, "claimed"), body
        status, body = await http("POST", f"{base}/api/inbox/nope/reply", {"text": "x"}, anna)
        assert (status, body["error"]) == (404, "not_found"), body
        assert mailbox.messages == []

        answer = "Добрий день! Рахунок надіслано.\nAnna"
        status, body = await http("POST", f"{base}/api/inbox/{chat_id}/reply",
                                  {"text": answer}, anna)
        assert status == 200, body
        assert body["status"] == "answered" and body["reply"] == answer
        assert body["replied_by"] == "anna" and body["replied_at"] > 0

        [(sender, recipients, message)] = mailbox.messages
        assert sender == "support@shop.example" and recipients == ["olena@example.com"]
        assert message["From"] == "support@shop.example"
        assert message["To"].addresses[0].addr_spec == "olena@example.com"
        assert message["To"].addresses[0].display_name == "Олена"
        assert message["Subject"] == "Re: your message to Shop"
        content = message.get_content().replace("\r\n", "\n")
        assert content.startswith(answer + "\n")
        assert "> Де мій рахунок?\n> Дякую" in content

        # answered: a second reply and a new claim are refused, and nothing more is sent
        status, body = await http("POST", f"{base}/api/inbox/{chat_id}/reply",
                                  {"text": "again"}, anna)
        assert (status, body["error"]) == (409, "already_answered"), body
        status, body = await http("POST", f"{base}/api/inbox/{chat_id}/claim", None, boris)
        assert status == 409, body
        assert len(mailbox.messages) == 1

        # the record holds the reply; the inbox lists it as answered
        record = await written_record(cluster, chat_id, within=5)
        assert record["end_state"] == "offline"
        assert record["reply"] == answer and record["replied_by"] == "anna"
        assert record["claimed_by"] == "anna"
        status, page = await http("GET", f"{base}/api/inbox?status=answered", token=boris)
        assert [i["chat_id"] for i in page["items"]] == [chat_id]
        status, page = await http("GET", f"{base}/api/inbox?status=open", token=boris)
        assert [i["chat_id"] for i in page["items"]] == [other]
        status, page = await http("GET", f"{base}/api/inbox?mine=true", token=anna)
        assert [i["chat_id"] for i in page["items"]] == [chat_id]
        status, page = await http("GET", f"{base}/api/inbox?mine=true", token=boris)
        assert (status, page["items"]) == (200, [])
        status, body = await http("GET", f"{base}/api/inbox?status=closed", token=boris)
        assert (status, body["error"]) == (400, "bad_request")


async def test_concurrent_claims_exactly_one_wins(
    redis_url: str, database_url: str
) -> None:
    async with inbox_cluster(redis_url, None, database_url=database_url) as cluster:
        await cluster.set_topic("billing")
        tokens = {a: await cluster.add_agent(a) for a in ("a1", "a2", "a3", "a4")}
        for round_ in range(3):
            chat_id = await leave_message(cluster, f"help {round_}")
            results = await asyncio.gather(*(
                http("POST", f"{cluster.urls[i % 2]}/api/inbox/{chat_id}/claim", None, t)
                for i, t in enumerate(tokens.values())
            ))
            winners = [body["claimed_by"] for status, body in results if status == 200]
            losers = [body["error"] for status, body in results if status != 200]
            assert len(winners) == 1, results
            assert losers == ["claimed"] * 3, results
            status, page = await http("GET", f"{cluster.urls[0]}/api/inbox",
                                      token=tokens["a1"])
            assert status == 200, page
            [item] = [i for i in page["items"] if i["chat_id"] == chat_id]
            assert item["claimed_by"] == winners[0]


async def test_reply_without_smtp_or_with_smtp_down_leaves_the_message_open(
    redis_url: str,
) -> None:
    port = free_port()  # nothing listens there
    async with inbox_cluster(redis_url, port, smtp_timeout_s="2") as cluster:
        await cluster.set_topic("billing")
        token = await cluster.add_agent("anna")
        base = cluster.urls[0]
        chat_id = await leave_message(cluster, "hello")
        status, body = await http("POST", f"{base}/api/inbox/{chat_id}/claim", None, token)
        assert status == 200, body
        status, body = await http("POST", f"{base}/api/inbox/{chat_id}/reply",
                                  {"text": "hi"}, token)
        assert (status, body["error"]) == (502, "mail_failed"), body
        status, page = await http("GET", f"{base}/api/inbox?status=open", token=token)
        [item] = page["items"]
        assert item["status"] == "open" and item["reply"] is None
        assert item["claimed_by"] == "anna"
    async with inbox_cluster(redis_url, None) as cluster:
        await cluster.set_topic("billing")
        token = await cluster.add_agent("anna")
        chat_id = await leave_message(cluster, "hello")
        await http("POST", f"{cluster.urls[0]}/api/inbox/{chat_id}/claim", None, token)
        status, body = await http("POST", f"{cluster.urls[0]}/api/inbox/{chat_id}/reply",
                                  {"text": "hi"}, token)
        assert (status, body["error"]) == (503, "mail_not_configured"), body
