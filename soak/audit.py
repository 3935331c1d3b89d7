"""The end-of-soak audits.  Each returns violations as short sentences naming the chat,
agent or process; the report counts them by kind.

- routing: the whole routing event log replayed (``tests/audit.py``): no chat ever had
  two agents, no agent ever held more than its capacity; then the final Redis state is
  checked for agreement (queues, agents' sets, chat states).
- delivery: every acknowledged message is in its chat's log exactly once, at the
  acknowledged sequence number; the visitor saw every public message of the log, each
  once, in order; the agent holding the chat saw every message; an agent who held it
  earlier saw an unbroken prefix.
- stuck: no chat is in a live state (queued, offered, active) without a live participant.
- records: every finished chat has exactly one interaction record, with its end state
  and the log's messages; no live chat has one.
- memory: every process's resident memory at the end is within
  ``factor * (after warm-up) + slack``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import msgspec

from bench.ours import stream_entries
from soak.load import END_STATES, Load
from tests.audit import final_state, replay

_frame = msgspec.msgpack.Decoder(dict[str, Any])
LIVE = ("queued", "offered", "active")


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


async def read_events(redis: Any, prefix: str) -> tuple[list[dict[str, str]], bool]:
    """The whole routing event log, and whether it is whole (never trimmed)."""
    key = f"{prefix}:{{rt}}:events"
    out = [{_s(k): _s(v) for k, v in f.items()} for _, f in await stream_entries(redis, key)]
    info = await redis.xinfo_stream(key)
    whole = int(info.get("entries-added", len(out))) == len(out)
    return out, whole


async def routing(redis: Any, prefix: str, capacities: dict[str, int],
                  chat_ids: list[str]) -> tuple[dict[str, Any], list[str]]:
    events, whole = await read_events(redis, prefix)
    audit = replay(events, capacities)
    problems = list(audit.violations)
    if not whole:
        problems.append("the routing event log was trimmed: the replay is not complete")
    problems += await final_state(redis, prefix, chat_ids)
    holders: dict[str, list[str]] = defaultdict(list)
    for e in events:
        if e.get("t") == "assign":
            holders[e.get("chat", "")].append(e.get("agent", ""))
    figures = {"events": len(events), "assignments": audit.assignments,
               "max_load": max(audit.max_load.values(), default=0)}
    return {"figures": figures, "holders": holders}, problems


async def chat_log(redis: Any, prefix: str, chat_id: str) -> list[tuple[int, str, str]]:
    """(seq, audience, cid) of every entry of a chat's log."""
    return [(seq, aud, cid) for seq, aud, cid, _ in await _log_frames(redis, prefix, chat_id)]


async def _log_frames(redis: Any, prefix: str,
                      chat_id: str) -> list[tuple[int, str, str, dict[str, Any]]]:
    entries = await redis.xrange(f"{prefix}:{{c:{chat_id}}}:log")
    out = []
    for ident, fields in entries:
        frame = _frame.decode(fields[b"f"])
        out.append((int(_s(ident).split("-")[0]), _s(fields[b"a"]), str(frame.get("cid", "")),
                    frame))
    return out


def _missing(seen: list[int], log: list[tuple[int, str, str, dict[str, Any]]],
             public_only: bool, t0_ms: int) -> str:
    """Which log entries a client lacks: seq, sender and when (s into the run)."""
    have = set(seen)
    out = []
    for seq, aud, _, frame in log:
        if seq in have or (public_only and aud != "a"):
            continue
        sender = frame.get("from", {})
        at = (int(frame.get("ts", 0)) - t0_ms) / 1000
        out.append(f"{seq} from {sender.get('role')} {sender.get('id')} at {at:.1f}s")
    return "; missing " + ", ".join(out[:5]) if out else ""


async def delivery(redis: Any, prefix: str, load: Load, holders: dict[str, list[str]],
                   t0_ms: int = 0) -> tuple[dict[str, int], list[str]]:
    problems: list[str] = []
    figures = {"messages_logged": 0, "acknowledged": 0, "wire_duplicates": 0,
               "agent_checks": 0}
    acked: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
    for who, client in [*((f"visitor {v.welcome.get('visitor')}", v) for v in load.visitors),
                        *((f"agent {a}", c) for a, c in load.agents.items())]:
        figures["wire_duplicates"] += client.duplicates
        for cid, ack in client.acks.items():
            acked[str(ack.get("chat"))].append((cid, int(ack["seq"]), who))
    for chat_id, chat in load.chats.items():
        frames = await _log_frames(redis, prefix, chat_id)
        log = [(seq, aud, cid) for seq, aud, cid, _ in frames]
        figures["messages_logged"] += len(log)
        seqs = [seq for seq, _, _ in log]
        public = [seq for seq, aud, _ in log if aud == "a"]
        by_cid: dict[str, list[int]] = defaultdict(list)
        for seq, _, cid in log:
            by_cid[cid].append(seq)
        for cid, seq, who in acked.get(chat_id, []):
            figures["acknowledged"] += 1
            if by_cid.get(cid) != [seq]:
                problems.append(f"{chat_id}: {who}'s message {cid} acknowledged as seq {seq}, "
                                f"in the log at {by_cid.get(cid, [])}")
        seen = [m["seq"] for m in chat.visitor.messages.get(chat_id, [])]
        if seen != public:
            v = chat.visitor
            problems.append(f"{chat_id}: visitor {v.welcome.get('visitor')} saw {_short(seen)}, "
                            f"log has {_short(public)}{_missing(seen, frames, True, t0_ms)} "
                            f"(its connections: {v.connects})")
        raw = await redis.hgetall(f"{prefix}:{{rt}}:chat:{chat_id}")
        state = _s(raw.get(b"state"))
        holder = _s(raw.get(b"agent"))
        earlier = set(holders.get(chat_id, []))
        if holder and state in ("active", "closed") and holder in load.agents:
            client = load.agents[holder]
            if state == "active" or chat_id in client.last_seq:
                figures["agent_checks"] += 1
                got = [m["seq"] for m in client.messages.get(chat_id, [])]
                if got != seqs:
                    problems.append(f"{chat_id}: holder {holder} ({state}) saw {_short(got)}, "
                                    f"log has {_short(seqs)}"
                                    f"{_missing(got, frames, False, t0_ms)}")
            earlier.discard(holder)
        for agent_id in sorted(earlier):
            earlier_client = load.agents.get(agent_id)
            if earlier_client is None:
                continue
            figures["agent_checks"] += 1
            got = [m["seq"] for m in earlier_client.messages.get(chat_id, [])]
            if got != seqs[: len(got)]:
                problems.append(f"{chat_id}: earlier holder {agent_id} saw {_short(got)}, "
                                f"not a prefix of the log {_short(seqs)}")
    return figures, problems


def _short(seqs: list[int]) -> str:
    return str(seqs) if len(seqs) <= 12 else f"{seqs[:5]}...{seqs[-5:]} ({len(seqs)})"


async def all_chat_ids(redis: Any, prefix: str) -> list[str]:
    """Every chat in Redis under the soak's prefix (started by the soak's visitors, also
    those whose ``start`` reply a fault swallowed)."""
    head = f"{prefix}:{{rt}}:chat:"
    out = set()
    async for key in redis.scan_iter(match=head + "*", count=1000):
        rest = _s(key)[len(head):]
        if ":" not in rest:
            out.add(rest)
    return sorted(out)


async def states(redis: Any, prefix: str, chat_ids: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    async with redis.pipeline(transaction=False) as pipe:
        for chat_id in chat_ids:
            pipe.hgetall(f"{prefix}:{{rt}}:chat:{chat_id}")
        for chat_id, raw in zip(chat_ids, await pipe.execute(), strict=True):
            out[chat_id] = {_s(k): _s(v) for k, v in raw.items()}
    return out


async def stuck(redis: Any, prefix: str, chat_ids: list[str], *, visitors_live: bool,
                agents_live: bool) -> list[str]:
    """Chats in a live state without a live participant.  The soak knows who is live:
    after the visitors left, a live chat needs its agent (online); after the agents left
    too, no chat may be live."""
    live = {_s(c) for c in await redis.smembers(f"{prefix}:{{rt}}:live")}
    ids = sorted(set(chat_ids) | live)
    problems = []
    for chat_id, data in (await states(redis, prefix, ids)).items():
        state = data.get("state", "")
        if state not in LIVE and chat_id not in live:
            continue
        if visitors_live:
            continue
        agent = data.get("agent", "")
        if agents_live and state in ("offered", "active") and agent:
            status = _s(await redis.hget(f"{prefix}:{{rt}}:agent:{agent}", "status"))
            conns = await redis.zcard(f"{prefix}:{{rt}}:agent:{agent}:conns")
            if status != "offline" and conns:
                continue
        problems.append(f"{chat_id} is {state or 'in the live set'} (agent {agent or '-'}, "
                        f"outcome so far {data.get('outcome', '-')}) with no live participant")
    return problems


async def records(redis: Any, prefix: str, db_url: str,
                  chat_ids: list[str]) -> tuple[dict[str, int], list[str]]:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT chat_id, count(*) AS n, min(end_state) AS end_state "
            "FROM interactions GROUP BY chat_id")
        msgs = await conn.fetch("SELECT chat_id, seq FROM interaction_messages "
                                "ORDER BY chat_id, seq")
    finally:
        await conn.close()
    found = {r["chat_id"]: (int(r["n"]), r["end_state"]) for r in rows}
    transcript: dict[str, list[int]] = defaultdict(list)
    for r in msgs:
        transcript[r["chat_id"]].append(int(r["seq"]))
    problems = []
    finished = 0
    for chat_id, data in (await states(redis, prefix, chat_ids)).items():
        state = data.get("state", "")
        row = found.get(chat_id)
        if state in END_STATES:
            finished += 1
            if row is None:
                problems.append(f"{chat_id} ended ({state}) but has no record")
                continue
            if row[0] != 1:
                problems.append(f"{chat_id} has {row[0]} records")
            if row[1] != state:
                problems.append(f"{chat_id} ended {state}, its record says {row[1]}")
            log = [seq for seq, _, _ in await chat_log(redis, prefix, chat_id)]
            if transcript.get(chat_id, []) != log:
                problems.append(f"{chat_id}: record has messages {_short(transcript[chat_id])}"
                                f", log has {_short(log)}")
        elif row is not None:
            problems.append(f"{chat_id} is {state or 'gone'} but has a record ({row[1]})")
    unknown = set(found) - set(chat_ids)
    if unknown:
        problems.append(f"{len(unknown)} records of chats the soak never started")
    return {"finished_chats": finished, "records": len(found)}, problems


def memory(warm: dict[str, float], end: dict[str, float], factor: float,
           slack: float) -> tuple[dict[str, Any], list[str]]:
    hubs_ref = max((v for k, v in warm.items() if k.startswith("hub")), default=0.0)
    problems = []
    table = {}
    for name, mib in sorted(end.items()):
        ref = hubs_ref if name.startswith("hub") else warm.get(name, 0.0)
        bound = round(factor * ref + slack, 1)
        table[name] = {"after_warmup_mib": warm.get(name), "end_mib": mib, "bound_mib": bound}
        if ref and mib > bound:
            problems.append(f"{name} uses {mib} MiB at the end, bound {bound} MiB "
                            f"({factor} x {ref} + {slack})")
    return table, problems
