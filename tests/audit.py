"""Invariant audits over the routing event log and the final Redis state.

The event log (``{rt}:events``) is written inside the same Lua scripts that change routing
state, so replaying it shows every intermediate state, not only the final one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Audit:
    violations: list[str] = field(default_factory=list)
    assignments: int = 0
    max_load: dict[str, int] = field(default_factory=dict)


def replay(events: list[dict[str, str]], capacities: dict[str, int]) -> Audit:
    """No chat ever with two agents; no agent ever above capacity."""
    audit = Audit()
    holder: dict[str, str] = {}
    held: dict[str, set[str]] = defaultdict(set)
    for e in events:
        kind, chat, agent = e.get("t"), e.get("chat", ""), e.get("agent", "")
        if kind == "assign":
            audit.assignments += 1
            if chat in holder:
                audit.violations.append(f"{chat} assigned to {agent} while held by {holder[chat]}")
            holder[chat] = agent
            held[agent].add(chat)
            cap = capacities.get(agent, int(e.get("cap", 0)))
            if len(held[agent]) > cap:
                audit.violations.append(f"{agent} holds {len(held[agent])} > capacity {cap}")
            if int(e.get("load", 0)) != len(held[agent]):
                audit.violations.append(
                    f"{agent} load {e.get('load')} in the log, {len(held[agent])} replayed"
                )
            audit.max_load[agent] = max(audit.max_load.get(agent, 0), len(held[agent]))
        elif kind in ("release", "end") and agent:
            if holder.get(chat) != agent:
                audit.violations.append(
                    f"{chat} released by {agent}, held by {holder.get(chat)}"
                )
            holder.pop(chat, None)
            held[agent].discard(chat)
    return audit


async def final_state(redis: Any, prefix: str, chat_ids: list[str]) -> list[str]:
    """Every chat's state agrees with the queues and agents' sets, read as one atomic
    snapshot (MULTI/EXEC): offers may still be lapsing while the audit runs."""
    problems: list[str] = []
    rt = f"{prefix}:{{rt}}"
    agents = sorted(a.decode() for a in await redis.smembers(f"{rt}:agents"))
    topics = {c: (await redis.hget(f"{rt}:chat:{c}", "topic") or b"").decode() for c in chat_ids}
    async with redis.pipeline(transaction=True) as pipe:
        for agent in agents:
            pipe.smembers(f"{rt}:agent:{agent}:chats")
            pipe.hget(f"{rt}:agent:{agent}", "capacity")
        for chat in chat_ids:
            pipe.hgetall(f"{rt}:chat:{chat}")
            pipe.zscore(f"{rt}:queue:{topics[chat]}", chat)
        replies = await pipe.execute()
    holding: dict[str, str] = {}
    for i, agent in enumerate(agents):
        chats = {c.decode() for c in replies[2 * i]}
        cap = int(replies[2 * i + 1] or 0)
        if len(chats) > cap:
            problems.append(f"{agent} holds {len(chats)} > {cap}")
        for c in chats:
            if c in holding:
                problems.append(f"{c} in the sets of {holding[c]} and {agent}")
            holding[c] = agent
    base = 2 * len(agents)
    for j, chat in enumerate(chat_ids):
        data = {k.decode(): v.decode() for k, v in replies[base + 2 * j].items()}
        queued = replies[base + 2 * j + 1] is not None
        state = data.get("state")
        if state == "queued":
            if not queued or chat in holding or data.get("agent"):
                problems.append(f"{chat} queued but queued={queued} holder={holding.get(chat)}")
        elif state in ("offered", "active"):
            if queued or holding.get(chat) != data.get("agent"):
                problems.append(
                    f"{chat} {state} with agent {data.get('agent')} but held by "
                    f"{holding.get(chat)}, queued={queued}"
                )
        elif state in ("closed", "abandoned", "missed"):
            if queued or chat in holding:
                problems.append(f"{chat} {state} but queued={queued} holder={holding.get(chat)}")
        else:
            problems.append(f"{chat} has no valid state: {state}")
    return problems
