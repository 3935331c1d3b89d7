"""File attachments (docs/files.md) against real server processes, Valkey and HTTP:
sending, type sniffing, limits, signed download URLs, the record and the export, the
virus-scan hook.  Attack 1 of SECURITY.md for files: another chat's visitor cannot fetch
a file, neither by asking for a URL nor with a URL made for another chat, expired or
tampered with.  Storage: local disk only (no S3-compatible server is tested)."""

from __future__ import annotations

import asyncio
import json
import struct
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatserver.client import ChatClient, http
from chatserver.core import files as rules
from chatserver.filestore import load_scan_hook, scan
from chatserver.protocol.server_frames import Message, decode_server, encode
from tests.harness import Cluster, active_chat, close_quietly, running, scaled, written_record
from tests.scan_hook import EICAR

pytestmark = pytest.mark.timeout(90)


def png_bytes() -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
HTML = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


async def upload(
    base: str, chat: str, token: str, content: Any, name: str = "f", **params: str
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=scaled(20)) as client:
        return await client.post(
            f"/api/chats/{chat}/files",
            params={"name": name, **params},
            content=content,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "image/png"},
        )


async def get(base: str, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base, timeout=scaled(20)) as client:
        return await client.get(path, headers=headers)


async def two_chats(
    cluster: Cluster, visitor_server: int = 0
) -> tuple[ChatClient, ChatClient, ChatClient, str, str, str]:
    """An agent holding two chats, each with its own visitor (connected to
    ``visitor_server``; the agent to the first process)."""
    token = await cluster.add_agent("ag-files", capacity=5)
    agent = await cluster.agent(token)
    a = await cluster.visitor(visitor_server)
    b = await cluster.visitor(visitor_server)
    chat_a = await active_chat(agent, a, name="Ann")
    chat_b = await active_chat(agent, b, name="Bob")
    return agent, a, b, chat_a, chat_b, token


@pytest.fixture
async def files_cluster(redis_url: str) -> AsyncIterator[Cluster]:
    async with running(
        redis_url, n=2, file_max_bytes="50000", file_scan_hook="tests.scan_hook:scan"
    ) as cluster:
        yield cluster


async def file_message(client: ChatClient, chat: str) -> dict[str, Any]:
    """The first message with a file the client received in the chat."""
    deadline = time.monotonic() + scaled(10)
    while True:
        found = [m for m in client.messages.get(chat, []) if "file" in m]
        if found:
            return dict(found[0])
        assert time.monotonic() < deadline, client.messages.get(chat)
        await asyncio.sleep(0.05)


def strict(frame: dict[str, Any]) -> Message:
    decoded = decode_server(encode(frame))
    assert isinstance(decoded, Message)
    return decoded


async def test_visitor_sends_an_image_the_agent_sees_it_and_downloads_it_inline(
    files_cluster: Cluster,
) -> None:
    """Two processes: the visitor is connected to the second, the upload and the agent go
    through the first (the msg is relayed over pub/sub; the storage folder is shared)."""
    cluster = files_cluster
    base = cluster.urls[0]
    agent, a, b, chat_a, _, agent_token = await two_chats(cluster, visitor_server=1)
    try:
        image = png_bytes()
        assert a.token
        reply = await upload(base, chat_a, a.token, image, name="../../etc/photo.png", cid="c1")
        assert reply.status_code == 201, reply.text
        body = reply.json()
        assert body["file"]["type"] == "image/png"
        assert body["file"]["name"] == "photo.png"  # the last part only: never a path
        assert body["file"]["size"] == len(image)
        assert body["dup"] is False
        # the agent gets it live, as a msg with a file (strictly decoded)
        frame = await file_message(agent, chat_a)
        msg = strict(frame)
        assert msg.file and msg.file.id == body["file"]["id"] and msg.seq == body["seq"]
        # the visitor's own tabs (on the other process) get it too: the upload was over HTTP
        assert (await file_message(a, chat_a))["seq"] == body["seq"]
        assert msg.sender.role == "visitor"
        # resent with the same cid: one message, the first one's seq
        again = await upload(base, chat_a, a.token, image, name="photo.png", cid="c1")
        assert again.status_code == 201 and again.json()["dup"] is True
        assert again.json()["seq"] == body["seq"]
        # history carries it too
        page = await agent.request({"type": "history", "chat": chat_a})
        assert [m["file"]["id"] for m in page["msgs"] if "file" in m] == [body["file"]["id"]]
        # a signed URL, then the bytes: shown inline, never sniffed, no script
        link = await get(base, f"/api/chats/{chat_a}/files/{body['file']['id']}", agent_token)
        assert link.status_code == 200, link.text
        url = link.json()["url"]
        assert agent_token not in url and a.token not in url
        got = await get(cluster.urls[1], url)  # any process serves it
        assert got.status_code == 200
        assert got.content == image
        assert got.headers["content-type"] == "image/png"
        assert got.headers["content-disposition"].startswith("inline")
        assert got.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in got.headers["content-security-policy"]
    finally:
        await close_quietly([agent, a, b])


async def test_agent_sends_a_pdf_the_visitor_downloads_it_as_an_attachment(
    files_cluster: Cluster,
) -> None:
    cluster = files_cluster
    base = cluster.urls[0]
    agent, a, b, chat_a, _, agent_token = await two_chats(cluster)
    try:
        reply = await upload(base, chat_a, agent_token, PDF, name="Рахунок №1.pdf",
                             caption="your invoice")
        assert reply.status_code == 201, reply.text
        file = reply.json()["file"]
        assert file["type"] == "application/pdf"
        frame = await file_message(a, chat_a)
        assert strict(frame).text == "your invoice"
        assert a.token
        link = await get(base, f"/api/chats/{chat_a}/files/{file['id']}", a.token)
        assert link.status_code == 200, link.text
        got = await get(base, link.json()["url"])
        assert got.status_code == 200 and got.content == PDF
        disposition = got.headers["content-disposition"]
        assert disposition.startswith("attachment;")
        assert "filename*=UTF-8''%D0%A0%D0%B0%D1%85" in disposition
    finally:
        await close_quietly([agent, a, b])


async def test_attack_1_another_chats_visitor_cannot_fetch_a_file(files_cluster: Cluster) -> None:
    cluster = files_cluster
    base = cluster.urls[0]
    agent, a, b, chat_a, chat_b, _ = await two_chats(cluster)
    try:
        assert a.token and b.token
        reply = await upload(base, chat_a, a.token, png_bytes(), name="private.png")
        assert reply.status_code == 201, reply.text
        file_id = reply.json()["file"]["id"]
        # B asks for a URL to A's chat's file: refused
        refused = await get(base, f"/api/chats/{chat_a}/files/{file_id}", b.token)
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
        # B asks through their own chat: that file is not in it
        other = await get(base, f"/api/chats/{chat_b}/files/{file_id}", b.token)
        assert other.status_code == 404
        # no credentials at all
        assert (await get(base, f"/api/chats/{chat_a}/files/{file_id}")).status_code == 401
        # B cannot post into A's chat either
        posted = await upload(base, chat_a, b.token, png_bytes())
        assert posted.status_code == 403
        # A's real URL, then variations of it
        link = await get(base, f"/api/chats/{chat_a}/files/{file_id}", a.token)
        url = link.json()["url"]
        assert (await get(base, url)).status_code == 200
        path, _, query = url.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&"))
        tampered_sig = params["s"][:-1] + ("0" if params["s"][-1] != "0" else "1")
        tampered = f"{path}?e={params['e']}&s={tampered_sig}"
        assert (await get(base, tampered)).status_code == 403
        later = f"{path}?e={int(params['e']) + 3_600_000}&s={params['s']}"
        assert (await get(base, later)).status_code == 403  # a longer life is not signed
        moved = url.replace(f"/api/files/{chat_a}/", f"/api/files/{chat_b}/")
        assert (await get(base, moved)).status_code == 403  # signed for chat A only
        # correctly signed but expired (the tests know SECRET_KEY)
        from chatserver.auth import Credentials
        from chatserver.settings import Settings

        key = Credentials(
            Settings(secret_key=cluster.env["SECRET_KEY"], password_memory_kib=64)
        ).file_key
        past = int(time.time() * 1000) - 1000
        expired = f"{path}?e={past}&s={rules.sign(key, chat_a, file_id, past)}"
        refused_expired = await get(base, expired)
        assert refused_expired.status_code == 403
        assert refused_expired.json()["error"] == "forbidden"
        # a correct signature for chat B naming A's file: not B's file
        future = int(time.time() * 1000) + 60_000
        forged = (f"/api/files/{chat_b}/{file_id}?e={future}"
                  f"&s={rules.sign(key, chat_b, file_id, future)}")
        assert (await get(base, forged)).status_code == 404
    finally:
        await close_quietly([agent, a, b])


async def test_oversize_and_disguised_files_are_refused_and_nothing_is_kept(
    files_cluster: Cluster,
) -> None:
    cluster = files_cluster
    base = cluster.urls[0]
    agent, a, b, chat_a, _, _ = await two_chats(cluster)
    try:
        assert a.token
        big = png_bytes() + b"\0" * 60_000
        declared = await upload(base, chat_a, a.token, big, name="big.png")
        assert declared.status_code == 413 and declared.json()["error"] == "too_large"

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: cut while streaming
            yield png_bytes()
            for _ in range(100):
                yield b"\0" * 8192

        streamed = await upload(base, chat_a, a.token, chunked(), name="big.png")
        assert streamed.status_code == 413 and streamed.json()["error"] == "too_large"
        for content, name in ((HTML, "cat.png"), (SVG, "logo.svg"), (b"plain text", "a.txt")):
            refused = await upload(base, chat_a, a.token, content, name=name)
            assert refused.status_code == 415, (name, refused.text)
            assert refused.json()["error"] == "unsupported_type"
        empty = await upload(base, chat_a, a.token, b"", name="empty.png")
        assert empty.status_code == 400
        # the virus-scan hook refuses a file carrying the EICAR test string
        infected = await upload(base, chat_a, a.token, PDF + EICAR, name="x.pdf")
        assert infected.status_code == 422 and infected.json()["error"] == "rejected"
        # nothing refused was kept (no file, no draft), and no message was posted
        folder = cluster.data_dir / "files"
        assert sorted(p.name for p in folder.iterdir()) == []
        page = await agent.request({"type": "history", "chat": chat_a})
        assert not [m for m in page["msgs"] if "file" in m]
    finally:
        await close_quietly([agent, a, b])


async def test_files_are_in_the_record_and_the_export(files_cluster: Cluster) -> None:
    cluster = files_cluster
    base = cluster.urls[0]
    agent, a, b, chat_a, _, agent_token = await two_chats(cluster)
    try:
        assert a.token
        reply = await upload(base, chat_a, a.token, png_bytes(), name="<img src=x>.png")
        assert reply.status_code == 201, reply.text
        file = reply.json()["file"]
        await agent.request({"type": "close", "chat": chat_a, "outcome": "resolved"})
        record = await written_record(cluster, chat_a, within=20)
        files = [m["file"] for m in record["messages"] if m.get("file")]
        assert files == [file]
        assert all(m["file"] is None for m in record["messages"] if m is not None
                   and not m.get("file"))
        status, exported = await http(
            "GET", f"{base}/api/records/export.json?q=img", token=cluster.admin_token
        )
        assert status == 200
        rows = exported if isinstance(exported, list) else json.loads(exported)
        (row,) = [r for r in rows if r["chat_id"] == chat_a]
        assert [m["file"] for m in row["messages"] if m.get("file")] == [file]
        # after the chat closed, its visitor and a supervisor may still fetch it
        link = await get(base, f"/api/chats/{chat_a}/files/{file['id']}", a.token)
        assert link.status_code == 200
        link = await get(base, f"/api/chats/{chat_a}/files/{file['id']}", cluster.admin_token)
        assert link.status_code == 200
        # and nobody may add a file to the closed chat
        closed = await upload(base, chat_a, agent_token, png_bytes())
        assert closed.status_code in (403, 409)
    finally:
        await close_quietly([agent, a, b])


async def test_the_widget_origin_gets_cors_for_the_file_routes(files_cluster: Cluster) -> None:
    base = files_cluster.urls[0]
    async with httpx.AsyncClient(base_url=base, timeout=scaled(20)) as client:
        preflight = await client.options(
            "/api/chats/c-1/files",
            headers={
                "Origin": "https://shop.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
        assert "authorization" in preflight.headers["access-control-allow-headers"]
        refused = await client.get(
            "/api/chats/c-1/files/" + "0" * 32, headers={"Origin": "https://shop.example"}
        )
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "https://shop.example"


async def test_the_emailed_transcript_names_the_files(redis_url: str) -> None:
    from tests.records.test_inbox import inbox_cluster, smtp_server
    from tests.records.test_transcript_email import wait_mail

    with smtp_server() as (mailbox, port):
        async with inbox_cluster(redis_url, port) as cluster:
            agent, a, b, chat_a, _, agent_token = await two_chats(cluster)
            try:
                reply = await upload(cluster.urls[0], chat_a, agent_token, PDF,
                                     name="invoice.pdf", caption="here it is")
                assert reply.status_code == 201, reply.text
                await agent.request({"type": "close", "chat": chat_a, "outcome": "resolved"})
                await a.request({"type": "transcript", "chat": chat_a,
                                 "email": "ann@example.com"})
                [message] = await wait_mail(mailbox, 1)
                assert "[invoice.pdf] here it is" in message.get_content()
            finally:
                await close_quietly([agent, a, b])


def _samples(folder: Path) -> tuple[Path, Path]:
    clean, infected = folder / "clean.pdf", folder / "infected.pdf"
    clean.write_bytes(PDF)
    infected.write_bytes(PDF + EICAR)
    return clean, infected


async def test_the_scan_hook_may_be_a_coroutine_or_a_plain_function(tmp_path: Path) -> None:
    clean, infected = _samples(tmp_path)
    for spec in ("tests.scan_hook:scan", "tests.scan_hook:scan_sync"):
        hook = load_scan_hook(spec)
        assert await scan(hook, clean, "application/pdf") is None
        assert await scan(hook, infected, "application/pdf") == "EICAR test signature"
    assert load_scan_hook("") is None
    assert await scan(None, infected, "application/pdf") is None
    with pytest.raises(ModuleNotFoundError):
        load_scan_hook("tests.no_such_module:scan")
