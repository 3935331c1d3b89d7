"""CRM hand-off: signed, retried until accepted."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chatserver.records.crm import sign, verify
from chatserver.records.retries import backoff_s
from tests.harness import Cluster, free_port, scaled

SECRET = "crm-shared-secret"


class Receiver:
    """A CRM stand-in: a real HTTP server that refuses the first ``fail`` posts."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.port = free_port()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append((dict(self.headers), body))
                status = 503 if len(outer.posts) <= outer.fail else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_signature_and_backoff() -> None:
    body = b'{"chat_id":"c1"}'
    signature = sign(SECRET, "1700000000", body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify(SECRET, "1700000000", body, signature)
    assert not verify(SECRET, "1700000001", body, signature)
    assert not verify("other", "1700000000", body, signature)
    assert [backoff_s(n) for n in (1, 2, 3, 4, 13)] == [1, 2, 4, 8, 3600]


@pytest.mark.timeout(60)
async def test_each_record_is_posted_signed_and_retried_until_accepted(redis_url: str) -> None:
    with Receiver(fail=2) as crm:
        cluster = Cluster(
            redis_url, n=1, crm_webhook_url=f"http://127.0.0.1:{crm.port}/hook",
            crm_webhook_secret=SECRET,
        )
        await cluster.start()
        try:
            visitor = await cluster.visitor()
            chat = await visitor.start(name="Ada", email="ada@example.com")
            await visitor.request({"type": "leave", "chat": chat["id"]})
            await visitor.close()
            deadline = time.monotonic() + scaled(20)
            while not any(p for p in crm.posts[2:]):
                assert time.monotonic() < deadline, crm.posts
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # no further posts once accepted
            assert len(crm.posts) == 3  # two refused (503), then accepted
            for headers, body in crm.posts:
                assert headers["X-Chat-Record-Id"] == chat["id"]
                assert verify(SECRET, headers["X-Chat-Timestamp"], body,
                              headers["X-Chat-Signature"])
                record = json.loads(body)
                assert record["chat_id"] == chat["id"]
                assert record["visitor_email"] == "ada@example.com"
                assert record["end_state"] == "abandoned"
        finally:
            cluster.stop()
