"""Run `chatserver serve` with an experimental change applied in memory (nothing in
``chatserver/`` is edited): the bench uses it to measure what a suggested fix would gain.

    python -m bench.whatif CHANGE[,CHANGE...]

Changes:

- ``tracemalloc``: not a change but a measurement: Python allocations are traced; SIGUSR1
  takes a snapshot, SIGUSR2 another and writes what grew in between, by line and by file,
  to ``bench/results/profiles/tracemalloc-<port>.txt`` (the idle scenario sends both
  around its connection steps: what each idle connection holds).

(The earlier ``pool`` and ``singleflight`` experiments were adopted: the multiplexed
client has no pool, and ``hub/catalog.py`` refreshes its caches single-flight.)
"""

from __future__ import annotations

import sys
from typing import Any


def trace_allocations() -> None:
    import os
    import signal
    import tracemalloc
    from pathlib import Path

    tracemalloc.start(1)
    out = Path(__file__).resolve().parent / "results" / "profiles"
    state: dict[str, Any] = {}

    def first(*_: Any) -> None:
        state["a"] = tracemalloc.take_snapshot()

    def second(*_: Any) -> None:
        if "a" not in state:
            return
        b = tracemalloc.take_snapshot()
        lines = []
        for key in ("lineno", "filename"):
            stats = b.compare_to(state["a"], key)
            total = sum(s.size_diff for s in stats)
            lines.append(f"== grown by {key}: {total / 2**20:.1f} MiB in total")
            for st in stats[:40]:
                lines.append(f"{st.size_diff / 1024:10.1f} KiB {st.count_diff:+8d} blocks  "
                             f"{st.traceback}")
        out.mkdir(parents=True, exist_ok=True)
        (out / f"tracemalloc-{os.environ.get('PORT', 'hub')}.txt").write_text(
            "\n".join(lines) + "\n")

    signal.signal(signal.SIGUSR1, first)
    signal.signal(signal.SIGUSR2, second)


def apply(spec: str) -> None:
    for c in [c for c in spec.split(",") if c]:
        {"tracemalloc": trace_allocations}[c]()


def main() -> None:
    apply(sys.argv[1])
    from chatserver.cli import main as cli_main

    cli_main(["serve"])


if __name__ == "__main__":
    main()
