"""``chatserver plan`` as a real process: the table from given figures, the plot file, the
JSON, and a clear error for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FIGURES = """topic,hour,chats_per_hour,handle_s,patience_s
# Monday 09:00 and 10:00 UTC
billing,Mon 9,60,240,120
billing,Mon 10,90,240,120
tech,9,30,420,
"""


def _plan(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"),
           "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "chatserver", "plan", *args],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path, check=False,
    )


def test_plan_from_figures_prints_the_table_and_writes_the_plot(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text(FIGURES)
    done = _plan(tmp_path, "--figures", "f.csv", "--concurrency", "3", "--service-level",
                 "80", "--within", "20", "--max-abandon", "5", "--sim-arrivals", "300",
                 "--plot", "out.svg")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "Goal: 80% answered within 20 s, abandon rate below 5%" in lines
    rows = [line for line in lines if line.startswith("Mon ")]
    # billing and tech need no skill: one skill group, planned together (pooled)
    assert [r.split()[:3] for r in rows] == [
        ["Mon", "09:00", "billing+tech"], ["Mon", "10:00", "billing"],
    ]
    # Mon 09:00: 60 + 30 = 90 chats/h, handle (60 * 240 + 30 * 420) / 90 = 300 s
    assert rows[0].split()[3:5] == ["90.0", "300"]
    # Mon 10:00 billing: 90 chats/h * 240 s = 6 Erlangs, 3 chats per agent.  2 agents
    # (6 slots) cannot keep up; 3 agents (9 slots): C(9, 6) = 0.196, SL = 1 - 0.196 *
    # exp(-3 * 20 / 240) = 84.7 %, but with exponential patience of mean 120 s the
    # abandon estimate is 0.196 / (1 + 3 * 120 / 240) = 7.8 % > 5 %; 4 agents (12 slots):
    # C = 0.0225, SL 98.6 %, abandon 0.0225 / (1 + 6 * 120 / 240) = 0.6 %
    assert rows[1].split("|")[1].split()[:3] == ["4", "98.6%", "0.6%"]
    assert "  billing+tech: agents with any skills" in lines
    assert (tmp_path / "out.svg").read_text().startswith("<?xml")
    # both hours have 90 chats/h; the later one is plotted
    assert "Plot (billing, Mon 10:00): out.svg" in done.stdout


def test_plan_json_erlang_only(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text(FIGURES)
    done = _plan(tmp_path, "--figures", "f.csv", "--concurrency", "3", "--erlang-only",
                 "--json", "--hours", "Mon 10", "--plot", "p.png")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    (row,) = out["rows"]
    assert (row["topic"], row["hour"], row["erlang_agents"], row["sim_agents"]) == (
        "billing", 10, 4, None)
    assert out["goal"] == {"service_level": 0.8, "target_s": 20.0, "max_abandon": 0.05}
    assert out["curve"]["points"][0]["agents"] == 2
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plan_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("billing,Mon 9,lots,240\n")
    done = _plan(tmp_path, "--figures", "bad.csv")
    assert done.returncode == 1
    assert "error: line 1:" in done.stderr
    (tmp_path / "f.csv").write_text(FIGURES)
    for args, message in (
        (["--hours", "Mon 25"], "hours out of range"),
        (["--service-level", "150"], "service level goal must be between 0 and 1"),
        (["--plot", "x.gif"], "the plot is written as .png or .svg"),
    ):
        done = _plan(tmp_path, "--figures", "f.csv", "--erlang-only", *args)
        assert done.returncode == 1 and message in done.stderr, (args, done.stderr)
    # no records in the period: said so
    done = _plan(tmp_path, "--from", "2001-01-01", "--to", "2001-01-02")
    assert done.returncode == 1 and "no chats to plan for" in done.stderr
