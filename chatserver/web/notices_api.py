"""Outage notices (``docs/api.md``): supervisors post them, list them and end them.

``POST /api/notices`` posts one (every process relays it at once: ``docs/protocol.md``,
the ``notice`` frame); ``GET /api/notices`` lists those in force; ``POST
/api/notices/{notice_id}/end`` ends one, optionally closing the chats waiting in its
topics with the outcome ``incident``; ``DELETE /api/notices/{notice_id}`` ends one.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatserver.clock import new_id
from chatserver.core.notices import Notice, NoticeError, validate
from chatserver.hub.node import Node
from chatserver.service import notices as actions
from chatserver.store.directory import SUPERVISING
from chatserver.web.api import ApiError, _body, current_agent, endpoint, json_response, require
from chatserver.web.models import NoticeBody, NoticeEndBody, NoticeEnded, NoticeOut

MAX_AHEAD_MS = 30 * 86_400_000
"""A notice's expiry is at most 30 days ahead."""


def _out(notice: Notice) -> NoticeOut:
    return NoticeOut(
        id=notice.id,
        texts=dict(notice.texts),
        topics=list(notice.topics),
        created_at=notice.created_at,
        expires_at=notice.expires_at,
        by=notice.by,
    )


@endpoint
async def notices(request: Request) -> Response:
    node: Node = request.app.state.node
    caller = await current_agent(request)
    require(caller, *SUPERVISING)
    now = node.now()
    if request.method == "GET":
        return json_response([_out(n) for n in await actions.in_force(node)])
    body = await _body(request, NoticeBody)
    if body.expires_at is not None and body.expires_at > now + MAX_AHEAD_MS:
        raise ApiError(400, "bad_request", "expires_at is more than 30 days ahead")
    try:
        texts, topics = validate(
            {str(k): v for k, v in body.texts.items()},
            body.topics,
            body.expires_at,
            now,
            max_chars=node.settings.notice_max_chars,
            known_topics=await node.catalog.topics(),
        )
    except NoticeError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    notice = Notice(
        id=new_id("nt"),
        texts=texts,
        topics=topics,
        created_at=now,
        expires_at=body.expires_at,
        by=f"supervisor:{caller.id}",
    )
    if not await actions.post(node, notice):
        raise ApiError(
            409,
            "in_use",
            f"{node.settings.notices_max_active} notices are in force already; end one first",
        )
    return json_response(_out(notice), 201)


@endpoint
async def end_notice(request: Request) -> Response:
    node: Node = request.app.state.node
    caller = await current_agent(request)
    require(caller, *SUPERVISING)
    body = NoticeEndBody() if request.method == "DELETE" else await _body(request, NoticeEndBody)
    notice, closed = await actions.end(
        node,
        request.path_params["notice_id"],
        f"supervisor:{caller.id}",
        close=body.close_queued,
        message={str(k): v for k, v in body.message.items()},
    )
    if notice is None:
        raise ApiError(404, "not_found", "no such notice in force")
    return json_response(NoticeEnded(notice=_out(notice), closed=closed))


routes = [
    Route("/api/notices", notices, methods=["GET", "POST"]),
    Route("/api/notices/{notice_id}/end", end_notice, methods=["POST"]),
    Route("/api/notices/{notice_id}", end_notice, methods=["DELETE"]),
]
