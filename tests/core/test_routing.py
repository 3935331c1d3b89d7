"""Routing decisions in chatserver.core.routing, checked against a brute-force reference."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.core.routing import (
    DEFAULT_PROFICIENCY,
    MAX_PROFICIENCY,
    MIN_PROFICIENCY,
    AgentView,
    Assignment,
    ChatView,
    choose_agent,
    decode_skills,
    encode_skills,
    has_skills,
    is_eligible,
    needs,
    parse_skill_spec,
    plan,
    proficiency,
    rank,
)


def agent(
    id: str,
    skills: Mapping[str, int] | None = None,
    capacity: int = 3,
    load: int = 0,
    idle: int = 0,
    available: bool = True,
) -> AgentView:
    return AgentView(
        id=id,
        skills=dict(skills or {}),
        capacity=capacity,
        load=load,
        idle_since_ms=idle,
        available=available,
    )


def chat(
    id: str = "c",
    required: Mapping[str, int] | None = None,
    optional: Mapping[str, int] | None = None,
    relaxed: bool = False,
    declined: Sequence[str] = (),
) -> ChatView:
    return ChatView(
        id=id,
        required=dict(required or {}),
        optional=dict(optional or {}),
        relaxed=relaxed,
        declined=frozenset(declined),
    )


# ---- reference implementation (straight from the policy text) -------------------------------


def ref_level(a: AgentView, skill: str) -> int | None:
    if skill not in a.skills:
        return None
    return a.skills[skill] if a.skills[skill] != 0 else DEFAULT_PROFICIENCY


def ref_needs(c: ChatView) -> dict[str, int]:
    out = dict(c.required)
    if not c.relaxed:
        for skill, level in c.optional.items():
            out[skill] = max(out.get(skill, 0), level)
    return out


def ref_eligible(a: AgentView, c: ChatView) -> bool:
    if not a.available or a.capacity - a.load <= 0 or a.id in c.declined:
        return False
    for skill, minimum in ref_needs(c).items():
        level = ref_level(a, skill)
        if level is None or level < minimum:
            return False
    return True


def ref_key(a: AgentView, c: ChatView) -> tuple[int, int, int, str]:
    score = sum(ref_level(a, s) or 0 for s in ref_needs(c))
    return (-(a.capacity - a.load), a.idle_since_ms, -score, a.id)


def ref_plan(
    queue: Sequence[ChatView], agents: Sequence[AgentView], now: int
) -> list[tuple[str, str]]:
    state = {a.id: a for a in agents}
    out: list[tuple[str, str]] = []
    for c in queue:
        eligible = [a for a in state.values() if ref_eligible(a, c)]
        if not eligible:
            continue
        best = min(eligible, key=lambda a: ref_key(a, c))
        out.append((c.id, best.id))
        state[best.id] = replace(best, load=best.load + 1, idle_since_ms=now)
    return out


# ---- strategies -----------------------------------------------------------------------------

SKILLS = ["a", "b", "c", "d"]
AGENT_IDS = [f"ag{i}" for i in range(8)]

# Generation is kept to a few integer draws per agent or chat (this code is cheap to test,
# drawing is not): a skill map is a bit mask of the SKILLS held plus one integer read as
# base-11 digits, the proficiency (0..10) of each skill.
LEVELS = MAX_PROFICIENCY + 1
ALL_MASKS = st.integers(0, 2 ** len(SKILLS) - 1)
LEVEL_CODES = st.integers(0, LEVELS ** len(SKILLS) - 1)
# Agents often hold everything; chats often need one skill or none (so that plans are busy).
agent_skill_codes = st.tuples(ALL_MASKS | st.just(2 ** len(SKILLS) - 1), LEVEL_CODES)
chat_skill_codes = st.tuples(st.sampled_from([0, 1, 2, 4, 8]) | ALL_MASKS, LEVEL_CODES)


def skill_map(code: tuple[int, int], keep: int = len(SKILLS), scale: int = 1) -> dict[str, int]:
    """``keep`` caps how many skills; minimums are divided by ``scale`` so more agents fit."""
    mask, levels = code
    out: dict[str, int] = {}
    for i, skill in enumerate(SKILLS):
        levels, level = divmod(levels, LEVELS)
        if mask >> i & 1 and len(out) < keep:
            out[skill] = level // scale
    return out


def id_set(mask: int) -> frozenset[str]:
    return frozenset(agent_id for i, agent_id in enumerate(AGENT_IDS) if mask >> i & 1)


agent_lists = st.lists(
    st.tuples(
        agent_skill_codes,  # skills
        st.integers(0, 5),  # 5 - capacity (simplest: capacity 5)
        st.integers(0, 6) | st.integers(0, 2),  # load (may exceed capacity)
        st.integers(0, 50),  # idle since
        st.integers(0, 3),  # 3 = unavailable
    ),
    min_size=1,
    max_size=len(AGENT_IDS),
).map(
    lambda rows: [
        AgentView(
            id=AGENT_IDS[i],
            skills=skill_map(skills),
            capacity=5 - spare,
            load=load,
            idle_since_ms=idle,
            available=away != 3,
        )
        for i, (skills, spare, load, idle, away) in enumerate(rows)
    ]
)

chat_lists = st.lists(
    st.tuples(
        chat_skill_codes,  # required
        chat_skill_codes,  # optional
        st.booleans(),  # relaxed
        st.just(0) | st.integers(0, 2 ** len(AGENT_IDS) - 1),  # declined
    ),
    min_size=1,
    max_size=12,
).map(
    lambda rows: [
        ChatView(
            id=f"ch{i}",
            required=skill_map(required, keep=2, scale=2),
            optional=skill_map(optional, keep=1, scale=2),
            relaxed=relaxed,
            declined=id_set(declined),
        )
        for i, (required, optional, relaxed, declined) in enumerate(rows)
    ]
)

now_ms = st.integers(0, 100)


# ---- proficiency, needs, eligibility --------------------------------------------------------


def test_proficiency_default_and_missing() -> None:
    a = agent("x", {"billing": 0, "sales": 7, "tech": 10, "low": 1})
    assert proficiency(a, "billing") == DEFAULT_PROFICIENCY == 5
    assert proficiency(a, "sales") == 7
    assert proficiency(a, "tech") == 10
    assert proficiency(a, "low") == 1
    assert proficiency(a, "missing") == -1


def test_needs_optional_until_relaxed() -> None:
    c = chat(required={"billing": 3}, optional={"french": 2, "billing": 6})
    assert needs(c) == {"billing": 6, "french": 2}
    assert needs(replace(c, relaxed=True)) == {"billing": 3}
    # Optional never lowers a required minimum.
    assert needs(chat(required={"x": 8}, optional={"x": 2})) == {"x": 8}
    assert needs(chat()) == {}
    # needs() returns a fresh dict: mutating it does not touch the chat.
    c2 = chat(required={"a": 1})
    needs(c2)["b"] = 1
    assert dict(c2.required) == {"a": 1}


def test_has_skills() -> None:
    a = agent("x", {"billing": 0, "sales": 7})
    assert has_skills(a, {})
    assert has_skills(a, {"billing": 0})
    assert has_skills(a, {"billing": 5})  # unstated proficiency counts as 5
    assert not has_skills(a, {"billing": 6})
    assert has_skills(a, {"sales": 7})
    assert not has_skills(a, {"sales": 8})
    assert not has_skills(a, {"french": 0})  # "any" still needs the skill
    assert not has_skills(a, {"sales": 1, "french": 0})


def test_eligibility_availability() -> None:
    c = chat()
    assert is_eligible(agent("x"), c)
    assert not is_eligible(agent("x", available=False), c)


@pytest.mark.parametrize(
    ("capacity", "load", "ok"),
    [(1, 0, True), (3, 2, True), (3, 3, False), (3, 4, False), (0, 0, False), (0, 1, False)],
)
def test_eligibility_free_capacity(capacity: int, load: int, ok: bool) -> None:
    a = agent("x", capacity=capacity, load=load)
    assert a.free == max(0, capacity - load)
    assert is_eligible(a, chat()) is ok


def test_eligibility_declined() -> None:
    a = agent("x")
    assert not is_eligible(a, chat(declined=["x"]))
    assert is_eligible(a, chat(declined=["y"]))


def test_eligibility_required_skill_minimum() -> None:
    a = agent("x", {"billing": 4})
    assert is_eligible(a, chat(required={"billing": 0}))
    assert is_eligible(a, chat(required={"billing": 4}))
    assert not is_eligible(a, chat(required={"billing": 5}))
    assert not is_eligible(a, chat(required={"sales": 0}))


def test_eligibility_default_proficiency() -> None:
    a = agent("x", {"billing": 0})
    assert is_eligible(a, chat(required={"billing": DEFAULT_PROFICIENCY}))
    assert not is_eligible(a, chat(required={"billing": DEFAULT_PROFICIENCY + 1}))


def test_eligibility_optional_until_relaxed() -> None:
    a = agent("x", {"billing": 5})
    c = chat(required={"billing": 1}, optional={"french": 0})
    assert not is_eligible(a, c)
    assert is_eligible(a, replace(c, relaxed=True))
    c2 = chat(optional={"billing": 7})
    assert not is_eligible(a, c2)
    assert is_eligible(a, replace(c2, relaxed=True))


@settings(max_examples=100, deadline=None)
@given(agent_lists, chat_lists)
def test_is_eligible_matches_reference(agents: list[AgentView], chats: list[ChatView]) -> None:
    for c in chats:
        assert needs(c) == ref_needs(c)
        for a in agents:
            assert is_eligible(a, c) is ref_eligible(a, c)


# ---- choose_agent ---------------------------------------------------------------------------


def test_choose_agent_none() -> None:
    assert choose_agent([], chat()) is None
    assert choose_agent([agent("x", available=False), agent("y", load=3)], chat()) is None
    assert choose_agent([agent("x", {"a": 1})], chat(required={"a": 2})) is None


def test_choose_most_free_capacity_first() -> None:
    # More free capacity wins even against idle-longer, more proficient, smaller id.
    busy = agent("a", {"s": 10}, capacity=3, load=2, idle=0)
    free = agent("z", {"s": 1}, capacity=3, load=0, idle=99)
    c = chat(required={"s": 1})
    assert choose_agent([busy, free], c) == free
    assert choose_agent([free, busy], c) == free


def test_choose_idle_longest_second() -> None:
    # Equal free capacity: smallest idle_since wins over proficiency and id.
    recent = agent("a", {"s": 10}, capacity=2, load=0, idle=50)
    idle = agent("z", {"s": 1}, capacity=4, load=2, idle=10)
    c = chat(required={"s": 1})
    assert choose_agent([recent, idle], c) == idle
    assert choose_agent([idle, recent], c) == idle


def test_choose_proficiency_third() -> None:
    weak = agent("a", {"s": 2, "t": 2}, idle=7)
    strong = agent("z", {"s": 3, "t": 2}, idle=7)
    c = chat(required={"s": 1}, optional={"t": 0})
    assert choose_agent([weak, strong], c) == strong
    assert choose_agent([strong, weak], c) == strong


def test_choose_proficiency_only_over_needed_skills() -> None:
    # Skills the chat does not need do not count; optional ones stop counting once relaxed.
    many = agent("a", {"s": 5, "x": 10, "t": 10}, idle=7)
    few = agent("b", {"s": 6}, idle=7)
    c = chat(required={"s": 1}, optional={"t": 0})
    assert choose_agent([few, many], c) == many  # 5+10 > 6
    assert choose_agent([many, few], replace(c, relaxed=True)) == few  # 6 > 5


def test_choose_unstated_proficiency_counts_as_default() -> None:
    unstated = agent("b", {"s": 0}, idle=1)
    four = agent("a", {"s": 4}, idle=1)
    six = agent("c", {"s": 6}, idle=1)
    c = chat(required={"s": 0})
    assert choose_agent([four, unstated], c) == unstated
    assert choose_agent([unstated, six], c) == six


def test_choose_smaller_id_last() -> None:
    agents = [agent(i, {"s": 3}, idle=4) for i in ("b", "c", "a", "d")]
    assert choose_agent(agents, chat(required={"s": 1})) == agents[2]
    assert choose_agent(list(reversed(agents)), chat()) == agents[2]


def test_choose_skips_ineligible_best() -> None:
    best = agent("a", capacity=9)
    ok = agent("b", capacity=2)
    assert choose_agent([best, ok], chat(declined=["a"])) == ok
    assert choose_agent([replace(best, available=False), ok], chat()) == ok


def test_rank_key() -> None:
    a = agent("x", {"s": 0, "t": 3}, capacity=5, load=2, idle=17)
    assert rank(a, {"s": 1, "t": 1}) == (-3, 17, -8, "x")
    assert rank(a, {}) == (-3, 17, 0, "x")
    assert rank(a, {"missing": 0}) == (-3, 17, 0, "x")


@settings(max_examples=100, deadline=None)
@given(agent_lists, chat_lists)
def test_choose_agent_matches_reference(agents: list[AgentView], chats: list[ChatView]) -> None:
    for c in chats:
        eligible = [a for a in agents if ref_eligible(a, c)]
        got = choose_agent(agents, c)
        if not eligible:
            assert got is None
        else:
            assert got == min(eligible, key=lambda a: ref_key(a, c))
        # Order of the input never matters.
        assert choose_agent(list(reversed(agents)), c) == got


# ---- plan -----------------------------------------------------------------------------------


def pairs(result: list[Assignment]) -> list[tuple[str, str]]:
    return [(x.chat_id, x.agent_id) for x in result]


def test_plan_empty() -> None:
    assert plan([], [agent("x")], 0) == []
    assert plan([chat("c1")], [], 0) == []
    assert plan([chat("c1")], [agent("x", available=False)], 0) == []


def test_plan_serves_in_queue_order() -> None:
    # One slot: the first chat in the given order gets it, not the "smaller" id.
    queue = [chat("z"), chat("a")]
    assert pairs(plan(queue, [agent("x", capacity=1)], 10)) == [("z", "x")]


def test_plan_skips_without_blocking() -> None:
    queue = [chat("c1", required={"french": 0}), chat("c2", required={"billing": 0})]
    result = plan(queue, [agent("x", {"billing": 3})], 10)
    assert pairs(result) == [("c2", "x")]
    assert all(isinstance(r, Assignment) for r in result)


def test_plan_rotates_by_idle_time() -> None:
    # Equal capacity: each assignment makes the agent most recently assigned, so work rotates.
    agents = [agent("a", capacity=3, idle=5), agent("b", capacity=3, idle=1)]
    queue = [chat(f"c{i}") for i in range(6)]
    result = pairs(plan(queue, agents, 100))
    assert result == [
        ("c0", "b"),  # same free (3), b idle longer
        ("c1", "a"),  # a has 3 free vs b's 2
        ("c2", "a"),  # both 2 free, both idle since 100 -> smaller id
        ("c3", "b"),  # b has 2 free vs a's 1
        ("c4", "a"),  # both 1 free, both idle since 100 -> smaller id
        ("c5", "b"),
    ]


def test_plan_sets_idle_to_now() -> None:
    # a wins the first chat on free capacity; then both have one slot free and a's idle
    # time is `now`, later than b's, so b gets the next one even though a wins on id.
    agents = [agent("a", capacity=2, load=0, idle=1), agent("b", capacity=1, load=0, idle=50)]
    result = pairs(plan([chat("c1"), chat("c2")], agents, 60))
    assert result == [("c1", "a"), ("c2", "b")]
    # With `now` earlier than b's idle time, a keeps priority on idle.
    result = pairs(plan([chat("c1"), chat("c2")], agents, 20))
    assert result == [("c1", "a"), ("c2", "a")]


def test_plan_respects_capacity_and_stops() -> None:
    agents = [agent("a", capacity=2, load=1), agent("b", capacity=1)]
    result = pairs(plan([chat(f"c{i}") for i in range(5)], agents, 0))
    assert len(result) == 2
    assert Counter(a for _, a in result) == {"a": 1, "b": 1}


def test_plan_agent_over_capacity_gets_nothing() -> None:
    agents = [agent("a", capacity=2, load=5), agent("b", capacity=1, load=0)]
    assert pairs(plan([chat("c1"), chat("c2")], agents, 0)) == [("c1", "b")]


def test_plan_declined_and_relaxed() -> None:
    agents = [agent("a", {"s": 3}), agent("b", {"s": 3, "fr": 0}, capacity=1)]
    queue = [
        chat("c1", required={"s": 1}, optional={"fr": 0}),  # only b until relaxed
        chat("c2", required={"s": 1}, optional={"fr": 0}, relaxed=True, declined=["a"]),
        chat("c3", required={"s": 1}, optional={"fr": 0}, relaxed=True),
    ]
    assert pairs(plan(queue, agents, 0)) == [("c1", "b"), ("c3", "a")]


def test_plan_skill_not_held_by_anyone() -> None:
    agents = [agent("a", {"s": 3})]
    assert plan([chat("c1", required={"nobody": 0})], agents, 0) == []
    assert plan([chat("c1", required={"s": 1, "nobody": 0})], agents, 0) == []


def test_plan_does_not_mutate_inputs() -> None:
    agents = [agent("a", {"s": 0}, capacity=1, idle=3)]
    before = list(agents)
    queue = [chat("c1", required={"s": 0})]
    plan(queue, agents, 99)
    assert agents == before


def check_plan(queue: list[ChatView], agents: list[AgentView], now: int) -> list[Assignment]:
    result = plan(queue, agents, now)
    got = pairs(result)

    # 1. It equals the straightforward greedy reference.
    assert got == ref_plan(queue, agents, now)

    # 2. Each chat at most once, and in queue order.
    chat_ids = [c for c, _ in got]
    assert len(chat_ids) == len(set(chat_ids))
    order = {c.id: i for i, c in enumerate(queue)}
    assert [order[c] for c in chat_ids] == sorted(order[c] for c in chat_ids)

    # 3. No agent over capacity.
    by_id = {a.id: a for a in agents}
    per_agent = Counter(a for _, a in got)
    for agent_id, n in per_agent.items():
        a = by_id[agent_id]
        assert a.available
        assert a.load + n <= a.capacity

    # 4. Replay: every assignment eligible at its moment; every skipped chat had no one.
    state = dict(by_id)
    assigned = dict(got)
    for c in queue:
        eligible = [a for a in state.values() if ref_eligible(a, c)]
        if c.id in assigned:
            chosen = state[assigned[c.id]]
            assert ref_eligible(chosen, c)
            assert ref_key(chosen, c) == min(ref_key(a, c) for a in eligible)
            state[chosen.id] = replace(chosen, load=chosen.load + 1, idle_since_ms=now)
        else:
            assert eligible == [], f"{c.id} was skipped though {eligible} could take it"
    return result


@settings(max_examples=200, deadline=None)
@given(chat_lists, agent_lists, now_ms)
def test_plan_matches_greedy_reference(
    queue: list[ChatView], agents: list[AgentView], now: int
) -> None:
    check_plan(queue, agents, now)


@settings(max_examples=60, deadline=None)
@given(chat_lists, agent_lists, now_ms)
def test_plan_no_skills_any_free_agent_serves(
    queue: list[ChatView], agents: list[AgentView], now: int
) -> None:
    # Without skill needs or declines, the plan serves min(queue, total free slots) chats.
    queue = [ChatView(id=c.id) for c in queue]
    result = check_plan(queue, agents, now)
    slots = sum(a.free for a in agents if a.available)
    assert len(result) == min(len(queue), slots)
    assert [r.chat_id for r in result] == [c.id for c in queue[: len(result)]]


@settings(max_examples=60, deadline=None)
@given(chat_lists, agent_lists, now_ms)
def test_plan_order_of_agents_irrelevant(
    queue: list[ChatView], agents: list[AgentView], now: int
) -> None:
    assert plan(queue, agents, now) == plan(queue, list(reversed(agents)), now)


# ---- skill specs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("billing", ("billing", 0)),
        ("billing:7", ("billing", 7)),
        ("  Billing:1 ", ("billing", 1)),
        ("BILLING:10", ("billing", 10)),
        ("en-GB.support_2", ("en-gb.support_2", 0)),
        ("x" * 64 + ":3", ("x" * 64, 3)),
        ("a:" + str(MIN_PROFICIENCY), ("a", MIN_PROFICIENCY)),
        ("a:" + str(MAX_PROFICIENCY), ("a", MAX_PROFICIENCY)),
    ],
)
def test_parse_skill_spec(spec: str, expected: tuple[str, int]) -> None:
    assert parse_skill_spec(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "   ",
        ":5",
        "x" * 65,
        "bill ing",
        "bill,ing",
        "a:b:3",
        "bill/ing",
        "a:0",
        "a:11",
        "a:-1",
        "a:x",
        "a:3.5",
        "a:1e1",
    ],
)
def test_parse_skill_spec_errors(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_skill_spec(spec)


def test_parse_skill_spec_error_messages() -> None:
    with pytest.raises(ValueError, match="bad skill name"):
        parse_skill_spec("no good")
    with pytest.raises(ValueError, match="must be 1-10"):
        parse_skill_spec("billing:11")


def test_encode_decode_examples() -> None:
    assert encode_skills({}) == ""
    assert decode_skills("") == {}
    assert encode_skills({"sales": 0, "billing": 7}) == "billing:7,sales:0"
    assert decode_skills("billing:7,sales:0") == {"billing": 7, "sales": 0}
    assert decode_skills("billing") == {"billing": 0}
    assert decode_skills("billing:") == {"billing": 0}
    assert decode_skills(",a:1,,b:2,") == {"a": 1, "b": 2}


def test_decode_skills_errors() -> None:
    with pytest.raises(ValueError):
        decode_skills("a:x")
    with pytest.raises(ValueError):
        decode_skills("a:1:2")


skill_names = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_."), min_size=1, max_size=64
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(skill_names, st.integers(0, MAX_PROFICIENCY), max_size=8))
def test_encode_decode_round_trip(skills: dict[str, int]) -> None:
    text = encode_skills(skills)
    assert decode_skills(text) == skills
    assert encode_skills(decode_skills(text)) == text
    # Every part re-parses as a spec (0 is written as the bare name's level).
    for part in filter(None, text.split(",")):
        name, level = part.split(":")
        if int(level):
            assert parse_skill_spec(part) == (name, int(level))
        else:
            assert parse_skill_spec(name) == (name, 0)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_parse_skill_spec_any_text(spec: str) -> None:
    try:
        name, level = parse_skill_spec(spec)
    except ValueError:
        return
    # Whatever is accepted survives the stored form and is safe for the Lua pattern.
    assert name and len(name) <= 64
    assert "," not in name and ":" not in name
    assert name == name.strip() and name == name.lower()
    assert level == 0 or MIN_PROFICIENCY <= level <= MAX_PROFICIENCY
    assert decode_skills(encode_skills({name: level})) == {name: level}


@settings(max_examples=150, deadline=None)
@given(skill_names, st.integers(MIN_PROFICIENCY, MAX_PROFICIENCY))
def test_parse_skill_spec_round_trip(name: str, level: int) -> None:
    assert parse_skill_spec(f"{name}:{level}") == (name, level)
    assert parse_skill_spec(name.upper()) == (name, 0)
