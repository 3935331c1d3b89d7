"""Widget configuration (public, for the widget), widget settings and canned answers
(administration)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatserver.clock import new_id
from chatserver.hub.node import Node
from chatserver.store.config import Canned, WidgetSettings, is_open
from chatserver.store.directory import Role
from chatserver.web.api import (
    ApiError,
    _body,
    current_agent,
    endpoint,
    json_response,
    require,
)
from chatserver.web.credentials import origin_allowed
from chatserver.web.models import (
    CannedBody,
    TagListBody,
    TagListOut,
    WidgetConfig,
    WidgetLimits,
    WidgetNotice,
    WidgetSettingsPatch,
)

_json = json_response


async def widget_origins(node: Node) -> tuple[str, ...]:
    """Where the widget may run: the admin's list, else the WIDGET_ORIGINS setting."""
    settings = await node.catalog.widget_settings()
    return tuple(settings.allowed_origins) or node.settings.widget_origins


@endpoint
async def widget_config(request: Request) -> Response:
    """What the widget needs before it opens a socket.  Public; CORS for allowed sites."""
    node: Node = request.app.state.node
    origin = request.headers.get("origin")
    allowed = await widget_origins(node)
    if origin is not None and not origin_allowed(origin, allowed):
        raise ApiError(403, "forbidden", "this site may not embed the widget")
    settings = await node.catalog.widget_settings()
    catalog = await node.catalog.topics()
    topics = sorted(catalog)
    view = await node.availability.current()
    body = WidgetConfig(
        languages=settings.languages,
        default_language=settings.default_language,
        open=is_open(settings, node.now()),
        agents_available=bool(view["agents_available"]),
        topics_available=dict(view["topics"]),
        offline_message=settings.offline_message,
        prechat_fields=settings.prechat_fields,
        required_fields=settings.required_fields,
        topics=topics,
        topic_labels={name: dict(t.labels) for name, t in sorted(catalog.items()) if t.labels},
        color=settings.color,
        title=settings.title,
        nps_question=settings.nps_question,
        limits=WidgetLimits(max_text_chars=node.settings.max_text_chars),
        email_transcript=bool(node.settings.smtp_host)
        and node.settings.transcript_max_per_chat > 0,
        notices=[msgspec.convert(n, WidgetNotice) for n in node.notices.for_topic(None)],
    )
    headers = {"Cache-Control": "no-store", "Vary": "Origin"}
    if origin is not None:
        headers["Access-Control-Allow-Origin"] = origin
    return _json(body, headers=headers)


@endpoint
async def widget_settings(request: Request) -> Response:
    node: Node = request.app.state.node
    agent = await current_agent(request)
    if request.method == "GET":
        require(agent, Role.SUPERVISOR, Role.ADMIN)
        return _json(await node.catalog.widget_settings())
    require(agent, Role.ADMIN)
    settings = await _changed_widget_settings(request, await node.catalog.widget_settings())
    try:
        await node.admin.set_widget_settings(settings)
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    return _json(settings)


async def _changed_widget_settings(request: Request, current: WidgetSettings) -> WidgetSettings:
    """PUT and PATCH both change only the fields the body names (``{}`` changes nothing):
    a client that sends part of the settings never resets the rest to their defaults."""
    return merged_widget_settings(current, await _body(request, WidgetSettingsPatch))


def merged_widget_settings(current: WidgetSettings, patch: WidgetSettingsPatch) -> WidgetSettings:
    """``current`` with the fields ``patch`` names changed (shared with the command line)."""
    merged = {**msgspec.to_builtins(current), **patch.changes()}
    try:
        return msgspec.convert(merged, WidgetSettings)
    except msgspec.ValidationError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


@endpoint
async def tag_list(request: Request) -> Response:
    """The tags agents may use: every agent reads them, an admin replaces them."""
    node: Node = request.app.state.node
    agent = await current_agent(request)
    if request.method == "PUT":
        require(agent, Role.ADMIN)
        await node.admin.set_tag_list((await _body(request, TagListBody)).tags)
    tags = sorted(await node.catalog.tag_list(), key=str.casefold)
    return _json(TagListOut(tags=tags, free=node.settings.free_tags))


@endpoint
async def canned_list(request: Request) -> Response:
    node: Node = request.app.state.node
    agent = await current_agent(request)
    if request.method == "GET":
        return _json(await node.admin.canned())
    require(agent, Role.ADMIN)
    item = canned_of(await _body(request, CannedBody))
    canned_id = new_id("k")
    await node.admin.put_canned(canned_id, item)
    return _json({"id": canned_id, **msgspec.structs.asdict(item)}, 201)


@endpoint
async def canned_one(request: Request) -> Response:
    node: Node = request.app.state.node
    agent = await current_agent(request)
    require(agent, Role.ADMIN)
    canned_id = request.path_params["canned_id"]
    existing = {c["id"] for c in await node.admin.canned()}
    if canned_id not in existing:
        raise ApiError(404, "not_found", "no such canned answer")
    if request.method == "DELETE":
        await node.admin.delete_canned(canned_id)
        return _json({"deleted": True})
    item = canned_of(await _body(request, CannedBody))
    await node.admin.put_canned(canned_id, item)
    return _json({"id": canned_id, **msgspec.structs.asdict(item)})


def canned_of(body: CannedBody) -> Canned:
    """The stored form of a canned answer the API (or the command line) accepted."""
    return Canned(shortcut=body.shortcut, text=body.text, language=body.language)


routes = [
    Route("/api/widget/config", widget_config, methods=["GET"]),
    Route("/api/widget/settings", widget_settings, methods=["GET", "PUT", "PATCH"]),
    Route("/api/tags", tag_list, methods=["GET", "PUT"]),
    Route("/api/canned", canned_list, methods=["GET", "POST"]),
    Route("/api/canned/{canned_id}", canned_one, methods=["PUT", "DELETE"]),
]
