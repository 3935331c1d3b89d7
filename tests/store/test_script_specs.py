"""The Python declaration of each Lua script (``store/scripts.py`` SPECS) names the same
KEYS and ARGV, in the same order, as the script's header; below the header no script reads
``KEYS[n]`` or ``ARGV[n]``; the generated preamble carries every helper a script calls;
and a call with a name missing or unknown is refused before it reaches Redis."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources

import pytest
import redis.asyncio as aioredis

from chatserver.store.scripts import NAMES, SPECS, ScriptCallError, Scripts, ScriptSpec, body
from chatserver.store.scripts import source as script_source

PRESENCE_BODIES_PENDING: frozenset[str] = frozenset()
"""Scripts whose header names their KEYS/ARGV but whose body still reads them by position
(none: the agent presence scripts were rewritten when the state machine moved into core/)."""

_FIXED = re.compile(r"^local (\w+) = (?:tonumber\()?(KEYS|ARGV)\[(\d+)\]\)?(?: or '')?\s*(--.*)?$")
_EACH = re.compile(r"^local \w+ = each\((KEYS|ARGV), (\d+), \{(.*?)\}\)$", re.S)
_REST = re.compile(r"^local (\w+) = rest\(ARGV, (\d+)\)\s*(--.*)?$")


@dataclass
class Header:
    keys: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    each_keys: list[str] = field(default_factory=list)
    each_args: list[str] = field(default_factory=list)
    rest: str = ""
    end: int = 0
    """Index of the first line after the header."""


def parse_header(text: str) -> Header:
    """The KEYS/ARGV names a script's header declares: its leading lines of comments and
    ``local x = KEYS[n]`` / ``ARGV[n]`` / ``each(...)`` / ``rest(...)`` statements."""
    lines = text.splitlines()
    header = Header()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line or line.startswith(("--", "#!")):
            i += 1
            continue
        if m := _FIXED.match(line):
            name, table, index = m.group(1), m.group(2), int(m.group(3))
            names = header.keys if table == "KEYS" else header.args
            assert index == len(names) + 1, f"{name}: {table}[{index}] out of order"
            if table == "KEYS":
                assert name.endswith("_key") or name == "channel", name
                name = name.removesuffix("_key")
            names.append(name)
        elif line.startswith("local") and "each(" in line:
            statement = line
            while not statement.endswith(")"):
                i += 1
                statement += " " + lines[i].strip()
            m = _EACH.match(statement)
            assert m, statement
            table, offset = m.group(1), int(m.group(2))
            names = re.findall(r"'(\w+)'", m.group(3))
            if table == "KEYS":
                assert offset == len(header.keys)
                assert all(n.endswith("_key") for n in names), names
                header.each_keys = [n.removesuffix("_key") for n in names]
            else:
                assert offset == len(header.args)
                header.each_args = names
        elif m := _REST.match(line):
            assert int(m.group(2)) == len(header.args)
            header.rest = m.group(1)
        else:
            break
        i += 1
    header.end = i
    return header


def test_every_script_file_is_declared() -> None:
    files = {
        f.name.removesuffix(".lua")
        for f in (resources.files("chatserver") / "lua").iterdir()
        if f.name.endswith(".lua")
    }
    assert files == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_declaration_matches_the_lua_header(name: str) -> None:
    header = parse_header(body(name))
    spec = SPECS[name]
    # "channel" keys keep their name in Lua (a channel, not a key to read)
    assert tuple(header.keys) == spec.keys
    assert tuple(header.args) == spec.args
    assert tuple(header.each_keys) == spec.each_keys
    assert tuple(header.each_args) == spec.each_args
    assert header.rest == spec.rest


@pytest.mark.parametrize("name", sorted(set(NAMES) - PRESENCE_BODIES_PENDING))
def test_no_positional_reads_below_the_header(name: str) -> None:
    lines = body(name).splitlines()
    below = "\n".join(
        line.split("--", 1)[0] for line in lines[parse_header(body(name)).end :]
    )
    assert not re.search(r"\b(KEYS|ARGV)\s*\[", below), name
    assert not re.search(r"#(KEYS|ARGV)\b", below), name


def test_helpers_live_in_the_lib_only() -> None:
    """No script defines a function of its own: shared code is in lua/lib/."""
    for name in NAMES:
        assert "function" not in body(name), name


def test_preamble_carries_what_the_script_calls() -> None:
    accept = script_source("accept")
    assert "local function state_in(" in accept
    assert "local function history(" in accept
    assert "local function each(" not in accept  # a lib file it does not use stays out
    snapshot = script_source("snapshot_agents")
    assert snapshot.startswith("#!lua flags=no-writes\n")  # the flags line stays first
    assert "local function each(" in snapshot
    assert script_source("bump_epoch") == body("bump_epoch")


def test_a_call_names_every_key_and_argument_exactly() -> None:
    spec = ScriptSpec("s", keys=("a",), args=("x", "y"))
    assert spec.build({"a": "k", "x": 1, "y": 2}) == (["k"], [1, 2])
    with pytest.raises(ScriptCallError, match=r"missing \['y'\]"):
        spec.build({"a": "k", "x": 1})
    with pytest.raises(ScriptCallError, match=r"unknown \['z'\]"):
        spec.build({"a": "k", "x": 1, "y": 2, "z": 3})
    with pytest.raises(ScriptCallError, match="no repeated groups"):
        spec.build({"a": "k", "x": 1, "y": 2}, [{"b": 1}])
    grouped = ScriptSpec("g", keys=("a",), args=("x",), each_keys=("b",), each_args=("i",))
    assert grouped.build({"a": "k", "x": 0}, [{"b": "k1", "i": 1}, {"b": "k2", "i": 2}]) == (
        ["k", "k1", "k2"], [0, 1, 2]
    )
    with pytest.raises(ScriptCallError, match=r"missing \['i'\]"):
        grouped.build({"a": "k", "x": 0}, [{"b": "k1"}])
    listed = ScriptSpec("r", args=("x",), rest="ids")
    assert listed.build({"x": 0, "ids": ["p", "q"]}) == ([], [0, "p", "q"])
    with pytest.raises(ValueError, match="distinct"):
        ScriptSpec("d", keys=("a",), args=("a",))


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_url)
    try:
        yield c
    finally:
        await c.aclose()


async def test_every_script_compiles_with_its_preamble(client: aioredis.Redis) -> None:
    for name in NAMES:
        await client.script_load(script_source(name))


async def test_a_wrong_call_never_reaches_redis(client: aioredis.Redis) -> None:
    scripts = Scripts(client)
    with pytest.raises(ScriptCallError):
        await scripts.call("read_receipt", meta="x", who="visitor:v")
