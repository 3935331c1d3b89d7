"""``GET /api/planning``: the capacity plan for supervisors (``docs/planning.md``).

Query: ``from``, ``to`` (records period; default the last 28 days), ``sl`` (percent,
default SERVICE_LEVEL_GOAL), ``within_s`` (default SERVICE_LEVEL_TARGET_S),
``max_abandon`` (percent, ``none`` for no limit; default PLAN_MAX_ABANDON), ``hours``
(``Mon 9-17,Tue``; default every hour with chats), ``topic``, ``concurrency``,
``simulate`` (``0`` for Erlang C only), ``plot_topic`` / ``plot_hour`` (the curve's cell;
default the busiest).  The work is bounded: at most PLAN_MAX_CELLS (hour, topic) cells
when simulating, and one plan at a time per process (else 429 ``busy``).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatserver.hub.node import Node
from chatserver.store.directory import SUPERVISING
from chatserver.web.api import ApiError, current_agent, endpoint, json_response
from chatserver.web.records_api import parse_time

if TYPE_CHECKING:
    from chatserver.planning.erlang import Goal
    from chatserver.planning.inputs import Inputs
    from chatserver.planning.plan import Effort

# chatserver.planning (numpy, scipy, matplotlib: about a second) is imported on the first
# plan, not when a server starts

DAY_MS = 86_400_000
ERLANG_ONLY_CELLS = 168 * 50
_running: set[int] = set()


def _percent(value: str | None, name: str, default: float | None) -> float | None:
    if value is None or value == "":
        return default
    if value.lower() == "none":
        return None
    try:
        pct = float(value)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name}: not a number: {value[:32]!r}") from None
    if not 0 <= pct <= 100:
        raise ApiError(400, "bad_request", f"{name}: a percentage, 0-100")
    return pct / 100


def _number(value: str | None, name: str, lo: float, hi: float) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name}: not a number: {value[:32]!r}") from None
    if not lo <= number <= hi:
        raise ApiError(400, "bad_request", f"{name}: must be {lo:g} to {hi:g}")
    return number


def _hours(value: str | None, name: str) -> list[int] | None:
    from chatserver.planning.inputs import parse_hours

    if not value:
        return None
    try:
        return parse_hours(value)
    except ValueError as exc:
        raise ApiError(400, "bad_request", f"{name}: {exc}") from None


def _plan(
    inputs: Inputs,
    goal: Goal,
    effort: Effort,
    hours: list[int] | None,
    topics: list[str] | None,
    simulate_too: bool,
    short_abandon_s: float,
    plot_cell: tuple[str | None, list[int] | None],
) -> dict[str, Any]:
    from chatserver.planning.inputs import hour_label
    from chatserver.planning.plan import busiest, curve, group_of, make_plan, row_dict

    rows = make_plan(
        inputs,
        goal,
        effort,
        hours=hours,
        topics=topics,
        simulate_too=simulate_too,
        short_abandon_s=short_abandon_s,
    )
    cell = busiest(inputs, hours, topics)
    topic, plot_hours = plot_cell
    if topic or plot_hours:
        hour = plot_hours[0] if plot_hours else (cell[1] if cell else 0)
        names = group_of(inputs, topic, hour) if topic else cell[0] if cell else ()
        cell = (names, hour) if names else None
    points = (
        []
        if cell is None
        else curve(
            inputs,
            cell[0],
            cell[1],
            goal,
            effort,
            simulate_too=simulate_too,
            short_abandon_s=short_abandon_s,
        )
    )
    return {
        "rows": [row_dict(r) for r in rows],
        "curve": None
        if cell is None
        else {
            "topic": "+".join(cell[0]),
            "topics": list(cell[0]),
            "hour": cell[1],
            "label": hour_label(cell[1]),
            "points": [row_dict(p) for p in points],
        },
    }


@endpoint
async def planning(request: Request) -> Response:
    node: Node = request.app.state.node
    agent = await current_agent(request)
    if agent.role not in SUPERVISING:
        raise ApiError(403, "forbidden", "supervisors only")
    from chatserver.planning.command import base_offers
    from chatserver.planning.erlang import Goal
    from chatserver.planning.inputs import load_inputs
    from chatserver.planning.plan import Effort

    p = request.query_params
    for key in p:
        if len(p[key]) > 256:
            raise ApiError(400, "bad_request", f"{key}: too long")
    s = node.settings
    end = parse_time(p.get("to"), "to") or node.now()
    start = parse_time(p.get("from"), "from")
    if start is None:
        start = end - 28 * DAY_MS
    if not start < end or end - start > 400 * DAY_MS:
        raise ApiError(400, "bad_request", "need from < to, at most 400 days apart")
    sl = _percent(p.get("sl"), "sl", s.service_level_goal)
    within = _number(p.get("within_s"), "within_s", 0, 86_400)
    try:
        goal = Goal(
            service_level=s.service_level_goal if sl is None else sl,
            target_s=s.service_level_target_s if within is None else within,
            max_abandon=_percent(p.get("max_abandon"), "max_abandon", s.plan_max_abandon),
        )
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    concurrency = _number(p.get("concurrency"), "concurrency", 1, 100)
    simulate_too = p.get("simulate", "1") not in ("0", "false", "no")
    hours = _hours(p.get("hours"), "hours")
    topics = [t for t in p.getlist("topic") if t][:50] or None
    plot_cell = (p.get("plot_topic") or None, _hours(p.get("plot_hour"), "plot_hour"))
    effort = Effort(
        arrivals=s.plan_sim_arrivals,
        max_cells=s.plan_max_cells if simulate_too else ERLANG_ONLY_CELLS,
    )
    if node.engine is None:
        raise ApiError(503, "unavailable", "records database not configured")
    if id(node) in _running:
        raise ApiError(429, "busy", "a plan is being made; try again when it is done")
    _running.add(id(node))
    try:
        inputs = await load_inputs(
            node.engine,
            start,
            end,
            base=base_offers(s),
            concurrency=None if concurrency is None else int(concurrency),
        )
        try:
            body = await asyncio.to_thread(
                _plan,
                inputs,
                goal,
                effort,
                hours,
                topics,
                simulate_too,
                s.short_abandon_s,
                plot_cell,
            )
        except ValueError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
    finally:
        _running.discard(id(node))
    return json_response(
        {
            "from": start,
            "to": end,
            "goal": asdict(goal),
            "concurrency": inputs.concurrency,
            "offers": {
                "decline_rate": inputs.offers.decline_rate,
                "lapse_rate": inputs.offers.lapse_rate,
            },
            "simulated": simulate_too,
            **body,
        }
    )


routes = [Route("/api/planning", planning, methods=["GET"])]
