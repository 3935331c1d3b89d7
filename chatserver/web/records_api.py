"""REST API over interaction records: search, fetch, export (``docs/records.md``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from chatserver.hub.node import Node
from chatserver.records import queries
from chatserver.records.metrics import (
    GROUP_KEYS,
    Thresholds,
    metrics_as_dict,
    period_metrics,
)
from chatserver.store.directory import SUPERVISING, Agent
from chatserver.web.api import ApiError, current_agent, endpoint, json_response, query
from chatserver.web.models import MetricsQuery, RecordFilters, RecordQuery

MAX_WORDS = 10
MAX_IDS = 200


MILLIS = re.compile(r"-?[0-9]+")
MAX_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the latest time the API takes (and the earliest, negated)."""


def parse_time(value: str | None, name: str) -> int | None:
    """Milliseconds since the epoch, or an ISO 8601 date/time (UTC when no zone)."""
    if value is None or value == "":
        return None
    if MILLIS.fullmatch(value):
        # ASCII digits only: "¹" is a digit to str.isdigit, not to int() (a 500 found by
        # schemathesis), and "--5" passed lstrip("-")
        if len(value) > 16 or abs(ms := int(value)) > MAX_MS:
            raise ApiError(400, "bad_request", f"{name}: out of range: {value[:32]!r}")
        return ms
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "bad_request", f"{name}: not a time: {value[:64]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    ms = int(parsed.timestamp() * 1000)
    if abs(ms) > MAX_MS:  # a far zone offset takes a time past year 9999
        raise ApiError(400, "bad_request", f"{name}: out of range: {value[:64]!r}")
    return ms


def rating_bounds(value: str) -> tuple[int | None, int | None, bool]:
    """``"4"``, ``"1-2"`` (either order) or ``"none"`` (the model checked the form):
    (least, most, unrated)."""
    if value == "none":
        return None, None, True
    if not value:
        return None, None, False
    low, _, high = value.partition("-")
    bounds = sorted((int(low), int(high or low)))
    return bounds[0], bounds[1], False


def filters_from(p: RecordFilters) -> queries.Filters:
    words = [w for w in p.q.split() if w][: MAX_WORDS + 1]
    if len(words) > MAX_WORDS:
        raise ApiError(400, "bad_request", f"q: at most {MAX_WORDS} words")
    ids = [i for i in (part.strip() for part in p.ids.split(",")) if i][: MAX_IDS + 1]
    if len(ids) > MAX_IDS:
        raise ApiError(400, "bad_request", f"ids: at most {MAX_IDS} chats")
    rating_min, rating_max, unrated = rating_bounds(p.rating)
    return queries.Filters(
        start_ms=parse_time(p.from_, "from"),
        end_ms=parse_time(p.to, "to"),
        agent=p.agent or None,
        topic=p.topic or None,
        skill=p.skill or None,
        outcome=p.outcome or None,
        end_state=p.state or None,
        tag=p.tag or None,
        email=p.email or None,
        visitor=p.visitor or None,
        name=p.name.strip() or None,
        rating_min=rating_min,
        rating_max=rating_max,
        unrated=unrated,
        chat_ids=ids,
        words=words,
    )


async def viewer_for(node: Node, agent: Agent) -> queries.Viewer:
    if agent.role in SUPERVISING or node.settings.agents_see_all_records:
        return queries.Viewer(agent.id, sees_all=True)
    visitors = await node.agent_actions.serving_visitors(agent.id)
    return queries.Viewer(agent.id, sees_all=False, serving_visitors=visitors)


def _engine(node: Node) -> Any:
    if node.engine is None:
        raise ApiError(503, "unavailable", "records database not configured")
    return node.engine


_json = json_response


@endpoint
async def list_records(request: Request) -> Response:
    node: Node = request.app.state.node
    agent = await current_agent(request)
    params = query(request, RecordQuery)
    filters = filters_from(params)
    try:
        rows, cursor = await queries.search(
            _engine(node),
            filters,
            await viewer_for(node, agent),
            limit=params.limit,
            cursor=params.cursor or None,
        )
    except queries.CursorError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    return _json({"items": rows, "next": cursor})


@endpoint
async def one_record(request: Request) -> Response:
    node: Node = request.app.state.node
    agent = await current_agent(request)
    viewer = await viewer_for(node, agent)
    record = await queries.fetch(_engine(node), request.path_params["chat_id"], viewer)
    if record is None:
        raise ApiError(404, "not_found", "no such record, or not yours to see")
    return _json(record)


@endpoint
async def export(request: Request) -> Response:
    node: Node = request.app.state.node
    agent = await current_agent(request)
    viewer = await viewer_for(node, agent)
    f = filters_from(query(request, RecordFilters))
    fmt = request.path_params["fmt"]
    if fmt == "csv":
        return StreamingResponse(
            await _started(queries.export_csv(_engine(node), f, viewer)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="records.csv"'},
        )
    if fmt == "json":
        return StreamingResponse(
            await _started(queries.export_json(_engine(node), f, viewer, internal=True)),
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="records.json"'},
        )
    raise ApiError(404, "not_found", "export as csv or json")


async def _started(parts: AsyncIterator[str]) -> AsyncIterator[str]:
    """The export with its first query already run (its opening and first rows read), so
    that a database that is down answers 503 rather than a 200 cut short."""
    head: list[str] = []
    async for part in parts:
        head.append(part)
        if len(head) == 2:
            break

    async def chained() -> AsyncIterator[str]:
        for part in head:
            yield part
        async for part in parts:
            yield part

    return chained()


@endpoint
async def metrics(request: Request) -> Response:
    """Metrics over a period (default: the last 24 hours), whole or grouped; supervisors."""
    node: Node = request.app.state.node
    agent = await current_agent(request)
    if agent.role not in SUPERVISING:
        raise ApiError(403, "forbidden", "supervisors only")
    p = query(request, MetricsQuery)
    now = node.now()
    end = parse_time(p.to, "to") or now
    start = parse_time(p.from_, "from")
    if start is None:
        start = end - 86_400_000
    if not start < end or end - start > 400 * 86_400_000:
        raise ApiError(400, "bad_request", "need from < to, at most 400 days apart")
    group = next((g for g in GROUP_KEYS if g == p.group), None)
    s = node.settings
    thresholds = Thresholds(
        service_level_target_s=(
            s.service_level_target_s if p.sl_target_s is None else p.sl_target_s
        ),
        service_level_goal=s.service_level_goal,
        short_abandon_s=s.short_abandon_s,
    )
    engine = _engine(node)
    if group is None:
        whole = await period_metrics(engine, start, end, None, thresholds)
        body: Any = {"from": start, "to": end, "metrics": metrics_as_dict(whole)}
    else:
        groups = await period_metrics(engine, start, end, group, thresholds)
        body = {
            "from": start,
            "to": end,
            "group": group,
            "groups": {k: metrics_as_dict(v) for k, v in sorted(groups.items())},
        }
    return _json(body)


routes = [
    Route("/api/metrics", metrics, methods=["GET"]),
    Route("/api/records", list_records, methods=["GET"]),
    Route("/api/records/export.{fmt}", export, methods=["GET"]),
    Route("/api/records/{chat_id}", one_record, methods=["GET"]),
]
