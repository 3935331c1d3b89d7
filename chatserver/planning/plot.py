"""The plot of service level against the number of agents (matplotlib, PNG or SVG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chatserver.planning.erlang import Goal
from chatserver.planning.plan import CurvePoint

FORMATS = (".png", ".svg")


def write_plot(path: Path, points: Sequence[CurvePoint], goal: Goal, title: str) -> Path:
    """Draw the Erlang C and simulated service levels (and abandon rates, when known)
    against the number of agents, with the goal as a line; the format follows the file
    name (``.png`` or ``.svg``).  Returns ``path``."""
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"the plot is written as {' or '.join(FORMATS)}, not {path.suffix!r}")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), dpi=110)
    ax = fig.add_subplot()
    xs = [p.agents for p in points]
    ax.plot(xs, [100 * p.erlang_service_level for p in points], "o-", label="Erlang C")
    sims = [(p.agents, p.sim_service_level) for p in points if p.sim_service_level is not None]
    if sims:
        ax.plot([a for a, _ in sims], [100 * s for _, s in sims], "s--", label="simulation")
    abandons = [(p.agents, p.sim_abandon_rate) for p in points if p.sim_abandon_rate]
    if abandons:
        ax.plot(
            [a for a, _ in abandons],
            [100 * s for _, s in abandons],
            "^:",
            label="abandon rate (simulation)",
        )
    ax.axhline(
        100 * goal.service_level,
        color="grey",
        linewidth=1,
        label=f"goal {100 * goal.service_level:g}% within {goal.target_s:g} s",
    )
    if goal.max_abandon is not None and abandons:
        ax.axhline(
            100 * goal.max_abandon,
            color="grey",
            linewidth=1,
            linestyle=":",
            label=f"abandon limit {100 * goal.max_abandon:g}%",
        )
    ax.set_xlabel("agents")
    ax.set_ylabel("% of chats")
    ax.set_ylim(0, 101)
    ax.set_xticks(xs)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center right", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
