"""Markdown tables of a spike run (``bench/results/redis_clients*.md``)."""

from __future__ import annotations

from typing import Any

PATHS = {"post": "Message script (EVALSHA post.lua)",
         "routing": "Routing pass (one batch of the snapshot's reads)",
         "getset": "GET + SET"}


def markdown(report: dict[str, Any]) -> str:
    out = [f"# Redis client spike, {report['started']}",
           "",
           f"{report['seconds']} s per cell, {report['cpus']} CPUs, load average before "
           f"{report['loadavg_before'][0]:.1f}, after {report['loadavg_after'][0]:.1f}.",
           "CPU = client process CPU (all threads) / operations; srv = Valkey CPU / "
           "operations (all nodes).", ""]
    for path, title in PATHS.items():
        out += [f"## {title}", "",
                "| topology | client | conc | op/s | client CPU us/op | client CPU % "
                "| srv us/op | p50 ms | p99 ms | errors |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for run in report["runs"]:
            for c in run.get("cells", []):
                if c["path"] != path:
                    continue
                if "failed" in c:
                    out.append(f"| {run['topology']} | {run['client']} | {c['conc']} | "
                               f"failed: {c['failed'][:80]} | | | | | | |")
                    continue
                out.append(
                    f"| {run['topology']} | {run['client']} | {c['conc']} | "
                    f"{c['ops_per_s']:.0f} | {c['client_cpu_us_per_op']:.0f} | "
                    f"{c['client_cpu_pct']:.0f} | {c['server_cpu_us_per_op']:.0f} | "
                    f"{c['p50_ms']:.2f} | {c['p99_ms']:.1f} | {c['errors']} |")
        out.append("")
    out += ["## Pub/sub fan-out (one process: publisher + subscriber; half the channels "
            "churned every 10 ms)", "",
            "| topology | client | subs | offered msg/s | delivered msg/s | lost | "
            "client CPU us/msg | srv us/msg | p50 ms | p99 ms | subscribe ms each | churns |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in report["runs"]:
        for c in run.get("fanout", []):
            if "failed" in c:
                out.append(f"| {run['topology']} | {run['client']} | {c['subs']} | "
                           f"{c['rate']} | failed: {c['failed'][:80]} | | | | | | | |")
                continue
            out.append(
                f"| {run['topology']} | {run['client']} | {c['subs']} | {c['rate']} | "
                f"{c['delivered_per_s']:.0f} | {c['lost']} | {c['client_cpu_us_per_msg']:.0f} | "
                f"{c['server_cpu_us_per_msg']:.0f} | {c['p50_ms']:.2f} | {c['p99_ms']:.1f} | "
                f"{c['subscribe_ms_each']:.2f} | {c['churn_ops']} |")
    for run in report["runs"]:
        if "failed" in run:
            out.append(f"\n{run['topology']} {run['client']}: FAILED {run['failed']}")
    if report.get("strace"):
        out += ["", "## Write system calls (message script, 50 concurrent, 1.5 s, strace -f)",
                "", "| topology | client | ops | write calls | per op |", "|---|---|---|---|---|"]
        for s in report["strace"]:
            if "failed" in s:
                out.append(f"| {s['topology']} | {s['client']} | failed | | |")
            else:
                out.append(f"| {s['topology']} | {s['client']} | {s['ops']} | "
                           f"{s['write_calls']} | {s['writes_per_op']:.2f} |")
    return "\n".join(out) + "\n"


def doc_tables(report: dict[str, Any], checks: list[dict[str, Any]] | None = None) -> str:
    """The condensed tables for docs/performance.md: one row per client and topology,
    one column per concurrency, each cell ``client CPU us/op · op/s · p99 ms``."""
    concs = sorted({c["conc"] for r in report["runs"] for c in r.get("cells", [])})
    out: list[str] = []
    for path, title in PATHS.items():
        out += [f"**{title}**: client CPU µs per operation · operations/s · p99 ms", "",
                "| topology | client | " + " | ".join(f"{c} concurrent" for c in concs) + " |",
                "|---|---|" + "---|" * len(concs)]
        for run in report["runs"]:
            cells = {c["conc"]: c for c in run.get("cells", []) if c["path"] == path}
            if not cells:
                continue
            row = []
            for conc in concs:
                c = cells.get(conc)
                if c is None or "failed" in c:
                    row.append("failed" if c else "")
                    continue
                err = f" ({c['errors']} errors)" if c["errors"] else ""
                row.append(f"**{c['client_cpu_us_per_op']:.0f}** · {c['ops_per_s']:.0f} · "
                           f"{c['p99_ms']:.0f}{err}")
            out.append(f"| {run['topology']} | {run['client']} | " + " | ".join(row) + " |")
        out.append("")
    out += ["**Pub/sub fan-out**: 300 channels in one subscriber, half of them churned "
            "(unsubscribe one, subscribe a new one) every 10 ms, publisher in the same "
            "process", "",
            "| topology | client | offered msg/s | delivered msg/s | lost | client CPU µs/msg "
            "| p50 ms | p99 ms | subscribe ms |",
            "|---|---|---|---|---|---|---|---|---|"]
    for run in report["runs"]:
        for c in run.get("fanout", []):
            if "failed" in c:
                out.append(f"| {run['topology']} | {run['client']} | {c['rate']} | "
                           f"failed: {c['failed'][:70]} | | | | | |")
                continue
            out.append(f"| {run['topology']} | {run['client']} | {c['rate']} | "
                       f"{c['delivered_per_s']:.0f} | {c['lost']} | "
                       f"**{c['client_cpu_us_per_msg']:.0f}** | {c['p50_ms']:.1f} | "
                       f"{c['p99_ms']:.0f} | {c['subscribe_ms_each']:.2f} |")
    if report.get("strace"):
        out += ["", "**Writes to the Valkey sockets** per message-script call (50 concurrent, "
                "1.5 s under `strace -f -yy`; other writes are event-fd wake-ups)", "",
                "| topology | client | calls | TCP writes per call | other writes per call |",
                "|---|---|---|---|---|"]
        for s in report["strace"]:
            if "failed" in s:
                out.append(f"| {s['topology']} | {s['client']} | failed | | |")
                continue
            out.append(f"| {s['topology']} | {s['client']} | {s['ops']} | "
                       f"{s['writes_per_op']:.2f} | {s['other_writes'] / max(s['ops'], 1):.2f} |")
    if checks:
        out += ["", "**Slot move** (`python -m bench.redis_clients.checks`)", "",
                "| client | GET during the move (ASK) | GET / EVALSHA after (MOVED) "
                "| SSUBSCRIBE after | subscription made before the move |",
                "|---|---|---|---|---|"]

        def ok(v: str | None) -> str:
            return "missing" if v is None else ("**no**: " + v[7:50]) if v.startswith(
                "FAILED") else "yes"

        for c in checks:
            out.append(f"| {c['client']} | {ok(c.get('ask_get'))} | "
                       f"{ok(c.get('moved_get'))} / {ok(c.get('moved_evalsha'))} | "
                       f"{ok(c.get('moved_sharded_pubsub'))} | "
                       f"{ok(c.get('subscription_from_before_the_move'))} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    results = Path(__file__).resolve().parent.parent / "results"
    name = sys.argv[1] if len(sys.argv) > 1 else "redis_clients"
    checks_path = results / "redis_clients_checks.json"
    print(doc_tables(json.loads((results / f"{name}.json").read_text()),
                     json.loads(checks_path.read_text()) if checks_path.exists() else None))
