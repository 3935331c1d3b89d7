"""``python -m soak``: run the fault soak, print its report, write it as JSON
(``<out>/soak-<seed>.json``); exit 1 on any violation."""

from __future__ import annotations

import asyncio
import json
import sys

from soak.config import parse
from soak.report import render
from soak.run import run


def main(argv: list[str] | None = None) -> int:
    cfg = parse(argv)
    from bench.procs import raise_nofile

    raise_nofile()
    try:
        import uvloop

        report = uvloop.run(run(cfg))
    except ImportError:
        report = asyncio.run(run(cfg))
    cfg.out.mkdir(parents=True, exist_ok=True)
    path = cfg.out / f"soak-{cfg.seed}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print(render(report))
    print(f"report written to {path}")
    return 1 if report["violation_count"] else 0


if __name__ == "__main__":
    sys.exit(main())
