"""REST API of the inbox of offline messages: list, claim, reply by e-mail
(``docs/inbox.md``)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatserver.core.inbox import reply_text
from chatserver.hub.node import Node
from chatserver.records import inbox, mailer
from chatserver.web.api import ApiError, _body, current_agent, endpoint, json_response, query
from chatserver.web.models import InboxQuery, InboxReply
from chatserver.web.records_api import _engine

log = logging.getLogger(__name__)


def _chat_id(request: Request) -> str:
    chat_id: str = request.path_params["chat_id"]
    if not 1 <= len(chat_id) <= 64:
        raise ApiError(404, "not_found", "no such offline message")
    return chat_id


@endpoint
async def list_inbox(request: Request) -> Response:
    node: Node = request.app.state.node
    agent = await current_agent(request)
    p = query(request, InboxQuery)
    items = await inbox.list_items(
        _engine(node),
        topic=p.topic or None,
        status=p.status or None,
        limit=p.limit,
        claimed_by=agent.id if p.mine else None,
    )
    return json_response({"items": items})


@endpoint
async def claim(request: Request) -> Response:
    node: Node = request.app.state.node
    agent = await current_agent(request)
    chat_id = _chat_id(request)
    try:
        item = await inbox.claim(_engine(node), chat_id, agent.id, node.now())
    except inbox.InboxError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    return json_response(item)


@endpoint
async def reply(request: Request) -> Response:
    node: Node = request.app.state.node
    agent = await current_agent(request)
    chat_id = _chat_id(request)
    body = await _body(request, InboxReply)
    settings = node.settings
    try:
        text = reply_text(body.text, settings.inbox_reply_max_chars)
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    engine = _engine(node)
    now = node.now()
    try:
        # the answers about this message first (404, 409); then whether e-mail can go
        inbox.check_reply(await inbox.get_item(engine, chat_id), agent.id)
        if not settings.smtp_host:
            raise ApiError(503, "mail_not_configured", "no SMTP server is configured (SMTP_HOST)")
        item = await inbox.start_reply(engine, chat_id, agent.id, text, now)
    except inbox.InboxError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    try:
        message = mailer.reply_message(
            settings,
            to=item["visitor_email"],
            to_name=item["visitor_name"],
            text=text,
            original=item["text"],
        )
        await mailer.send(settings, message)
    except (ValueError, mailer.MailError) as exc:
        await inbox.undo_reply(engine, chat_id, agent.id, now)
        log.warning("inbox reply to %s not sent: %s", chat_id, exc)
        if isinstance(exc, mailer.MailError):
            raise ApiError(502, "mail_failed", f"the e-mail was not sent: {exc}") from None
        raise ApiError(409, "bad_address", str(exc)) from None
    answered = await inbox.get_item(engine, chat_id)
    return json_response(answered)


routes = [
    Route("/api/inbox", list_inbox, methods=["GET"]),
    Route("/api/inbox/{chat_id}/claim", claim, methods=["POST"]),
    Route("/api/inbox/{chat_id}/reply", reply, methods=["POST"]),
]
