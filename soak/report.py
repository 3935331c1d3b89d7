"""The soak's report as text (the JSON file holds everything, this the summary)."""

from __future__ import annotations

from typing import Any


def render(r: dict[str, Any]) -> str:
    s = r["settings"]
    lines = [
        "",
        f"== fault soak: {s['seconds']:.0f}s of faults, seed {s['seed']}, {s['hubs']} hubs, "
        f"{s['visitors']} visitors, {s['agents']} agents, database {r.get('database')}; "
        f"{r.get('elapsed_s')}s in all",
    ]
    faults = r.get("faults") or {}
    by_kind = faults.get("by_kind", {})
    lines.append("faults: " + ", ".join(f"{k} {v}" for k, v in by_kind.items())
                 + f" (total {faults.get('total', 0)}, failed {len(faults.get('failed', []))})")
    chats = r.get("chats") or {}
    lines.append(f"chats: {chats.get('started', 0)} started, by state {chats.get('by_state')}, "
                 f"{chats.get('records', 0)} records for {chats.get('finished_chats', 0)} "
                 "finished")
    m = r.get("messages") or {}
    lines.append(f"messages: {m.get('messages_logged', 0)} logged, "
                 f"{m.get('acknowledged', 0)} acknowledged, "
                 f"{m.get('wire_duplicates', 0)} repeats dropped by clients, "
                 f"{m.get('agent_checks', 0)} agent transcripts checked")
    rt = r.get("routing") or {}
    lines.append(f"routing: {rt.get('assignments', 0)} assignments, {rt.get('events', 0)} "
                 f"events replayed, highest load {rt.get('max_load', 0)}")
    mem = r.get("memory") or {}
    lines.append("memory (MiB, after warm-up -> end, bound): " + "; ".join(
        f"{k} {v['after_warmup_mib']} -> {v['end_mib']} ({v['bound_mib']})"
        for k, v in mem.items()))
    if r.get("load"):
        lines.append(f"load: {r['load']}")
    if r.get("log_problems"):
        lines.append("logged errors (not violations by themselves):")
        lines += [f"  {n:5d}  {k}" for k, n in r["log_problems"].items()]
    lines.append(f"violations: {r.get('violation_count', 0)}")
    for kind, found in (r.get("violations") or {}).items():
        lines.append(f"  {kind}: {len(found)}")
        lines += [f"    - {v}" for v in found[:15]]
        if len(found) > 15:
            lines.append(f"    ... {len(found) - 15} more in the JSON report")
    return "\n".join(lines)
