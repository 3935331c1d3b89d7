"""Turning results into a markdown summary, a latency plot and the figures section of
``docs/performance.md``.  Targets are judged here (met / missed with the figure); they are
never assertions anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import report_pairs
from bench.procs import ROOT

DOC = ROOT / "docs" / "performance.md"
BEGIN = "<!-- bench:figures:begin -->"
END = "<!-- bench:figures:end -->"


def _g(d: Any, *path: Any, default: Any = None) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return default
        d = d[p]
    return d


def targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of issue 6 with its figure and met / missed / not run."""
    sc = data.get("scenarios", {})
    quick = bool(data.get("quick"))
    rows: list[dict[str, Any]] = []

    def row(name: str, goal: str, figure: str, met: bool | None, note: str = "") -> None:
        rows.append({"target": name, "goal": goal, "figure": figure,
                     "status": "not run" if met is None else ("met" if met else "missed"),
                     "note": note})

    relay = sc.get("relay", {})
    ours = _g(relay, "systems", "ours", "sustained_rate")
    sio = _g(relay, "systems", "socketio", "sustained_rate")
    raw = _g(relay, "systems", "raw_ws", "sustained_rate")
    r_sio = relay.get("ratio_to_socketio")
    r_raw = relay.get("ratio_to_raw_ws")
    if r_sio is None and ours == 0 and sio == 0:
        row("Relay vs python-socketio+Redis", ">= 2x",
            "neither sustained the first step (p99 <= 10 ms)", False)
    else:
        row("Relay vs python-socketio+Redis", ">= 2x",
            f"{ours} vs {sio} msg/s = {r_sio}x" if r_sio is not None else "-",
            None if r_sio is None else r_sio >= 2)
    row("Relay vs raw websockets", ">= 0.5x",
        f"{ours} vs {raw} msg/s = {r_raw}x" if r_raw is not None else "-",
        None if r_raw is None else r_raw >= 0.5)
    half = _g(relay, "systems", "ours", "half_rate")
    if half:
        p50, p99 = half["latency_ms"].get("p50"), half["latency_ms"].get("p99")
        row("Visitor -> agent latency at half the sustained rate", "p50 <= 1 ms, p99 <= 5 ms",
            f"p50 {p50} ms, p99 {p99} ms at {half['rate']:.0f} msg/s",
            p50 is not None and p99 is not None and p50 <= 1 and p99 <= 5)
    else:
        row("Visitor -> agent latency at half the sustained rate", "p50 <= 1 ms, p99 <= 5 ms",
            "-", None)
    idle = sc.get("idle", {})
    per = idle.get("rss_per_connection_kib")
    row("Idle connection memory", "<= 20 KiB RSS each",
        f"{per} KiB at {idle.get('max_connections')} connections" if per is not None else "-",
        None if per is None else per <= 20,
        "quick run: fewer connections" if quick else "")
    routing = sc.get("routing", {})
    aps = routing.get("assignments_per_s")
    viol = _g(routing, "audit", "violations")
    probs = _g(routing, "audit", "final_state_problems")
    row("Routing throughput", ">= 5,000 assignments/s",
        f"{aps} assignments/s ({_g(routing, 'backlog', 'assigned')} chats)"
        if aps is not None else "-", None if aps is None else aps >= 5000)
    row("Routing correctness", "0 violations",
        f"{viol} violations, {probs} final-state problems" if viol is not None else "-",
        None if viol is None else (viol == 0 and probs == 0))
    drain = sc.get("drain", {})
    d99 = _g(drain, "close_to_offer_ms", "p99")
    row("Queue drain", "p99 <= 50 ms",
        f"p50 {_g(drain, 'close_to_offer_ms', 'p50')} ms, p99 {d99} ms"
        if d99 is not None else "-", None if d99 is None else d99 <= 50)
    storm = sc.get("storm", {})
    t99 = storm.get("kill_to_99pct_resumed_s")
    n = storm.get("visitors")
    if storm and not storm.get("error") and storm.get("visitors"):
        ok = t99 is not None and t99 <= 10 and (n or 0) >= 10_000
        row("Reconnect storm", "10k clients, 99 % resumed within 10 s",
            f"{n} clients, 99 % in {t99} s" if t99 is not None
            else f"{n} clients, 99 % in {storm['eventually_99pct_resumed_s']} s (all: "
                 f"{storm.get('eventually_all_resumed_s')} s)"
            if storm.get("eventually_99pct_resumed_s") is not None
            else f"{n} clients: not resumed",
            ok if not quick else (t99 is not None and t99 <= 10),
            "quick run: fewer clients" if quick else "")
        lost = storm.get("messages_lost")
        row("Reconnect storm losses", "0 messages lost",
            f"{lost} lost of {storm.get('messages_sent')}" if lost is not None else "-",
            None if lost is None else lost == 0)
    else:
        row("Reconnect storm", "10k clients, 99 % resumed within 10 s", "-", None)
        row("Reconnect storm losses", "0 messages lost", "-", None)
    rows += report_pairs.targets(data)
    return rows


def targets_text(data: dict[str, Any]) -> str:
    lines = ["targets:"]
    for r in targets(data):
        lines.append(f"  [{r['status']:>7}] {r['target']}: {r['figure']} (goal {r['goal']})")
    return "\n".join(lines)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        out.append("| " + " | ".join("" if v is None else str(v) for v in r) + " |")
    return "\n".join(out)


def _cpu(cpu: dict[str, Any] | None) -> str:
    if not cpu:
        return ""
    parts = [f"{k} {v}%" for k, v in cpu.get("cpu_pct", {}).items()]
    if "foreign_cpu_pct" in cpu:
        parts.append(f"other {cpu['foreign_cpu_pct']}%")
    return ", ".join(parts)


def figures_markdown(data: dict[str, Any], plot_name: str | None) -> str:
    m = data.get("machine", {})
    sc = data.get("scenarios", {})
    v = m.get("versions", {})
    lines: list[str] = []
    lines.append(f"Run of {m.get('date_utc')} ({'quick' if data.get('quick') else 'full'} "
                 f"size), commit {m.get('git', {}).get('commit')}"
                 f" ({m.get('git', {}).get('dirty_files')} files changed in the tree).")
    lines.append("")
    lines.append(f"Machine: {m.get('cpu_model')}, {m.get('cores')} cores, {m.get('ram_gib')} "
                 f"GiB RAM, {m.get('kernel')}; Python {m.get('python')}; {m.get('valkey')}; "
                 f"uvicorn {v.get('uvicorn')}, websockets {v.get('websockets')}, msgspec "
                 f"{v.get('msgspec')}, starlette {v.get('starlette')}, uvloop {v.get('uvloop')},"
                 f" redis-py {v.get('redis')}, python-socketio {v.get('python-socketio')}.")
    lay = m.get("layout", {})
    lines.append(f"Layout: generator pinned to core(s) {lay.get('generator')}, every server "
                 f"process (hubs, Valkey, baselines) to {lay.get('hub0')}; nice "
                 f"{m.get('nice')}; open-files limit {m.get('nofile_limit')}; the machine was "
                 f"{m.get('foreign_cpu_pct_before_run')}% busy with other work just before "
                 "the run (per-step figures below give the other load during each step).")
    lines.append("")
    lines.append("### Targets")
    lines.append("")
    lines.append(_table(["target", "goal", "figure", "status"],
                        [[r["target"], r["goal"], r["figure"] + (f" ({r['note']})"
                                                                  if r["note"] else ""),
                          f"**{r['status']}**"] for r in targets(data)]))
    relay = sc.get("relay")
    if relay and relay.get("systems"):
        lines += ["", "### Relay (scenario 2)", ""]
        lines.append(f"{relay.get('pairs')} chat pairs, steps of {relay.get('step_s')} s "
                     f"(first {relay.get('warmup_s')} s not counted), latency from the "
                     "intended send time; a step passes when every message arrived and "
                     f"p99 <= {relay.get('p99_limit_ms')} ms.")
        lines.append("")
        rows = []
        for name, e in relay["systems"].items():
            at = e.get("at_sustained", {})
            lat = at.get("latency_ms", {})
            rows.append([e.get("label", name), e.get("sustained_rate"), lat.get("p50"),
                         lat.get("p95"), lat.get("p99"), _cpu(at.get("cpu")),
                         at.get("gen_busy_pct"), e.get("error")])
        lines.append(_table(["system", "sustained msg/s", "p50 ms", "p95 ms", "p99 ms",
                             "CPU at that rate", "generator busy %", "error"], rows))
        lines.append("")
        lines.append(f"Ratios: ours / socketio = {relay.get('ratio_to_socketio')}, "
                     f"ours / raw websockets = {relay.get('ratio_to_raw_ws')}.")
        half = _g(relay, "systems", "ours", "half_rate")
        if half:
            lat = half["latency_ms"]
            lines.append("")
            lines.append(f"At half the sustained rate ({half['rate']:.0f} msg/s, "
                         f"{half['duration_s']} s): visitor -> agent p50 {lat.get('p50')} ms,"
                         f" p95 {lat.get('p95')} ms, p99 {lat.get('p99')} ms, max "
                         f"{lat.get('max')} ms; sender lag p99 "
                         f"{half['sender_lag_ms'].get('p99')} ms; {_cpu(half.get('cpu'))}.")
        if plot_name:
            lines += ["", f"![latency against offered load]({plot_name})"]
        lines += ["", "Every step:", ""]
        rows = []
        for name, e in relay["systems"].items():
            for s in e.get("steps", []):
                lat = s["latency_ms"]
                rows.append([name, s["rate"], lat.get("p50"), lat.get("p95"), lat.get("p99"),
                             lat.get("max"), s["sender_lag_ms"].get("p99"),
                             _cpu(s["cpu"]), "ok" if s["ok"] else s["reason"]])
        lines.append(_table(["system", "offered msg/s", "p50", "p95", "p99", "max",
                             "sender lag p99", "CPU", "result"], rows))
    idle = sc.get("idle")
    if idle and idle.get("steps"):
        lines += ["", "### Idle connections (scenario 1)", ""]
        rows = [[s["connections"], s["rss_per_connection_kib"], s["hub_rss_mib"],
                 s["connect_rate_per_s"], s["valkey_rss_per_connection_kib"],
                 _cpu(s["cpu_during_connect"])] for s in idle["steps"]]
        lines.append(_table(["idle visitor sockets on one hub", "hub RSS KiB / connection",
                             "hub RSS MiB", "connects / s", "Valkey KiB / connection",
                             "CPU while connecting"], rows))
        lines.append("")
        lines.append(f"Measured from {idle.get('warm_connections')} connections already open "
                     f"(hub RSS {idle.get('hub_rss_warm_mib')} MiB); the open-files limit "
                     f"of this machine ({idle.get('nofile_limit')}) caps N.")
    routing = sc.get("routing")
    if routing and routing.get("backlog"):
        b, a, au = routing["backlog"], routing.get("arrival", {}), routing.get("audit", {})
        lines += ["", "### Routing burst (scenario 3)", ""]
        lines.append(f"{routing['agents']} agents (total capacity "
                     f"{routing.get('total_capacity')}), {routing['skills']} skills, "
                     f"{routing['topics']} topics, two hubs.")
        lines.append("")
        lines.append(f"- Backlog: {routing['backlog_chats']} chats queued while every agent "
                     f"was away, then all agents online at once: {b['assigned']} assigned "
                     f"(event log) in {b.get('release_to_last_assign_s')} s = "
                     f"**{b['assignments_per_s']} assignments/s**; offers that reached the "
                     f"agents: {b.get('offers_received')} ({_cpu(b.get('cpu'))}).")
        if a:
            lat = a.get("latency_ms", {})
            sl = a.get("server_created_to_assign_ms", {})
            lines.append(f"- Arrival burst: {a['chats']} visitors send `start` at once: "
                         f"{a['assigned']} assigned, {a['assignments_per_s']} assignments/s, "
                         f"{a.get('offers_received')} offers reached the agents; "
                         f"start -> offer at the agent p50 {lat.get('p50')} ms, p99 "
                         f"{lat.get('p99')} ms, max {lat.get('max')} ms (event log created "
                         f"-> assigned p50 {sl.get('p50')} ms, p99 {sl.get('p99')} ms); "
                         f"{_cpu(a.get('cpu'))}.")
        lines.append(f"- Audit (event log replayed with `tests/audit.py`): "
                     f"{au.get('assignments_replayed')} assignments, **{au.get('violations')}"
                     f" violations**, {au.get('final_state_problems')} final-state problems;"
                     f" {au.get('still_queued')} chats left queued (no eligible agent with "
                     "free capacity).")
    drain = sc.get("drain")
    if drain and drain.get("close_to_offer_ms"):
        c, e = drain["close_to_offer_ms"], drain.get("event_log_end_to_assign_ms", {})
        lines += ["", "### Queue drain (scenario 4)", ""]
        lines.append(f"{drain['agents']} agents of capacity 1, a deep queue; each phase "
                     "times close -> next offer cycles (the target is judged on `paced`).")
        lines.append("")
        for phase in ("saturated", "paced"):
            ph = drain.get(phase)
            if not ph:
                continue
            c, e = ph["close_to_offer_ms"], ph.get("event_log_end_to_assign_ms", {})
            lines.append(f"- {phase}, agents hold each chat {ph['hold_s'][0]}-{ph['hold_s'][1]}"
                         f" s: {ph['samples']} cycles ({ph['cycles_per_s']}/s): p50 "
                         f"{c.get('p50')} ms, p95 {c.get('p95')} ms, p99 **{c.get('p99')} ms**,"
                         f" max {c.get('max')} ms (event log end -> assign: p50 "
                         f"{e.get('p50')} ms, p99 {e.get('p99')} ms); {_cpu(ph.get('cpu'))}.")
    storm = sc.get("storm")
    if storm and storm.get("visitors"):
        lines += ["", "### Reconnect storm (scenario 5)", ""]
        lat = storm.get("delivery_latency_ms", {})
        lines.append(f"{storm['visitors']} visitors with active chats on hub 0 (agents on "
                     f"hub 1), {storm['message_rate']} msg/s both ways; hub 0 SIGKILLed: 99 % "
                     f"resumed on hub 1 after **{storm.get('kill_to_99pct_resumed_s')} s**, "
                     f"all after {storm.get('kill_to_all_resumed_s')} s (median "
                     f"{storm.get('resume_p50_s')} s); messages lost: "
                     f"**{storm.get('messages_lost')}** of {storm.get('messages_sent')} "
                     f"({storm.get('duplicates_dropped_by_clients')} duplicates dropped by the"
                     f" clients' sequence check, {storm.get('still_unacked')} never "
                     f"acknowledged); delivery latency over the whole run p50 {lat.get('p50')}"
                     f" ms, p99 {lat.get('p99')} ms, max {lat.get('max')} ms; hub 1 during "
                     f"the storm: {_cpu(storm.get('cpu_during_storm'))}.")
    lines += report_pairs.markdown(data)
    retries = {k: v.get("client_retries") for k, v in sc.items() if v.get("client_retries")}
    if retries:
        lines += ["", "### Requests the hubs refused (clients retried)", ""]
        for k, v in retries.items():
            lines.append(f"- {k}: " + ", ".join(f"{n} {c}" for n, c in v.items()))
    probs = {k: v.get("hub_log_problems") for k, v in sc.items() if v.get("hub_log_problems")}
    if probs:
        lines += ["", "### Warnings and errors in the hub logs", ""]
        for k, v in probs.items():
            top = list(v.items())[:6]
            lines.append(f"- {k}: " + "; ".join(f"{c}x `{n}`" for n, c in top))
    errors = [f"{k}: {v['error']}" for k, v in sc.items() if v.get("error")]
    if errors:
        lines += ["", "Errors: " + "; ".join(errors)]
    return "\n".join(lines)


def plot(data: dict[str, Any], path: Path) -> bool:
    relay = _g(data, "scenarios", "relay", "systems")
    if not relay:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    colors = {"ours": "tab:blue", "raw_ws": "tab:green", "socketio": "tab:red"}
    styles = {"p50": ":", "p95": "--", "p99": "-"}
    for name, e in relay.items():
        steps = sorted(e.get("steps", []), key=lambda s: s["rate"])
        if not steps:
            continue
        rates = [s["rate"] for s in steps]
        for pct, style in styles.items():
            ax.plot(rates, [max(0.01, s["latency_ms"].get(pct, 0)) for s in steps],
                    linestyle=style, marker="o", markersize=3, color=colors.get(name),
                    label=f"{e.get('label', name)} {pct}")
    ax.axhline(10, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.text(0.99, 10.5, "p99 limit 10 ms", color="grey", fontsize=8, ha="right",
            transform=ax.get_yaxis_transform())
    ax.set_xlabel("offered load (messages / s, open loop)")
    ax.set_ylabel("latency from intended send time (ms)")
    m = data.get("machine", {})
    ax.set_title(f"Relay latency against offered load ({m.get('cores')} cores, "
                 f"{m.get('date_utc', '')[:10]})")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def write_all(data: dict[str, Any], out: Path, suffix: str, update_doc: bool = True) -> Path:
    plot_path = out / f"relay_latency{suffix}.png"
    has_plot = plot(data, plot_path)
    summary = out / f"summary{suffix}.md"
    body = figures_markdown(data, plot_path.name if has_plot else None)
    summary.write_text("# Benchmark results\n\nWritten by `python -m bench`; the analysis "
                       "is in [docs/performance.md](../../docs/performance.md).\n\n"
                       + body + "\n")
    if update_doc and DOC.exists():
        text = DOC.read_text()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            doc_body = figures_markdown(
                data, f"../bench/results/{plot_path.name}" if has_plot else None)
            note = (f"_Figures of the last {'quick' if data.get('quick') else 'full'} run, "
                    f"rewritten by `python -m bench`; every file in "
                    f"[bench/results/](../bench/results/)._\n\n")
            DOC.write_text(head + BEGIN + "\n" + note + doc_body + "\n" + END + tail)
    return summary
