"""The benchmark suite: ``python -m bench`` (``make bench``).

    python -m bench                   every scenario, full size (about 35-50 minutes)
    python -m bench --quick           every scenario, small sizes (about 8-10 minutes)
    python -m bench --only relay      one scenario (repeat --only for several)
    python -m bench --profile --only relay   hubs under pyinstrument (figures distorted;
                                      profiles in bench/results/profiles/)

    python -m bench --quick --only relay2 --only connect   the outside harness's shape
                                      (one hub, P = 100 and 1,000 pairs, both sides
                                      sending) and the connect burst, a few minutes

    python -m bench --redis both      issue 12: relay, routing, storm and scale, each on
                                      one Valkey and then on a Valkey cluster (3 masters +
                                      3 replicas), same pinning; the product only in relay
                                      (no baselines); results in results-cluster[-quick].json
                                      and summary-cluster[-quick].md, side by side
    python -m bench --redis cluster --only scale   one hub against two, on the cluster

Scenarios: idle, relay, routing, drain, storm, relay2, connect, records, scale (see
docs/performance.md).
Everything runs on 127.0.0.1, every loop is bounded, and the run stops by itself.  Results
are merged into ``bench/results/results[-quick].json``, summarised in
``bench/results/summary[-quick].md`` with the latency plot, and the figures section of
``docs/performance.md`` is rewritten.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import machine, report
from bench.config import RESULTS, Config
from bench.loadgen import QUIET, wait_quiet
from bench.ours import RETRIES
from bench.procs import WHATIF, raise_nofile

SCENARIOS = ["idle", "relay", "routing", "drain", "storm", "relay2", "connect", "records",
             "scale"]
CLUSTER_SCENARIOS = ["relay", "routing", "storm", "scale"]
"""What ``--redis cluster`` / ``both`` runs (issue 12)."""


def log(msg: str) -> None:
    print(msg, flush=True)


async def run_scenario(name: str, cfg: Config) -> dict[str, Any]:
    if name == "idle":
        from bench import s_idle

        return await s_idle.run(cfg, log)
    if name == "relay":
        from bench import s_relay

        if cfg.redis != "single" or cfg.compare:  # issue 12: the product alone
            return await s_relay.run(cfg, log, systems=("ours",))
        return await s_relay.run(cfg, log)
    if name == "routing":
        from bench import s_routing

        return await s_routing.run(cfg, log)
    if name == "drain":
        from bench import s_drain

        return await s_drain.run(cfg, log)
    if name == "storm":
        from bench import s_storm

        return await s_storm.run(cfg, log)
    if name == "relay2":
        from bench import s_relay2

        return await s_relay2.run(cfg, log)
    if name == "connect":
        from bench import s_connect

        return await s_connect.run(cfg, log)
    if name == "records":
        from bench import s_records

        return await s_records.run(cfg, log)
    if name == "scale":
        from bench import s_scale

        return await s_scale.run(cfg, log)
    raise ValueError(name)


async def main_async(args: argparse.Namespace) -> int:
    cfg = Config(quick=args.quick, profile=args.profile, layout_name=args.layout,
                 out=Path(args.out))
    cfg.out.mkdir(parents=True, exist_ok=True)
    compare = args.redis != "single"
    cfg.compare = compare
    backends = ["single", "cluster"] if args.redis == "both" else [args.redis]
    suffix = "-cluster" if compare else ""
    suffix += "-quick" if args.quick else ""
    if args.profile:
        suffix += "-profile"
    if args.whatif:
        suffix += "-whatif-" + args.whatif.replace(",", "-")
        WHATIF["changes"] = args.whatif
    path = cfg.out / f"results{suffix}.json"
    data: dict[str, Any] = {}
    if path.exists():
        with contextlib.suppress(ValueError):
            data = json.loads(path.read_text())
    data.setdefault("scenarios", {})
    info = machine.describe()
    info["foreign_cpu_pct_before_run"] = machine.foreign_load()
    info["nofile_limit"] = raise_nofile()
    info["layout"] = cfg.layout()
    info["nice"] = os.getpriority(os.PRIO_PROCESS, 0)
    data["machine"] = info
    data["quick"] = args.quick
    data["whatif"] = args.whatif
    data["profile"] = args.profile
    data["redis"] = args.redis
    log(f"bench: {info['cpu_model']}, {info['cores']} cores, {info['ram_gib']} GiB, "
        f"{info['kernel']}, Python {info['python']}; layout {cfg.layout_name} "
        f"(generator on {cfg.generator_cpus}, servers on {cfg.server_cpus}); "
        f"machine busy {info['foreign_cpu_pct_before_run']}% before start")
    failed = 0
    budget_end = time.monotonic() + args.budget
    # scale (issue 12) only when asked for in a plain run: the full suite stays as it was
    names = args.only or (CLUSTER_SCENARIOS if compare else
                          [n for n in SCENARIOS if n != "scale"])
    runs = [(n, b) for n in names for b in backends]
    for name, backend in runs:
        key = f"{name}@{backend}" if compare else name
        if time.monotonic() > budget_end:
            log(f"== {key}: skipped (time budget of {args.budget}s used)")
            continue
        cfg.redis = backend
        log(f"== {key}  (load average {os.getloadavg()[0]:.2f})")
        t0 = time.monotonic()
        load0 = [round(x, 2) for x in os.getloadavg()]
        RETRIES.clear()
        await wait_quiet({}, args.quiet_wait)
        try:
            result = await asyncio.wait_for(run_scenario(name, cfg), args.scenario_timeout)
            result["error"] = result.get("error")
        except Exception as exc:
            failed += 1
            log(f"   {name} failed: {exc!r}")
            traceback.print_exc()
            result = {"error": repr(exc)}
        result["elapsed_s"] = round(time.monotonic() - t0, 1)
        result["backend"] = backend
        result["loadavg_before"] = load0
        result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        result["client_retries"] = dict(RETRIES)
        if RETRIES:
            log(f"   client retries (refused by the hub, retried as a client would): "
                f"{dict(RETRIES)}")
        result["date_utc"] = info["date_utc"]
        result["quick"] = args.quick
        result["profile"] = args.profile
        data["scenarios"][key] = result
        path.write_text(json.dumps(data, indent=1, default=str))
        log(f"   {key} done in {result['elapsed_s']}s (load average "
            f"{result['loadavg_after'][0]:.2f})")
    data["quiet_waited_s"] = round(QUIET["waited_s"], 1)
    # only a plain full run of every scenario into bench/results speaks for the docs
    plain = not (args.profile or args.quick or args.whatif or args.only) and (
        args.out == str(RESULTS))
    if compare:
        from bench import report_cluster

        summary = report_cluster.write(data, cfg.out, suffix)
        log(f"results: {path}\nsummary: {summary}")
        print(report_cluster.text(data), flush=True)
        return 1 if failed else 0
    summary = report.write_all(data, cfg.out, suffix, update_doc=plain)
    log(f"results: {path}\nsummary: {summary}")
    print(report.targets_text(data), flush=True)
    return 1 if failed else 0


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (~2-3 minutes)")
    p.add_argument("--only", action="append", choices=SCENARIOS, help="run this scenario")
    p.add_argument("--profile", action="store_true",
                   help="run the hubs under pyinstrument (profiles in results/profiles)")
    p.add_argument("--layout", choices=["split", "shared"], default="split",
                   help="split: generator alone on the last core, servers on the others "
                        "(default); shared: no pinning")
    p.add_argument("--nice", type=int, default=-10,
                   help="scheduling priority of the bench and its servers (default -10, "
                        "so other work on the machine disturbs less; needs root)")
    p.add_argument("--budget", type=float, default=3600.0,
                   help="skip scenarios not started within this many seconds")
    p.add_argument("--scenario-timeout", type=float, default=2400.0)
    p.add_argument("--quiet-wait", type=float, default=30.0,
                   help="before a scenario or a load step, wait up to this long for other "
                        "work on the machine to calm down (CPU of others < "
                        f"{QUIET['threshold_pct']:.0f}%%)")
    p.add_argument("--redis", choices=["single", "cluster", "both"], default="single",
                   help="single: one Valkey (default); cluster: a 3-master + 3-replica "
                        "Valkey cluster; both: each scenario on one Valkey, then on the "
                        "cluster (issue 12: relay, routing, storm and scale unless --only)")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--whatif", help="run the hubs with experimental changes applied in "
                                    "memory (bench/whatif.py: tracemalloc)")
    args = p.parse_args()
    if args.redis != "single":
        bad = [n for n in args.only or [] if n not in CLUSTER_SCENARIOS]
        if bad:
            p.error(f"--redis {args.redis} runs only {', '.join(CLUSTER_SCENARIOS)}")
    QUIET["max_wait_s"] = args.quiet_wait
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise_nofile()
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    cfg = Config(layout_name=args.layout)
    if cfg.generator_cpus:
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setaffinity(0, set(cfg.generator_cpus))
    try:
        import uvloop

        code = uvloop.run(main_async(args))
    except ImportError:
        code = asyncio.run(main_async(args))
    sys.exit(code)


if __name__ == "__main__":
    main()
