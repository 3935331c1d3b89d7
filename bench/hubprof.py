"""Run `chatserver serve` with pyinstrument ready; profile a window chosen by the bench.

    python -m bench.hubprof PATH_STEM

The environment configures the hub exactly as for `chatserver serve`.  SIGUSR1 starts the
profiler, SIGUSR2 stops it and writes:

- ``PATH_STEM.txt``       the call tree (percent of the window's wall time);
- ``pyinstrument/PATH.pyisession`` the raw session (git-ignored; ``pyinstrument --load``);
- ``PATH_STEM.functions.txt`` / ``.json``  function-level self and inclusive time as a
  share of the hub's *busy* time (the event loop's idle wait, which pyinstrument charges
  to ``Runner.run``, is taken out), the form the performance notes quote.
"""

from __future__ import annotations

import json
import signal
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

IDLE = {("run", "asyncio/runners.py"), ("run_forever", "asyncio/base_events.py"),
        ("_run_once", "asyncio/base_events.py"), ("select", "selectors.py")}


def _key(frame: Any) -> str:
    return f"{frame.function}  {frame.file_path_short}:{frame.line_no}"


def function_table(session: Any) -> dict[str, Any]:
    root = session.root_frame()
    self_t: dict[str, float] = defaultdict(float)
    incl_t: dict[str, float] = defaultdict(float)
    idle = 0.0

    def walk(frame: Any, stack: frozenset[str]) -> None:
        nonlocal idle
        if frame.is_synthetic:
            return  # [self] / [await] leaves: counted in their parent's self time
        key = _key(frame)
        if key not in stack:
            incl_t[key] += frame.time
        st = frame.time - sum(c.time for c in frame.children if not c.is_synthetic)
        name, path = frame.function, (frame.file_path_short or "").replace("\\", "/")
        if any(name == f and path.endswith(p) for f, p in IDLE):
            idle += st
        else:
            self_t[key] += st
        for child in frame.children:
            walk(child, stack | {key})

    if root is not None:
        walk(root, frozenset())
    wall = session.duration
    busy = max(1e-9, sum(self_t.values()))
    top_self = sorted(self_t.items(), key=lambda kv: -kv[1])[:40]
    top_incl = sorted(((k, v) for k, v in incl_t.items()), key=lambda kv: -kv[1])
    top_incl = [(k, min(v, busy)) for k, v in top_incl if "runners.py" not in k][:60]
    return {
        "wall_s": round(wall, 3), "cpu_s": round(session.cpu_time or 0.0, 3),
        "busy_s": round(busy, 3), "idle_s": round(idle, 3), "samples": session.sample_count,
        "self": [{"function": k, "pct_of_busy": round(100 * v / busy, 1)} for k, v in top_self],
        "inclusive": [{"function": k, "pct_of_busy": round(100 * v / busy, 1)}
                      for k, v in top_incl],
    }


def write(stem: Path, session: Any) -> None:
    from pyinstrument.renderers import ConsoleRenderer

    (stem.parent / "pyinstrument").mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".txt").write_text(
        ConsoleRenderer(unicode=True, time="percent_of_total").render(session))
    session.save(str(stem.parent / "pyinstrument" / (stem.name + ".pyisession")))
    table = function_table(session)
    stem.with_suffix(".functions.json").write_text(json.dumps(table, indent=1))
    lines = [f"wall {table['wall_s']} s, busy {table['busy_s']} s, idle {table['idle_s']} s, "
             f"{table['samples']} samples", "", "self time, % of busy time:"]
    lines += [f"  {r['pct_of_busy']:5.1f}%  {r['function']}" for r in table["self"]]
    lines += ["", "inclusive time, % of busy time:"]
    lines += [f"  {r['pct_of_busy']:5.1f}%  {r['function']}" for r in table["inclusive"]]
    stem.with_suffix(".functions.txt").write_text("\n".join(lines) + "\n")


def main() -> None:
    from pyinstrument import Profiler

    stem = Path(sys.argv[1])
    profiler = Profiler(interval=0.001, async_mode="disabled")

    def on_start(*_: Any) -> None:
        if not profiler.is_running:
            profiler.start()

    def on_stop(*_: Any) -> None:
        if profiler.is_running:
            profiler.stop()
            if profiler.last_session is not None:
                write(stem, profiler.last_session)

    signal.signal(signal.SIGUSR1, on_start)
    signal.signal(signal.SIGUSR2, on_stop)
    # uvicorn re-raises SIGTERM after its graceful shutdown; with a handler of our own in
    # place that re-raise lands here instead of killing the process
    signal.signal(signal.SIGTERM, lambda *_: None)
    import os

    if os.environ.get("BENCH_WHATIF"):
        from bench.whatif import apply

        apply(os.environ["BENCH_WHATIF"])
    from chatserver.cli import main as cli_main

    try:
        cli_main(["serve"])
    finally:
        on_stop()


if __name__ == "__main__":
    main()
