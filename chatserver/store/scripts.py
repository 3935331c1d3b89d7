"""The Lua scripts in ``chatserver/lua``: what each takes, by name, and running them by SHA
(reloading on NOSCRIPT).

**Declarations.**  ``SPECS`` declares every script's KEYS and ARGV by name, in order, once.
A call names each one (``await scripts.call("accept", chat=..., now=...)``) and is refused
with ``ScriptCallError`` when a name is missing or unknown, so a list of 17 positions is
never built by hand.  Each script opens with the same names as locals
(``local chat_key = KEYS[1]``, ``local now = ARGV[3]``): a key ``chat`` here is the local
``chat_key`` there, an argument keeps its name.  ``tests/store/test_script_specs.py``
parses those headers and checks them against ``SPECS``, so the two cannot drift.

Variable-length scripts declare a repeated group (``each_keys``/``each_args``: one group
per item after the fixed ones; the call passes ``each=[{name: value, ...}, ...]``) or a
list after the fixed arguments (``rest``); their Lua header reads them with ``each(...)``
or ``rest(...)``.

**Preamble.**  What several scripts share (the state check against the transition table
the core passes in ARGV, the history line, the routing event, the skill match, an agent's
room for one more chat, reading repeated groups) is written once in ``lua/lib/*.lua``.
``source(name)`` prepends to a script each lib file that defines a function the script
calls, so the script Redis runs is self-contained: ``EVALSHA`` and the NOSCRIPT reload of
``redis.asyncio`` (through ``store/multiplex.py``) work unchanged, on any server, with
nothing to install first (a Valkey function library would have to be loaded on every
server and after every ``FUNCTION FLUSH``, and redis-py has no reload-on-miss for
``FCALL``).  Line numbers in a script's error messages count the preamble too.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from operator import itemgetter
from typing import Any, NoReturn

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from chatserver.settings import Settings
from chatserver.store.keys import Keys


class ScriptCallError(TypeError):
    """A script called with a name missing, unknown or given twice."""


_Getter = Callable[[Mapping[str, Any]], list[Any]]


@dataclass(frozen=True)
class ScriptSpec:
    """A script's KEYS and ARGV by name, in the order the script reads them."""

    name: str
    keys: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    each_keys: tuple[str, ...] = ()
    """Keys repeated per item, after ``keys``."""
    each_args: tuple[str, ...] = ()
    """Arguments repeated per item, after ``args``."""
    rest: str = ""
    """An argument that is a list, sent item by item after ``args``."""
    _fixed: int = field(init=False, repr=False, compare=False)
    _get_keys: _Getter = field(init=False, repr=False, compare=False)
    _get_args: _Getter = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [*self.keys, *self.args, *self.each_keys, *self.each_args, self.rest]
        names = [n for n in names if n]
        if len(set(names)) != len(names) or "each" in names:
            raise ValueError(f"{self.name}: names must be distinct (and not 'each')")
        if self.rest and (self.each_keys or self.each_args):
            raise ValueError(f"{self.name}: a rest list and repeated groups do not mix")
        # (a call is on every message's path: the lists are built by C getters)
        object.__setattr__(self, "_fixed", len(self.keys) + len(self.args) + bool(self.rest))
        object.__setattr__(self, "_get_keys", _getter(self.keys))
        object.__setattr__(self, "_get_args", _getter(self.args))

    @property
    def repeated(self) -> bool:
        return bool(self.each_keys or self.each_args)

    def build(
        self, values: Mapping[str, Any], each: Sequence[Mapping[str, Any]] = ()
    ) -> tuple[list[Any], list[Any]]:
        """KEYS and ARGV of one call, in the declared order."""
        try:
            if len(values) != self._fixed:
                raise KeyError
            keys = self._get_keys(values)
            args = self._get_args(values)
            if self.rest:
                args.extend(values[self.rest])
        except KeyError:
            _refuse(self.name, (*self.keys, *self.args, self.rest), values)
        if each:
            if not self.repeated:
                raise ScriptCallError(f"{self.name} takes no repeated groups ('each')")
            size = len(self.each_keys) + len(self.each_args)
            for item in each:
                try:
                    if len(item) != size:
                        raise KeyError
                    keys.extend([item[k] for k in self.each_keys])
                    args.extend([item[a] for a in self.each_args])
                except KeyError:
                    _refuse(self.name, (*self.each_keys, *self.each_args), item)
        return keys, args


def _getter(names: Sequence[str]) -> _Getter:
    """``values -> [values[n] for n in names]``."""
    if not names:
        return lambda values: []
    get = itemgetter(*names)
    if len(names) == 1:
        return lambda values: [get(values)]
    return lambda values: list(get(values))


def _refuse(script: str, expected: Sequence[str], given: Mapping[str, Any]) -> NoReturn:
    """Raise ``ScriptCallError`` naming what is missing and what is unknown."""
    expected = [n for n in expected if n]
    missing = [n for n in expected if n not in given]
    unknown = sorted(set(given) - set(expected))
    raise ScriptCallError(f"{script}: missing {missing}, unknown {unknown}")


def _spec(name: str, keys: str = "", args: str = "", **more: Any) -> ScriptSpec:
    return ScriptSpec(name, tuple(keys.split()), tuple(args.split()), **more)


SPECS: dict[str, ScriptSpec] = {
    s.name: s
    for s in (
        _spec(
            "accept",
            "chat offers idle events history",
            "chat_id agent_id now from_states target idle_at events_max",
        ),
        _spec(
            "agent_connect",
            "agent conns presence graces available status_log",
            "agent_id conn_id expiry now unset receives connect_from connect_to",
        ),
        _spec(
            "agent_disconnect", "conns graces available presence", "agent_id conn_id now grace_end"
        ),
        _spec(
            "agent_heartbeat",
            "agent conns presence graces available",
            "agent_id expiry receives",
            rest="conn_ids",
        ),
        _spec(
            "agent_status",
            "agent conns available status_log",
            "agent_id new_status now unset receives",
        ),
        _spec(
            "agent_sweep",
            "agent conns presence graces available status_log",
            "agent_id now grace_end grace_due grace_to",
        ),
        _spec(
            "assign",
            "available offers events relax deadlines idle",
            "now from_states target offer_at idle_at events_max default_level",
            each_keys=("chat", "declined", "agent", "skills", "agent_chats", "queue", "history"),
            each_args=("chat_id", "agent_id"),
        ),
        _spec("bump_epoch", "epoch epoch_run", "run_id"),
        _spec(
            "close_chat",
            "chat declined agent_chats queue offers idle relax deadlines live visitor events "
            "outbox watchers history visitor_conns visitor_gone handle_time",
            "chat_id now from_states target event_name by outcome tags holder_read "
            "required_agent retention events_max if_visitor_gone closer_name handle_weight",
        ),
        _spec(
            "create_chat",
            "chat queue visitor live relax deadlines events history handle_time topics",
            "chat_id visitor_id topic priority required optional now score relax_at "
            "missed_at details visitor_ttl events_max visitor_name",
        ),
        _spec("delete_topic", "topics queue", "name"),
        _spec("notice_end", "notices expiry channel", "notice_id frame publish"),
        _spec(
            "notice_post",
            "notices expiry channel",
            "notice_id notice now max_active expires_at frame publish",
        ),
        _spec(
            "offline_message",
            "chat history events outbox notices",
            "chat_id visitor_id topic details now retention events_max state notice "
            "notice_ttl",
        ),
        _spec(
            "post",
            "log ids meta channel",
            "chat_id role sender_id sender_name cid text kind audience now epoch log_max "
            "ttl system origin publish file",
        ),
        _spec("rate", "chat outbox", "chat_id visitor_id rating comment now window nps"),
        _spec("transcript", "chat outbox", "chat_id visitor_id email now max"),
        _spec("read_receipt", "meta", "who read"),
        _spec("release_done", "released", "note due"),
        _spec("relax", "chat relax events history", "chat_id now events_max"),
        _spec(
            "requeue",
            "chat declined agent_chats agent available queue offers idle deadlines relax "
            "events history status_log handle_time released",
            "chat_id expected_agent now from_states target event_name mark_declined "
            "lapse_status score new_topic new_required new_optional missed_at relax_at "
            "events_max topic_read holder_read priority_read created_read by note new_priority "
            "check_at released_note writing_state",
        ),
        _spec("set_tags", "chat", "tags from_states required_agent"),
        _spec("snapshot_agents", each_keys=("agent", "agent_chats")),
        _spec("snapshot_chats", each_keys=("chat", "chat_declined")),
        _spec("drain_lease", "lease", "owner ttl"),
        _spec("timers_tick", "timers", "now max_gap lifetime"),
        _spec(
            "transfer_agent",
            "chat old_chats new_chats new_agent available idle events history released",
            "chat_id expected_agent to_agent now from_states target idle_at events_max "
            "holder_read by note check_at released_note writing_state",
        ),
        _spec("visitor_connect", "conns presence gone", "visitor_id conn_id expiry now lifetime"),
        _spec(
            "visitor_disconnect", "conns presence gone visitor", "visitor_id conn_id now gone_at"
        ),
        _spec("visitor_gone_clear", "gone", "visitor_id due_read"),
        _spec(
            "visitor_page",
            "onsite visit visitor",
            "visitor_id now url title lang known idle hash_ttl max",
        ),
        _spec(
            "visitor_invite",
            "visit presence visitor rate",
            "visitor_id now invite_id agent_id per_minute window",
        ),
        _spec("visitor_invite_answer", "visit", "invite_id answer"),
        _spec(
            "visitor_heartbeat",
            "presence gone",
            "now expiry hash_ttl lifetime",
            each_keys=("visitor", "conns"),
            each_args=("visitor_id", "conn_ids"),
        ),
        _spec("visitor_sweep", "conns presence gone visitor", "visitor_id now grace"),
    )
}
NAMES = tuple(sorted(SPECS))
_PUBLISHING = frozenset(name for name, spec in SPECS.items() if "publish" in spec.args)
"""Scripts that publish: their ``publish`` argument (the command) is the client's
``publish_command``, ``PUBLISH``, or ``SPUBLISH`` on a cluster (``store/cluster``)."""

_LUA = resources.files("chatserver") / "lua"
_DEFINES = re.compile(r"^local function (\w+)\(", re.M)


@cache
def _lib() -> tuple[tuple[str, frozenset[str]], ...]:
    """Each lib file's text with the functions it defines, in name order."""
    files = sorted(
        (f for f in (_LUA / "lib").iterdir() if f.name.endswith(".lua")), key=lambda f: f.name
    )
    out = []
    for f in files:
        code = f.read_text(encoding="utf-8")
        out.append((code, frozenset(_DEFINES.findall(code))))
    return tuple(out)


def body(name: str) -> str:
    """The script as written in ``lua/<name>.lua``, without its preamble."""
    return (_LUA / f"{name}.lua").read_text(encoding="utf-8")


@cache
def source(name: str) -> str:
    """The script Redis runs: its ``#!lua`` line if any, then the preamble (each lib file
    defining a function the script calls), then the script."""
    text = body(name)
    shebang = ""
    if text.startswith("#!"):
        shebang, text = text.split("\n", 1)
        shebang += "\n"
    used = [
        code for code, functions in _lib() if any(re.search(rf"\b{f}\(", text) for f in functions)
    ]
    return shebang + "".join(code.rstrip("\n") + "\n" for code in used) + text


@cache
def sha(name: str) -> str:
    """The SHA1 Redis knows ``source(name)`` by (``EVALSHA``)."""
    return hashlib.sha1(source(name).encode("utf-8")).hexdigest()


class Scripts:
    """``await scripts.call("accept", chat=..., chat_id=..., now=...)``.

    Each call is one ``EVALSHA`` (and, when Redis does not know the script, as after a
    restart or ``SCRIPT FLUSH``, a ``SCRIPT LOAD`` and the ``EVALSHA`` again).  redis-py's
    ``AsyncScript`` did the same, plus an ``isinstance`` check against a ``Protocol``
    class on every call: about 3 % of a hub's CPU in the reconnect storm."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.publish: str = getattr(redis, "publish_command", "PUBLISH")

    async def call(
        self, name: str, /, *, each: Sequence[Mapping[str, Any]] = (), **values: Any
    ) -> Any:
        """Run ``name`` with its keys and arguments by name (see ``SPECS``; a publishing
        script's ``publish`` is the client's)."""
        if name in _PUBLISHING:
            values["publish"] = self.publish
        keys, args = SPECS[name].build(values, each)
        run: Callable[..., Awaitable[Any]] = self.redis.execute_command  # (untyped)
        try:
            return await run("EVALSHA", sha(name), len(keys), *keys, *args)
        except NoScriptError:
            await run("SCRIPT LOAD", source(name))
            return await run("EVALSHA", sha(name), len(keys), *keys, *args)


class ScriptStore:
    """What the routing-slot stores share: a connection, the key builder, the scripts on
    that connection and the settings (durations in seconds, made milliseconds by ``_ms``)."""

    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts, settings: Settings) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.settings = settings

    def _ms(self, seconds: float) -> int:
        return int(seconds * 1000)
