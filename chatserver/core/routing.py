"""The routing choice: which agent gets which chat.

Policy (documented in ``docs/routing.md``):

1. **Eligible** agents are available (online, connected, not away, not disabled), have free
   capacity, have not declined or let lapse an offer of this chat, and hold every skill the
   chat needs at or above its minimum proficiency.  A chat needs its topic's required skills
   and, until it has waited ``relax_after_s``, its optional skills too.  A skill held
   without a stated proficiency counts as :data:`DEFAULT_PROFICIENCY`.
2. Among eligible agents the one with the **most free capacity** wins; ties go to the one
   **idle longest** since their last assignment; remaining ties to the higher **proficiency**
   summed over the needed skills, then to the smaller agent id (deterministic).
3. Chats are served in queue order (priority, then oldest).  A chat nobody can take is
   skipped, not blocking the chats behind it that need other skills.

The functions here decide; ``store/routing.py`` commits the plan in one Lua script that
re-checks every condition, so a stale plan can lose a race but never break an invariant.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

DEFAULT_PROFICIENCY = 5
MIN_PROFICIENCY = 1
MAX_PROFICIENCY = 10


@dataclass(frozen=True)
class AgentView:
    id: str
    skills: Mapping[str, int]
    """skill -> proficiency (0 = not stated, counts as DEFAULT_PROFICIENCY)."""
    capacity: int
    load: int
    idle_since_ms: int
    available: bool = True

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.load)


@dataclass(frozen=True)
class ChatView:
    id: str
    required: Mapping[str, int] = field(default_factory=dict)
    """skill -> minimum proficiency (0 = any)."""
    optional: Mapping[str, int] = field(default_factory=dict)
    relaxed: bool = False
    declined: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Assignment:
    chat_id: str
    agent_id: str


def proficiency(agent: AgentView, skill: str) -> int:
    level = agent.skills.get(skill)
    if level is None:
        return -1
    return level or DEFAULT_PROFICIENCY


def needs(chat: ChatView) -> dict[str, int]:
    """The skills (with minimum levels) the chat needs now."""
    wanted = dict(chat.required)
    if not chat.relaxed:
        for skill, level in chat.optional.items():
            wanted[skill] = max(level, wanted.get(skill, 0))
    return wanted


def has_skills(agent: AgentView, wanted: Mapping[str, int]) -> bool:
    for skill, minimum in wanted.items():
        level = proficiency(agent, skill)
        if level < 0 or level < minimum:
            return False
    return True


def is_eligible(agent: AgentView, chat: ChatView) -> bool:
    return (
        agent.available
        and agent.free > 0
        and agent.id not in chat.declined
        and has_skills(agent, needs(chat))
    )


def rank(agent: AgentView, wanted: Mapping[str, int]) -> tuple[int, int, int, str]:
    """Sort key: smaller is better."""
    score = sum(max(proficiency(agent, s), 0) for s in wanted)
    return (-agent.free, agent.idle_since_ms, -score, agent.id)


def choose_agent(agents: Iterable[AgentView], chat: ChatView) -> AgentView | None:
    """The best eligible agent for ``chat``, or None."""
    wanted = needs(chat)
    declined = chat.declined
    best: AgentView | None = None
    best_key: tuple[int, int, int, str] | None = None
    for agent in agents:
        # is_eligible, with the chat's needs worked out once (a pass may weigh every
        # agent online for each chat)
        if (
            not agent.available
            or agent.load >= agent.capacity
            or agent.id in declined
            or (wanted and not has_skills(agent, wanted))
        ):
            continue
        key = rank(agent, wanted)
        if best_key is None or key < best_key:
            best, best_key = agent, key
    return best


_Key = tuple[int, int, int, str]
_Entry = tuple[_Key, int]
"""A heap entry: the agent's rank key (its id last) and the agent's version when pushed."""


def plan(queue: Sequence[ChatView], agents: Iterable[AgentView], now_ms: int) -> list[Assignment]:
    """Assign as many queued chats as possible, in queue order.

    ``queue`` must already be in service order.  Each assignment uses one unit of the
    agent's capacity and makes them the most recently assigned, exactly as the commit will.

    The choice is ``choose_agent``'s for every chat, made without weighing every agent for
    every chat (a backlog pass is thousands of chats over a thousand agents): the chats
    that need the same skills share one heap of their eligible agents by rank; an agent
    whose rank changes (an assignment) is pushed again into each heap holding it, and its
    older entries are dropped when they surface.
    """
    pool: dict[str, AgentView] = {a.id: a for a in agents if a.available and a.free > 0}
    by_skill: dict[str, set[str]] = {}
    for agent in pool.values():
        for skill in agent.skills:
            by_skill.setdefault(skill, set()).add(agent.id)
    version: dict[str, int] = dict.fromkeys(pool, 0)
    heaps: dict[tuple[tuple[str, int], ...], list[_Entry]] = {}
    member_of: dict[str, list[tuple[list[_Entry], Mapping[str, int]]]] = {}
    result: list[Assignment] = []
    for chat in queue:
        if not pool:
            break
        wanted = needs(chat)
        signature = tuple(sorted(wanted.items()))
        heap = heaps.get(signature)
        if heap is None:
            heap = heaps[signature] = _heap(wanted, pool, by_skill, version, member_of)
        chosen_id = _best(heap, pool, version, chat.declined)
        if chosen_id is None:
            continue
        chosen = pool[chosen_id]
        result.append(Assignment(chat.id, chosen_id))
        updated = AgentView(
            id=chosen.id,
            skills=chosen.skills,
            capacity=chosen.capacity,
            load=chosen.load + 1,
            idle_since_ms=now_ms,
            available=chosen.available,
        )
        version[chosen_id] += 1
        if updated.free > 0:
            pool[chosen_id] = updated
            for other, other_wanted in member_of.get(chosen_id, ()):
                heapq.heappush(other, (rank(updated, other_wanted), version[chosen_id]))
        else:
            del pool[chosen_id]
    return result


def _heap(
    wanted: Mapping[str, int],
    pool: Mapping[str, AgentView],
    by_skill: Mapping[str, set[str]],
    version: Mapping[str, int],
    member_of: dict[str, list[tuple[list[_Entry], Mapping[str, int]]]],
) -> list[_Entry]:
    """The agents of ``pool`` holding the ``wanted`` skills, as a heap by rank."""
    if wanted:
        sets = sorted((by_skill.get(s, set()) for s in wanted), key=len)
        candidate_ids: Iterable[str] = set.intersection(*sets) if sets[0] else ()
        candidates = [pool[i] for i in candidate_ids if i in pool]
    else:
        candidates = list(pool.values())
    heap: list[_Entry] = []
    for agent in candidates:
        if wanted and not has_skills(agent, wanted):
            continue
        heap.append((rank(agent, wanted), version[agent.id]))
        member_of.setdefault(agent.id, []).append((heap, wanted))
    heapq.heapify(heap)
    return heap


def _best(
    heap: list[_Entry],
    pool: Mapping[str, AgentView],
    version: Mapping[str, int],
    declined: frozenset[str],
) -> str | None:
    """The best-ranked current agent of ``heap`` that has not declined the chat (left in
    the heap: its rank changes with the assignment); stale entries are dropped."""
    passed: list[_Entry] = []
    chosen: str | None = None
    while heap:
        entry = heap[0]
        agent_id = entry[0][3]
        if agent_id not in pool or version[agent_id] != entry[1]:
            heapq.heappop(heap)  # full now, or ranked anew by a later entry
        elif agent_id in declined:
            passed.append(heapq.heappop(heap))
        else:
            chosen = agent_id
            break
    for entry in passed:
        heapq.heappush(heap, entry)
    return chosen


def parse_skill_spec(spec: str) -> tuple[str, int]:
    """``"billing"`` -> ("billing", 0); ``"billing:7"`` -> ("billing", 7).  Raises ValueError."""
    name, _, level_text = spec.strip().partition(":")
    name = name.strip().lower()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
        raise ValueError(f"bad skill name {spec!r}: use letters, digits, '-', '_' or '.'")
    if not level_text:
        return name, 0
    level = int(level_text)
    if not MIN_PROFICIENCY <= level <= MAX_PROFICIENCY:
        raise ValueError(f"proficiency of {name!r} must be 1-10, not {level}")
    return name, level


def encode_skills(skills: Mapping[str, int]) -> str:
    """Compact form stored in Redis and read by Lua: ``"billing:7,sales:0"``."""
    return ",".join(f"{k}:{v}" for k, v in sorted(skills.items()))


def decode_skills(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in text.split(","):
        if part:
            name, _, level = part.partition(":")
            out[name] = int(level or 0)
    return out
