"""One Valkey against the Valkey cluster (issue 12): the figures side by side, the ratio of
each to its target, written to ``bench/results/summary-cluster[-quick].md`` and printed.

The results come from ``python -m bench --redis both`` (or ``cluster``): every scenario's
result is stored as ``<scenario>@<backend>`` (``relay@single``, ``relay@cluster``, ...).
Targets are judged here, never asserted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import _g, _table

RELAY_TARGET = 0.8
ROUTING_TARGET = 0.8
SCALE_TARGET = 1.7


def _ratio(a: Any, b: Any) -> float | None:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not b:
        return None
    return round(a / b, 3)


def _status(ratio: float | None, target: float, extra_ok: bool = True,
            base: Any = None) -> str:
    if ratio is None:
        return "no figure (single 0)" if base == 0 else "not run"
    return "met" if ratio >= target and extra_ok else "missed"


def _load(r: dict[str, Any]) -> str:
    la = r.get("loadavg_before")
    lb = r.get("loadavg_after")
    if not la:
        return "-"
    return f"{la[0]:.2f} -> {lb[0]:.2f}" if lb else f"{la[0]:.2f}"


def budget_bound(entry: dict[str, Any]) -> bool:
    """Whether a ramp stopped because its time budget ran out while its fastest step still
    passed: its sustained rate is then a lower bound, not the point of failure."""
    steps = entry.get("steps") or []
    if not steps:
        return False
    top = max(steps, key=lambda s: s.get("rate", 0))
    return bool(top.get("ok"))


def _routing_cpu_ms(g: dict[str, Any]) -> float | None:
    cpu = _g(g, "backlog", "cpu", "cpu_s", default={})
    n = _g(g, "backlog", "assigned")
    if not cpu or not n:
        return None
    used = sum(v for k, v in cpu.items() if k.startswith(("hub", "vk_", "valkey")))
    return round(1000 * used / n, 3)


def rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    sc = data.get("scenarios", {})
    out: list[dict[str, Any]] = []

    def add(what: str, single: Any, cluster: Any, ratio: Any, goal: str, status: str,
            note: str = "") -> None:
        out.append({"what": what, "single": single, "cluster": cluster, "ratio": ratio,
                    "goal": goal, "status": status, "note": note})

    rs, rc = sc.get("relay@single", {}), sc.get("relay@cluster", {})
    if rs or rc:
        a = _g(rs, "systems", "ours", "sustained_rate")
        b = _g(rc, "systems", "ours", "sustained_rate")
        r = _ratio(b, a)
        add("relay: sustained msg/s (p99 <= 10 ms)", a, b, r,
            f"cluster >= {RELAY_TARGET}x single", _status(r, RELAY_TARGET, base=a),
            "; ".join(x for x in (_g(rs, "systems", "ours", "error"),
                                  _g(rc, "systems", "ours", "error")) if x))
        a = _g(rs, "systems", "ours", "sustained_rate_p99_200ms")
        b = _g(rc, "systems", "ours", "sustained_rate_p99_200ms")
        r = _ratio(b, a)
        bound = [budget_bound(_g(x, "systems", "ours", default={})) for x in (rs, rc)]
        add("relay: sustained msg/s (p99 <= 200 ms, all delivered)",
            f">= {a}" if bound[0] else a, f">= {b}" if bound[1] else b, r,
            f"cluster >= {RELAY_TARGET}x single (same target, looser latency)",
            "both lower bounds" if all(bound) else _status(r, RELAY_TARGET, base=a),
            "'>=': the ramp's time budget ran out while its fastest step still passed"
            if any(bound) else "")
        ca = _g(rs, "systems", "ours", "fixed_rate", "cost", "us_per_msg", default={})
        cb = _g(rc, "systems", "ours", "fixed_rate", "cost", "us_per_msg", default={})
        if ca or cb:
            fa, fb = _server_us(ca), _server_us(cb)
            rate = _g(rc, "systems", "ours", "fixed_rate", "rate")
            r = _ratio(fa, fb)
            add(f"relay: server CPU us per message at a fixed {rate} msg/s (hubs + "
                f"every Valkey)", fa, fb, r,
                f"single cost / cluster cost >= {RELAY_TARGET} (capacity on a busy core)",
                _status(r, RELAY_TARGET), "CPU per message hardly depends on other load; "
                "its inverse is the rate one saturated server core allows")
            add("relay: of which Valkey us/msg", ca.get("valkey_total"),
                cb.get("valkey_total"), None, "report", "-")
        for pct in ("p50", "p99"):
            add(f"relay: {pct} ms at half the sustained rate",
                _g(rs, "systems", "ours", "half_rate", "latency_ms", pct),
                _g(rc, "systems", "ours", "half_rate", "latency_ms", pct), None, "report",
                "-")
    gs, gc = sc.get("routing@single", {}), sc.get("routing@cluster", {})
    if gs or gc:
        a, b = gs.get("assignments_per_s"), gc.get("assignments_per_s")
        va = [_g(g, "audit", k) for g in (gs, gc)
              for k in ("violations", "final_state_problems")]
        clean = all(v == 0 for v in va[2:]) if gc.get("audit") else False
        r = _ratio(b, a)
        add("routing: backlog assignments/s", a, b, r,
            f"cluster >= {ROUTING_TARGET}x single, 0 violations",
            _status(r, ROUTING_TARGET, clean), "; ".join(
                str(x) for x in (gs.get("error"), gc.get("error")) if x))
        ka, kb = _routing_cpu_ms(gs), _routing_cpu_ms(gc)
        add("routing: server CPU ms per backlog assignment (hubs + every Valkey)", ka, kb,
            _ratio(ka, kb), "single cost / cluster cost (capacity on a busy core)",
            "-", "CPU seconds of the release-to-settled window (psutil) / assignments")
        add("routing: arrival-burst assignments/s", _g(gs, "arrival", "assignments_per_s"),
            _g(gc, "arrival", "assignments_per_s"),
            _ratio(_g(gc, "arrival", "assignments_per_s"),
                   _g(gs, "arrival", "assignments_per_s")), "report", "-")
        add("routing: created -> assigned p99 ms (arrival)",
            _g(gs, "arrival", "server_created_to_assign_ms", "p99"),
            _g(gc, "arrival", "server_created_to_assign_ms", "p99"), None, "report", "-")
        add("routing: invariant violations / final-state problems",
            f"{va[0]} / {va[1]}", f"{va[2]} / {va[3]}", None, "0 / 0",
            "met" if clean else ("not run" if not gc.get("audit") else "missed"))
        add("routing: assigned / still queued (no eligible capacity)",
            f"{_g(gs, 'audit', 'assignments_replayed')} / {_g(gs, 'audit', 'still_queued')}",
            f"{_g(gc, 'audit', 'assignments_replayed')} / {_g(gc, 'audit', 'still_queued')}",
            None, "report", "-")
    ss, st = sc.get("storm@single", {}), sc.get("storm@cluster", {})
    if ss or st:
        for key, what in (("kill_to_99pct_resumed_s", "storm: kill -> 99 % resumed, s"),
                          ("eventually_99pct_resumed_s", "storm: 99 % resumed (after the "
                                                         "watch), s"),
                          ("kill_to_all_resumed_s", "storm: kill -> all resumed, s")):
            add(what, ss.get(key), st.get(key), None, "report", "-")
        add("storm: messages lost / sent",
            f"{ss.get('messages_lost')} / {ss.get('messages_sent')}",
            f"{st.get('messages_lost')} / {st.get('messages_sent')}", None, "0 lost",
            "met" if st.get("messages_lost") == 0 and ss.get("messages_lost") == 0
            else "missed" if st else "not run",
            "; ".join(str(x) for x in (ss.get("error"), st.get("error")) if x))
        add("storm: delivery p99 ms", _g(ss, "delivery_latency_ms", "p99"),
            _g(st, "delivery_latency_ms", "p99"), None, "report", "-")
    return out


def scale_rows(data: dict[str, Any]) -> list[list[Any]]:
    """Scenario scale: one hub against two, per backend and latency limit."""
    out: list[list[Any]] = []
    for backend in ("single", "cluster"):
        s = _g(data, "scenarios", f"scale@{backend}")
        if not s:
            continue
        shared = s.get("server_cpus") is not None and len(s.get("server_cpus") or []) < 2
        status = "n/a here" if shared else None
        bound = [budget_bound(_g(s, "runs", n, default={})) for n in ("1", "2")]
        for key, ratio, what in (("sustained_rate", "ratio", "p99 <= 10 ms"),
                                 ("sustained_rate_p99_200ms", "ratio_p99_200ms",
                                  "p99 <= 200 ms")):
            r1 = _g(s, "runs", "1", key)
            r2 = _g(s, "runs", "2", key)
            if key != "sustained_rate":
                r1 = f">= {r1}" if bound[0] else r1
                r2 = f">= {r2}" if bound[1] else r2
            r = s.get(ratio)
            out.append([backend, what, r1, r2, r, f">= {SCALE_TARGET}x, a core per hub",
                        status or _status(r, SCALE_TARGET, base=r1)])
        c1 = _g(s, "runs", "1", "fixed_rate", "cost", "marginal_us_per_msg", default={})
        c2 = _g(s, "runs", "2", "fixed_rate", "cost", "marginal_us_per_msg", default={})
        h1 = sum(v for k, v in c1.items() if k.startswith("hub")) if c1 else None
        h2 = sum(v for k, v in c2.items() if k.startswith("hub")) if c2 else None
        out.append([backend, "hub CPU us per message above idle, all hubs together",
                    h1, round(h2, 1) if h2 is not None else None, _ratio(h1, h2),
                    "1 hub cost / 2 hubs cost near 1 (no overhead from a second hub)", "-"])
    return out


def _server_us(us: dict[str, Any]) -> float | None:
    if not us:
        return None
    return round(sum(v for k, v in us.items() if k.startswith("hub"))
                 + (us.get("valkey_total") or 0.0), 1)


def cost_table(data: dict[str, Any]) -> list[list[Any]]:
    """Per-process CPU cost (microseconds per relayed message) at the fixed-rate step of
    the relay and scale scenarios."""
    out: list[list[Any]] = []
    sc = data.get("scenarios", {})
    found: list[tuple[str, str, dict[str, Any], Any]] = []
    for backend in ("single", "cluster"):
        relay = _g(sc, f"relay@{backend}", "systems", "ours", default={})
        if relay.get("fixed_rate"):
            found.append((f"relay, {backend}", "2 (visitor on hub0, agent on hub1)",
                          relay["fixed_rate"], relay.get("sustained_rate")))
        s = sc.get(f"scale@{backend}")
        for n in ("1", "2") if s else ():
            run = _g(s, "runs", n, default={})
            if run.get("fixed_rate"):
                found.append((f"scale, {backend}", f"{n} (pairs within a hub)",
                              run["fixed_rate"], run.get("sustained_rate")))
    for what, n, at, sustained in found:
        if at:
            cost = at.get("cost", {})
            us = cost.get("us_per_msg", {})
            hubs = {k: v for k, v in us.items() if k.startswith("hub")}
            own = cost.get("hub_us_per_own_msg", {})
            pct = _g(at, "cpu", "cpu_pct", default={})
            vk_pct = round(sum(v for k, v in pct.items() if k.startswith(("vk_", "valkey"))), 1)
            above = cost.get("marginal_us_per_msg", {})
            out.append([what, n, f"{at.get('rate')} ({sustained})",
                        ", ".join(f"{k} {v}" for k, v in hubs.items()) or "-",
                        (", ".join(f"{k} {v}" for k, v in own.items()) or "-")
                        if what.startswith("scale") else "- (every message crosses both)",
                        ", ".join(f"{k} {v}" for k, v in above.items()
                                  if k.startswith("hub")) or "-",
                        us.get("valkey_total"), above.get("valkey_total"),
                        ", ".join(f"{k} {v}%" for k, v in pct.items()
                                  if k.startswith("hub")) or "-",
                        vk_pct, _g(at, "cpu", "foreign_cpu_pct")])
    return out


def markdown(data: dict[str, Any]) -> str:
    m = data.get("machine", {})
    lines = [f"Run of {m.get('date_utc')} ({'quick' if data.get('quick') else 'full'} size), "
             f"{m.get('cpu_model')}, {m.get('cores')} cores, layout "
             f"{_g(m, 'layout', 'name')}: generator on {_g(m, 'layout', 'generator')}, hubs "
             f"and every Valkey process on {_g(m, 'layout', 'redis')}; Valkey "
             f"{m.get('valkey')}; commit {_g(m, 'git', 'commit')}."
             f" Cluster: 3 masters + 3 replicas, AOF everysec like the single Valkey.", ""]
    table = [[r["what"], r["single"], r["cluster"], r["ratio"], r["goal"], r["status"]]
             for r in rows(data)]
    lines.append(_table(["figure", "one Valkey", "cluster", "cluster / single", "target",
                         "status"], table))
    notes = [f"- {r['what']}: {r['note']}" for r in rows(data) if r.get("note")]
    if notes:
        lines += ["", *notes]
    sr = scale_rows(data)
    if sr:
        lines += ["", "One hub against two (scenario scale; pairs kept within a hub):", "",
                  _table(["backend", "figure", "1 hub", "2 hubs", "2 / 1", "target",
                          "status"], sr)]
    costs = cost_table(data)
    if costs:
        lines += ["", "CPU cost per relayed message at the fixed-rate step (microseconds of"
                  " CPU per message, psutil per process; in brackets the sustained rate of "
                  "the same deployment at p99 <= 10 ms):", "",
                  _table(["run", "hubs", "msg/s (sustained)", "hub us/msg (all msgs)",
                          "hub us per msg it carried", "hub us/msg above idle",
                          "Valkey us/msg (sum)", "Valkey above idle", "hub CPU %",
                          "Valkey CPU % (sum)", "other %"], costs)]
    load = [[k, _load(v), v.get("elapsed_s"), v.get("error") or ""]
            for k, v in data.get("scenarios", {}).items()]
    lines += ["", "Machine load (1-minute load average at the start -> end of each run; "
              "2 cores, shared with other sessions: the figures are noisy):", "",
              _table(["run", "load avg", "elapsed s", "error"], load)]
    return "\n".join(lines)


def text(data: dict[str, Any]) -> str:
    out = ["one Valkey vs cluster:"]
    for r in rows(data):
        out.append(f"  [{r['status']:>8}] {r['what']}: single {r['single']}, cluster "
                   f"{r['cluster']}, ratio {r['ratio']} (target {r['goal']})")
    for r in scale_rows(data):
        out.append(f"  [{r[6]:>8}] scale on {r[0]}, {r[1]}: 1 hub {r[2]}, 2 hubs {r[3]}, "
                   f"ratio {r[4]} (target {r[5]})")
    for c in cost_table(data):
        out.append(f"  cost {c[0]}, {c[1]} hub(s) at {c[2]} msg/s: hubs {c[3]} us/msg "
                   f"({c[5]} above idle), Valkey {c[6]} us/msg ({c[7]} above idle)")
    return "\n".join(out)


def write(data: dict[str, Any], out: Path, suffix: str) -> Path:
    path = out / f"summary{suffix}.md"
    path.write_text("# One Valkey and a cluster (issue 12)\n\nWritten by `python -m bench "
                    "--redis both`; the analysis is in "
                    "[docs/performance.md](../../docs/performance.md).\n\n"
                    + markdown(data) + "\n")
    return path
