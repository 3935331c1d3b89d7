"""File attachments over REST (docs/files.md).

- ``POST /api/chats/{chat_id}/files?name=&cid=&caption=``: the body is the file's bytes.
  A participant of the open chat (the visitor with their token, the agent holding it) sends
  a file: the body is refused with 413 as soon as it passes ``FILE_MAX_BYTES`` (never
  buffered whole: it is streamed to a temporary file), its type is sniffed from its first
  bytes (415 unless one of ``FILE_TYPES``; the name and ``Content-Type`` are ignored), the
  virus-scan hook runs (422), then it is stored under a random id and posted to the chat
  as a ``msg`` with a ``file`` in one step, exactly as a text message (same ``cid`` dedup).
- ``GET /api/chats/{chat_id}/files/{file_id}``: a short-lived signed URL for one file of
  the chat, for its visitor, the agent holding it and supervisors (checked here, when the
  URL is issued).
- ``GET /api/files/{chat_id}/{file_id}?e=&s=``: the file, when the signature (HMAC over
  chat, file and expiry) holds and the URL has not expired.  Images are shown inline,
  anything else is an attachment; never sniffed by the browser, never run as a page
  (``nosniff`` and a CSP sandbox).

Visitors call the first two from the widget on another site: the ``Authorization`` header
makes the browser ask first (a CORS preflight), answered by ``FilesCors`` for the sites
that may embed the widget.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import quote

from redis.exceptions import RedisError
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatserver.core import files as rules
from chatserver.filestore import StoredFile, new_file_id, scan
from chatserver.hub.node import Node
from chatserver.protocol import ErrorCode, ProtocolError
from chatserver.protocol.envelope import EVERYONE
from chatserver.service.actor import Actor
from chatserver.service.messages import may_read
from chatserver.store.directory import SUPERVISING
from chatserver.web import ratelimit
from chatserver.web.api import ApiError, current_agent, endpoint, json_response, query
from chatserver.web.config_api import widget_origins
from chatserver.web.credentials import bearer_token, client_address, origin_allowed
from chatserver.web.models import DownloadQuery, FileLink, FileOut, Uploaded, UploadQuery

log = logging.getLogger(__name__)

FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
"""On every download: even a file a browser took for a page could run nothing."""


async def file_actor(request: Request) -> Actor:
    """The visitor (their token as ``Authorization: Bearer``) or the agent (session)."""
    node: Node = request.app.state.node
    auth = request.headers.get("authorization", "")
    token = bearer_token(request, cookie=False) if auth.lower().startswith("bearer ") else None
    if token is not None:
        visitor = node.credentials.visitor_from_token(token)
        if visitor is not None:
            return Actor("visitor", visitor)
    agent = await current_agent(request)
    return Actor("agent", agent.id, agent.name, agent.role in SUPERVISING)


def _file_id(request: Request) -> str:
    file_id = str(request.path_params["file_id"])
    if not rules.valid_file_id(file_id):
        raise ApiError(404, "not_found", "no such file")
    return file_id


async def _readable_chat(node: Node, actor: Actor, chat_id: str) -> None:
    chat = await node.chats.get_chat(chat_id)
    if chat is None:
        if actor.supervisor:  # the live chat expired; supervisors still see its record
            return
        raise ApiError(404, "not_found", "no such chat")
    if not may_read(actor, chat):
        raise ApiError(403, "forbidden", "you are not in this chat")


def _out(meta: StoredFile) -> FileOut:
    return FileOut(id=meta.id, name=meta.name, size=meta.size, type=meta.type)


@endpoint
async def upload(request: Request) -> Response:
    node: Node = request.app.state.node
    settings = node.settings
    chat_id = str(request.path_params["chat_id"])
    actor = await file_actor(request)
    params = query(request, UploadQuery)
    if len(params.caption) > settings.max_text_chars:
        raise ApiError(400, "bad_request", "caption too long")
    if not await ratelimit.hit(
        node, "upload", client_address(request), settings.uploads_per_minute
    ):
        raise ApiError(429, "rate_limited", "too many uploads; wait a minute")
    chat = await node.chats.get_chat(chat_id)
    if chat is None:
        raise ApiError(404, "not_found", "no such chat")
    if actor.role == "visitor" and chat.visitor == actor.id:
        actor = Actor("visitor", actor.id, str(chat.details.get("name") or ""))
    if not may_read(actor, chat):
        raise ApiError(403, "forbidden", "you are not in this chat")
    limit = settings.file_max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, "too_large", f"the file is over {limit} bytes")
    draft = await node.files.draft()
    committed = False
    try:
        async for chunk in request.stream():
            if draft.size + len(chunk) > limit:
                raise ApiError(413, "too_large", f"the file is over {limit} bytes")
            if chunk:
                await draft.write(chunk)
        if draft.size == 0:
            raise ApiError(400, "bad_request", "the file is empty")
        mime = rules.sniff(await draft.head(rules.SNIFF_BYTES))
        if mime is None or mime not in settings.file_types:
            raise ApiError(
                415,
                "unsupported_type",
                "this kind of file is not accepted; allowed: " + ", ".join(settings.file_types),
            )
        try:
            refusal = await scan(node.scan_hook, draft.path, mime)
        except Exception:
            log.exception("the virus-scan hook failed on an upload to %s", chat_id)
            raise ApiError(503, "unavailable", "the file could not be scanned; retry") from None
        if refusal is not None:
            log.warning("an upload to %s was refused by the scan hook: %s", chat_id, refusal)
            raise ApiError(422, "rejected", f"the file was refused: {refusal}")
        meta = StoredFile(
            id=new_file_id(),
            chat=chat_id,
            name=rules.display_name(params.name),
            type=mime,
            size=draft.size,
            sender=actor.participant,
            at=node.now(),
        )
        await node.files.commit(draft, meta)
        committed = True
    finally:
        if not committed:
            await node.files.discard(draft)
    cid = params.cid or "f-" + secrets.token_hex(8)
    try:
        ack = await node.message_actions.post(
            actor,
            chat_id,
            cid,
            params.caption,
            kind="message",
            audience=EVERYONE,
            file=meta.ref(),
        )
    except ProtocolError as exc:
        await node.files.remove(meta.id)
        status = 409 if exc.code is ErrorCode.INVALID_STATE else 403
        raise ApiError(status, exc.code.value, exc.message) from None
    if ack.dup:  # a resent upload: the first one's file is the message's
        await node.files.remove(meta.id)
    return json_response(
        Uploaded(chat=chat_id, cid=cid, seq=ack.seq, dup=ack.dup, file=_out(meta)), 201
    )


@endpoint
async def link(request: Request) -> Response:
    node: Node = request.app.state.node
    chat_id = str(request.path_params["chat_id"])
    file_id = _file_id(request)
    actor = await file_actor(request)
    await _readable_chat(node, actor, chat_id)
    meta = await node.files.describe(file_id)
    if meta is None or meta.chat != chat_id:
        raise ApiError(404, "not_found", "no such file in this chat")
    expires = node.now() + int(node.settings.file_url_ttl_s * 1000)
    sig = rules.sign(node.credentials.file_key, chat_id, file_id, expires)
    url = f"/api/files/{quote(chat_id, safe='')}/{file_id}?e={expires}&s={sig}"
    return json_response(
        FileLink(url=url, expires=expires, file=_out(meta)),
        headers={"Cache-Control": "no-store"},
    )


@endpoint
async def download(request: Request) -> Response:
    node: Node = request.app.state.node
    chat_id = str(request.path_params["chat_id"])
    file_id = _file_id(request)
    params = query(request, DownloadQuery)
    if not rules.verify(
        node.credentials.file_key, chat_id, file_id, params.e, params.s, node.now()
    ):
        raise ApiError(403, "forbidden", "this link is not valid or has expired")
    meta = await node.files.describe(file_id)
    if meta is None or meta.chat != chat_id:
        raise ApiError(404, "not_found", "no such file")
    disposition = "inline" if rules.is_image(meta.type) else "attachment"
    ascii_name = "".join(
        c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in meta.name
    )
    headers = {
        "Content-Disposition": f"{disposition}; filename=\"{ascii_name}\"; "
        f"filename*=UTF-8''{quote(meta.name, safe='')}",
        "Content-Length": str(meta.size),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": FILE_CSP,
        "Cache-Control": "private, max-age=60",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    return StreamingResponse(node.files.read(file_id), media_type=meta.type, headers=headers)


class FilesCors:
    """CORS for the widget's calls to the file routes from the sites that may embed it:
    answers their preflight, and lets them read the answers (errors included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not _is_file_path(path):
            await self.app(scope, receive, send)
            return
        origin = next((v.decode() for k, v in scope["headers"] if k == b"origin"), None)
        node: Node = scope["app"].state.node
        try:
            allowed = origin is not None and origin_allowed(origin, await widget_origins(node))
        except RedisError:  # the route itself answers 503; the browser just cannot read it
            allowed = False
        if scope["method"] == "OPTIONS":
            headers: dict[str, Any] = {"Vary": "Origin"}
            if allowed:
                headers.update(
                    {
                        "Access-Control-Allow-Origin": origin,
                        "Access-Control-Allow-Methods": "GET, POST",
                        "Access-Control-Allow-Headers": "authorization, content-type",
                        "Access-Control-Max-Age": "600",
                    }
                )
            await Response(status_code=204 if allowed else 403, headers=headers)(
                scope, receive, send
            )
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and allowed:
                headers = MutableHeaders(scope=message)
                headers["Access-Control-Allow-Origin"] = str(origin)
                headers.append("Vary", "Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _is_file_path(path: str) -> bool:
    if path.startswith("/api/files/"):
        return True
    parts = path.split("/")
    return path.startswith("/api/chats/") and len(parts) >= 5 and parts[4] == "files"


routes = [
    Route("/api/chats/{chat_id}/files", upload, methods=["POST"]),
    Route("/api/chats/{chat_id}/files/{file_id}", link, methods=["GET"]),
    Route("/api/files/{chat_id}/{file_id}", download, methods=["GET"]),
]
