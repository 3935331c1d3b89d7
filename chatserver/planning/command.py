"""``chatserver plan``: the per-hour table of agents needed, Erlang C and the simulation
side by side, and the plot of service level against agents.

::

    chatserver plan [--from T] [--to T] [--figures FILE.csv]
                    [--service-level 80] [--within 20] [--max-abandon 5]
                    [--hours "Mon 9-17,Tue"] [--topic T]... [--concurrency N]
                    [--erlang-only] [--sim-arrivals N] [--seed N]
                    [--plot planning.png] [--plot-topic T] [--plot-hour H] [--json]

Reads the records database (``DATABASE_URL``); needs no Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chatserver.planning.erlang import Goal
from chatserver.planning.inputs import Inputs, given, hour_label, load_inputs, parse_figures
from chatserver.planning.plan import (
    Effort,
    busiest,
    curve,
    format_table,
    group_of,
    make_plan,
    row_dict,
)
from chatserver.planning.simulate import Offers
from chatserver.settings import Settings

DAY_MS = 86_400_000


def add_parser(sub: Any) -> None:
    p = sub.add_parser("plan", help="agents needed per hour (Erlang C and simulation)")
    p.add_argument(
        "--from", dest="start", help="records from (ISO time or ms; default: 28 days ago)"
    )
    p.add_argument("--to", dest="end", help="records until (ISO time or ms; default: now)")
    p.add_argument(
        "--figures",
        type=Path,
        help="CSV topic,hour,chats_per_hour,handle_s[,patience_s] instead of records",
    )
    p.add_argument(
        "--service-level",
        type=float,
        default=None,
        help="percent answered within --within (default SERVICE_LEVEL_GOAL)",
    )
    p.add_argument(
        "--within", type=float, default=None, help="seconds (default SERVICE_LEVEL_TARGET_S)"
    )
    p.add_argument(
        "--max-abandon",
        default=None,
        help="percent; 'none' for no limit (default PLAN_MAX_ABANDON)",
    )
    p.add_argument("--hours", help="hours of the week: 'Mon 9-17,Tue', '0-23' (UTC)")
    p.add_argument("--topic", action="append", help="only this topic; repeat")
    p.add_argument("--concurrency", type=int, help="chats per agent (default: from records)")
    p.add_argument("--erlang-only", action="store_true", help="skip the simulation")
    p.add_argument(
        "--sim-arrivals",
        type=int,
        default=1500,
        help="chats simulated per hour, skill group and number of agents",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--plot",
        type=Path,
        default=Path("planning.png"),
        help="where to write the plot (.png or .svg)",
    )
    p.add_argument("--plot-topic", help="topic of the plot (default: the busiest)")
    p.add_argument("--plot-hour", help="hour of the plot (default: the busiest)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def goal_from(args: argparse.Namespace, settings: Settings) -> Goal:
    sl = settings.service_level_goal if args.service_level is None else args.service_level / 100
    within = settings.service_level_target_s if args.within is None else args.within
    if args.max_abandon is None:
        max_abandon: float | None = settings.plan_max_abandon
    elif str(args.max_abandon).lower() == "none":
        max_abandon = None
    else:
        try:
            max_abandon = float(args.max_abandon) / 100
        except ValueError:
            raise ValueError(f"--max-abandon: not a number: {args.max_abandon!r}") from None
    return Goal(sl, within, max_abandon)


def base_offers(settings: Settings) -> Offers:
    return Offers(
        auto_accept=settings.auto_accept,
        answer_s=settings.plan_answer_s,
        offer_timeout_s=settings.offer_timeout_s,
        relax_after_s=settings.relax_after_s,
        queue_timeout_s=settings.queue_timeout_s,
    )


def parse_when(value: str | None, default: int) -> int:
    from datetime import UTC, datetime

    if not value:
        return default
    if value.lstrip("-").isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {value[:64]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


async def _from_records(
    settings: Settings, start_ms: int, end_ms: int, concurrency: int | None
) -> Inputs:
    from chatserver.records import database

    url = database.database_url(settings)
    await database.migrate(url)
    engine = database.create_engine(url)
    try:
        return await load_inputs(
            engine, start_ms, end_ms, base=base_offers(settings), concurrency=concurrency
        )
    finally:
        await engine.dispose()


def run(settings: Settings, args: argparse.Namespace) -> int:
    from chatserver.planning.inputs import parse_hours
    from chatserver.planning.plot import write_plot

    goal = goal_from(args, settings)
    effort = Effort(arrivals=args.sim_arrivals, seed=args.seed, max_cells=10_000)
    hours = parse_hours(args.hours) if args.hours else None
    if args.figures is not None:
        rates, handles, patience = parse_figures(args.figures.read_text(encoding="utf-8"))
        inputs = given(
            rates,
            handles,
            concurrency=args.concurrency or settings.default_capacity,
            patience_s=patience,
            offers=base_offers(settings),
        )
        source = f"figures from {args.figures}"
    else:
        now = int(time.time() * 1000)
        end = parse_when(args.end, now)
        start = parse_when(args.start, end - 28 * DAY_MS)
        if not start < end:
            raise ValueError("--from must be before --to")
        inputs = asyncio.run(_from_records(settings, start, end, args.concurrency))
        source = f"records {start} .. {end}"
    if not inputs.rates_per_s:
        raise ValueError("no chats to plan for (no records in the period, or no figures)")
    rows = make_plan(
        inputs,
        goal,
        effort,
        hours=hours,
        topics=args.topic,
        simulate_too=not args.erlang_only,
        short_abandon_s=settings.short_abandon_s,
    )
    cell = busiest(inputs, hours, args.topic)
    if args.plot_topic or args.plot_hour:
        plot_hour = parse_hours(args.plot_hour)[0] if args.plot_hour else (cell[1] if cell else 0)
        names = (
            group_of(inputs, args.plot_topic, plot_hour)
            if args.plot_topic
            else cell[0]
            if cell
            else ()
        )
        cell = (names, plot_hour) if names else None
    points = []
    if cell is not None:
        points = curve(
            inputs,
            cell[0],
            cell[1],
            goal,
            effort,
            simulate_too=not args.erlang_only,
            short_abandon_s=settings.short_abandon_s,
        )
        write_plot(args.plot, points, goal, f"{'+'.join(cell[0])}, {hour_label(cell[1])} UTC")
    if args.json:
        print(
            json.dumps(
                {
                    "source": source,
                    "goal": asdict(goal),
                    "concurrency": inputs.concurrency,
                    "rows": [row_dict(r) for r in rows],
                    "curve": None
                    if cell is None
                    else {
                        "topics": list(cell[0]),
                        "hour": cell[1],
                        "points": [row_dict(p) for p in points],
                    },
                    "plot": str(args.plot) if cell else None,
                },
                indent=2,
            )
        )
    else:
        print(
            f"Source: {source}; {inputs.concurrency} chats per agent; "
            f"offers declined {100 * inputs.offers.decline_rate:.1f}%, "
            f"lapsed {100 * inputs.offers.lapse_rate:.1f}%"
        )
        print(format_table(rows, goal))
        print("\nSkills each planned agent holds:")
        for group in sorted({(r.topic, tuple(sorted(r.skills.items()))) for r in rows}):
            print(
                f"  {group[0]}: agents with "
                + (", ".join(f"{k}:{v}" for k, v in group[1]) or "any skills")
            )
        if cell is not None:
            print(f"\nPlot ({'+'.join(cell[0])}, {hour_label(cell[1])}): {args.plot}")
    return 0
