"""The OpenAPI 3.1 document of the REST API, generated from the typed models.

:data:`OPERATIONS` is the route table: for each REST operation its path, method, who may
call it, its request model (body or query string), its response model and its error
statuses.  :func:`document` builds the document from it with msgspec's JSON Schema
generation (JSON Schema 2020-12, the dialect of OpenAPI 3.1), so the schemas are those of
the models the handlers decode and encode with.  A test checks that the table and the
application's routes name the same operations.

Served at ``/api/openapi.json``, and ``/api/docs`` is a page that shows it
(``chatserver.web.docs_api``); ``chatserver openapi`` prints it.  No web framework here, so
that the command loads fast.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import msgspec

from chatserver.store.config import WidgetSettings
from chatserver.web import models as m

ANYONE = ("anonymous", "visitor")
AGENTS = ("agent", "supervisor", "admin")
SUPERVISORS = ("supervisor", "admin")
ADMINS = ("admin",)

Id = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "[^.]"}
"""A path segment naming an agent, topic, canned answer or chat (never '.' or '..').  The
names' rules (docs/deployment.md) allow letters of every script, which JSON Schema's
ECMA-262 patterns cannot say as Python does: the server checks them (400 or 404)."""


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    tag: str
    summary: str
    roles: tuple[str, ...]
    """Who may call it: anonymous, visitor, agent, supervisor, admin."""
    response: Any
    """The response model (a type), or a schema (a dict) for what is not JSON."""
    status: int = 200
    body: Any = None
    query: type[msgspec.Struct] | None = None
    errors: tuple[int, ...] = ()
    media_type: str = "application/json"
    body_media: str = "application/json"
    """The request body's media type (``application/octet-stream``: raw bytes)."""
    path_params: tuple[tuple[str, dict[str, Any]], ...] = ()


SESSION = (401, 403, 503)
"""Every operation that needs an agent session: not logged in, csrf or role, storage down."""

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        "/api/login",
        "session",
        "Log in: a session token and the cookie",
        ANYONE + AGENTS,
        m.LoginOut,
        body=m.LoginBody,
        errors=(400, 401, 413, 429, 503),
    ),
    Operation(
        "POST",
        "/api/logout",
        "session",
        "End every session of the caller",
        AGENTS,
        m.Ok,
        errors=SESSION,
    ),
    Operation("GET", "/api/me", "session", "The caller", AGENTS, m.AgentOut, errors=SESSION),
    Operation(
        "GET", "/api/agents", "agents", "Every agent", SUPERVISORS, list[m.AgentOut], errors=SESSION
    ),
    Operation(
        "POST",
        "/api/agents",
        "agents",
        "Create an agent",
        ADMINS,
        m.AgentOut,
        status=201,
        body=m.NewAgent,
        errors=(400, 413, *SESSION),
    ),
    Operation(
        "GET",
        "/api/agents/{agent_id}",
        "agents",
        "One agent (agents: only themselves)",
        AGENTS,
        m.AgentOut,
        errors=(404, *SESSION),
        path_params=(("agent_id", Id),),
    ),
    Operation(
        "PATCH",
        "/api/agents/{agent_id}",
        "agents",
        "Change an agent (a new password or role ends their sessions)",
        ADMINS,
        m.AgentOut,
        body=m.AgentPatch,
        errors=(400, 404, 413, *SESSION),
        path_params=(("agent_id", Id),),
    ),
    Operation(
        "DELETE",
        "/api/agents/{agent_id}",
        "agents",
        "Disable an agent (kept for the records; PATCH disabled=false enables)",
        ADMINS,
        m.AgentOut,
        errors=(400, 404, *SESSION),
        path_params=(("agent_id", Id),),
    ),
    Operation(
        "GET", "/api/topics", "topics", "Every topic", AGENTS, list[m.TopicOut], errors=SESSION
    ),
    Operation(
        "PUT",
        "/api/topics/{name}",
        "topics",
        "Create or replace a topic",
        ADMINS,
        m.TopicOut,
        body=m.TopicBody,
        errors=(400, 413, *SESSION),
        path_params=(("name", Id),),
    ),
    Operation(
        "DELETE",
        "/api/topics/{name}",
        "topics",
        "Delete a topic (409 in_use while chats wait in its queue)",
        ADMINS,
        m.Deleted,
        errors=(400, 409, *SESSION),
        path_params=(("name", Id),),
    ),
    Operation(
        "GET",
        "/api/queues",
        "topics",
        "Queue depth and waits per topic",
        SUPERVISORS,
        list[m.QueueOut],
        errors=SESSION,
    ),
    Operation(
        "GET",
        "/api/visitors/online",
        "visitors",
        "The visitors on the site now (VISITOR_TRACKING; empty and enabled=false when off)",
        AGENTS,
        m.VisitorsOnlineOut,
        errors=SESSION,
    ),
    Operation(
        "GET",
        "/api/widget/config",
        "widget",
        "What the widget needs before it opens a socket (CORS for allowed sites)",
        ANYONE + AGENTS,
        m.WidgetConfig,
        errors=(403, 503),
    ),
    Operation(
        "GET",
        "/api/widget/settings",
        "widget",
        "The widget settings",
        SUPERVISORS,
        WidgetSettings,
        errors=SESSION,
    ),
    Operation(
        "PUT",
        "/api/widget/settings",
        "widget",
        "Change the widget settings the body names",
        ADMINS,
        WidgetSettings,
        body=m.WidgetSettingsPatch,
        errors=(400, 413, *SESSION),
    ),
    Operation(
        "PATCH",
        "/api/widget/settings",
        "widget",
        "Change the widget settings the body names (as PUT)",
        ADMINS,
        WidgetSettings,
        body=m.WidgetSettingsPatch,
        errors=(400, 413, *SESSION),
    ),
    Operation(
        "GET",
        "/api/tags",
        "tags",
        "The tags agents may put on chats",
        AGENTS,
        m.TagListOut,
        errors=SESSION,
    ),
    Operation(
        "PUT",
        "/api/tags",
        "tags",
        "Replace the list of tags agents may use",
        ADMINS,
        m.TagListOut,
        body=m.TagListBody,
        errors=(400, 413, *SESSION),
    ),
    Operation(
        "GET",
        "/api/canned",
        "canned",
        "Every canned answer",
        AGENTS,
        list[m.CannedOut],
        errors=SESSION,
    ),
    Operation(
        "POST",
        "/api/canned",
        "canned",
        "Add a canned answer",
        ADMINS,
        m.CannedOut,
        status=201,
        body=m.CannedBody,
        errors=(400, 413, *SESSION),
    ),
    Operation(
        "PUT",
        "/api/canned/{canned_id}",
        "canned",
        "Replace a canned answer",
        ADMINS,
        m.CannedOut,
        body=m.CannedBody,
        errors=(400, 404, 413, *SESSION),
        path_params=(("canned_id", Id),),
    ),
    Operation(
        "DELETE",
        "/api/canned/{canned_id}",
        "canned",
        "Delete a canned answer",
        ADMINS,
        m.Deleted,
        errors=(404, *SESSION),
        path_params=(("canned_id", Id),),
    ),
    Operation(
        "POST",
        "/api/visitor/check",
        "visitors",
        "Is this visitor token still valid? (401 invalid_token: drop it)",
        ANYONE + AGENTS,
        m.TokenValid,
        body=m.TokenCheck,
        errors=(400, 401, 403, 413, 429, 503),
    ),
    Operation(
        "GET",
        "/api/records",
        "records",
        "Search records, newest first (agents: their own chats)",
        AGENTS,
        m.RecordPage,
        query=m.RecordQuery,
        errors=(400, *SESSION),
    ),
    Operation(
        "GET",
        "/api/records/export.{fmt}",
        "records",
        "Export the records the filters select, as CSV or JSON",
        AGENTS,
        {"type": "string"},
        query=m.RecordFilters,
        errors=(400, 404, *SESSION),
        media_type="text/csv",
        path_params=(("fmt", {"type": "string", "enum": ["csv", "json"]}),),
    ),
    Operation(
        "GET",
        "/api/records/{chat_id}",
        "records",
        "One whole record (agents: their own chats)",
        AGENTS,
        m.Record,
        errors=(404, *SESSION),
        path_params=(("chat_id", Id),),
    ),
    Operation(
        "GET",
        "/api/metrics",
        "records",
        "Contact-centre figures over a period, whole or grouped",
        SUPERVISORS,
        m.MetricsOut,
        query=m.MetricsQuery,
        errors=(400, *SESSION),
    ),
    Operation(
        "GET",
        "/api/inbox",
        "inbox",
        "Offline messages, newest first, by topic and status (open or answered)",
        AGENTS,
        m.InboxPage,
        query=m.InboxQuery,
        errors=(400, *SESSION),
    ),
    Operation(
        "POST",
        "/api/inbox/{chat_id}/claim",
        "inbox",
        "Claim an offline message (of two agents at once, one wins; 409 claimed)",
        AGENTS,
        m.InboxItem,
        errors=(404, 409, *SESSION),
        path_params=(("chat_id", Id),),
    ),
    Operation(
        "POST",
        "/api/inbox/{chat_id}/reply",
        "inbox",
        "Answer a message one has claimed, by e-mail; it becomes answered",
        AGENTS,
        m.InboxItem,
        body=m.InboxReply,
        errors=(400, 404, 409, 413, 502, *SESSION),
        path_params=(("chat_id", Id),),
    ),
    Operation(
        "GET",
        "/api/planning",
        "planning",
        "Agents needed per hour for a service-level goal: Erlang C and a simulation "
        "(query: from, to, sl, within_s, max_abandon, hours, topic, concurrency, "
        "simulate, plot_topic, plot_hour; docs/planning.md)",
        SUPERVISORS,
        {"type": "object"},
        errors=(400, 429, *SESSION),
    ),
    Operation(
        "GET",
        "/api/notices",
        "notices",
        "The outage notices in force",
        SUPERVISORS,
        list[m.NoticeOut],
        errors=SESSION,
    ),
    Operation(
        "POST",
        "/api/notices",
        "notices",
        "Post an outage notice: waiting and new visitors and agents see it at once "
        "(409 in_use: NOTICES_MAX_ACTIVE are in force)",
        SUPERVISORS,
        m.NoticeOut,
        status=201,
        body=m.NoticeBody,
        errors=(400, 409, 413, *SESSION),
    ),
    Operation(
        "POST",
        "/api/notices/{notice_id}/end",
        "notices",
        "End a notice (removed everywhere); optionally close the chats waiting in "
        "its topics with the outcome incident",
        SUPERVISORS,
        m.NoticeEnded,
        body=m.NoticeEndBody,
        errors=(400, 404, 413, *SESSION),
        path_params=(("notice_id", Id),),
    ),
    Operation(
        "DELETE",
        "/api/notices/{notice_id}",
        "notices",
        "End a notice",
        SUPERVISORS,
        m.NoticeEnded,
        errors=(404, *SESSION),
        path_params=(("notice_id", Id),),
    ),
    Operation(
        "POST",
        "/api/chats/{chat_id}/files",
        "files",
        "Send a file to the chat (the body is its bytes; its type is sniffed from them); "
        "posted as a msg with a file (docs/files.md)",
        ("visitor", *AGENTS),
        m.Uploaded,
        status=201,
        body={"type": "string", "format": "binary"},
        body_media="application/octet-stream",
        query=m.UploadQuery,
        errors=(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
        path_params=(("chat_id", Id),),
    ),
    Operation(
        "GET",
        "/api/chats/{chat_id}/files/{file_id}",
        "files",
        "A short-lived signed download URL for one of the chat's files (its visitor, the "
        "agent holding it, supervisors)",
        ("visitor", *AGENTS),
        m.FileLink,
        errors=(401, 403, 404, 503),
        path_params=(("chat_id", Id), ("file_id", Id)),
    ),
    Operation(
        "GET",
        "/api/files/{chat_id}/{file_id}",
        "files",
        "Download a file through its signed URL (no other credentials)",
        ANYONE + AGENTS,
        {"type": "string", "format": "binary"},
        query=m.DownloadQuery,
        errors=(400, 403, 404, 503),
        media_type="*/*",
        path_params=(("chat_id", Id), ("file_id", Id)),
    ),
    Operation(
        "GET",
        "/api/openapi.json",
        "documentation",
        "This document",
        ANYONE + AGENTS,
        {"type": "object"},
    ),
    Operation(
        "GET",
        "/api/docs",
        "documentation",
        "A page that shows this document",
        ANYONE + AGENTS,
        {"type": "string"},
        media_type="text/html",
    ),
)

ERRORS = {
    400: "bad_request: the body, query or path does not fit the model",
    401: "unauthorized: not logged in, or a wrong id or password (invalid_token on "
    "/api/visitor/check: the visitor token is not valid)",
    403: "forbidden: the caller's role (or the site, for the widget) may not do this; "
    "csrf: a cookie-authenticated change without an allowed Origin header",
    404: "not_found",
    409: "in_use (a topic's queue is not empty; too many notices in force); the inbox: "
    "claimed (by another agent), not_claimed, already_answered, bad_address (the "
    "visitor's e-mail address cannot be used)",
    413: "too_large: the body is over 64 KiB (a file: over FILE_MAX_BYTES)",
    415: "unsupported_type: the file's content is not one of the types FILE_TYPES allows",
    422: "rejected: the virus-scan hook refused the file",
    429: "rate_limited: too many attempts from this address; wait",
    502: "mail_failed: the SMTP server did not take the e-mail (the message stays open)",
    503: "unavailable: Redis or the records database is unavailable; retry later "
    "(mail_not_configured: no SMTP_HOST)",
}

SECURITY_SCHEMES = {
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "lc_session",
        "description": "An agent's, supervisor's or admin's session, set by POST /api/login "
        "(HttpOnly, SameSite=Strict). A request that changes state with the "
        "cookie must carry an allowed Origin header (else 403 csrf). The "
        "role of the agent decides what they may do (x-roles).",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same session token as the cookie, as `Authorization: Bearer "
        "<token>` (programs; no Origin check).",
    },
    "visitorToken": {
        "type": "apiKey",
        "in": "header",
        "name": "Sec-WebSocket-Protocol",
        "description": "A visitor's token, given in the visitor socket's welcome. It "
        "travels in the WebSocket subprotocol list (`lc.v1, "
        "lc.token.<token>`) on /ws/visitor, never in a URL; the REST API "
        "checks it (POST /api/visitor/check, in the body) and takes it as "
        "`Authorization: Bearer <token>` on the file routes (/api/chats/{chat_id}/files).",
    },
}


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": ERRORS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    if status in (429, 503):
        response["headers"] = {
            "Retry-After": {
                "description": "seconds",
                "schema": {"type": "string"},
                "required": False,
            }
        }
    return response


def _parameters(query: type[msgspec.Struct]) -> list[dict[str, Any]]:
    (ref,), components = msgspec.json.schema_components([query])
    schema = components[ref["$ref"].rsplit("/", 1)[1]]
    params = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", None)
        param = {"name": name, "in": "query", "required": False, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once)."""
    models: list[Any] = [m.ErrorBody]
    for op in OPERATIONS:
        models += [
            t for t in (op.body, op.response) if t is not None and not isinstance(t, dict)
        ]
    refs, components = msgspec.json.schema_components(
        models, ref_template="#/components/schemas/{name}"
    )
    schema_of = {id(t): r for t, r in zip(models, refs, strict=True)}
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        response_schema = (
            op.response if isinstance(op.response, dict) else schema_of[id(op.response)]
        )
        media = op.media_type
        errors = set(op.errors)
        if op.path_params:  # a segment that names no route ('a/b' encoded): 404 not_found
            errors.add(404)
        content = {media: {"schema": response_schema}}
        if op.path == "/api/records/export.{fmt}":
            content["application/json"] = {"schema": {"type": "array", "items": {}}}
        operation: dict[str, Any] = {
            "operationId": f"{op.method.lower()}_{op.path[5:]}".translate(
                str.maketrans("/.{}", "____")
            )
            .strip("_")
            .replace("__", "_"),
            "tags": [op.tag],
            "summary": op.summary,
            "x-roles": list(op.roles),
            "responses": {
                str(op.status): {"description": "OK", "content": content},
                **{str(s): _error_response(s) for s in sorted(errors)},
            },
        }
        if "anonymous" in op.roles:
            operation["security"] = []
        else:
            operation["security"] = [{"session": []}, {"bearer": []}]
            operation["description"] = "Roles: " + ", ".join(op.roles) + "."
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": schema}
            for name, schema in op.path_params
        ]
        if op.query is not None:
            parameters += _parameters(op.query)
        if parameters:
            operation["parameters"] = parameters
        if op.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    op.body_media: {
                        "schema": op.body if isinstance(op.body, dict) else schema_of[id(op.body)]
                    }
                },
            }
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "chatserver REST API",
            "version": "1",
            "description": "The live-chat server's REST API (the WebSocket protocol is in "
            'docs/protocol.md). Errors are `{"error": code, "message": '
            "text}`. Generated from the server's request and response models.",
        },
        "tags": [{"name": t} for t in dict.fromkeys(op.tag for op in OPERATIONS)],
        "paths": paths,
        "components": {"schemas": _markdown(components), "securitySchemes": SECURITY_SCHEMES},
    }


def _markdown(value: Any) -> Any:
    """Descriptions from the models' docstrings, with their reST ``code`` as Markdown."""
    if isinstance(value, dict):
        return {
            k: v.replace("``", "`") if k == "description" and isinstance(v, str) else _markdown(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_markdown(v) for v in value]
    return value
