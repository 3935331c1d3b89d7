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
