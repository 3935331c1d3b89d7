"""Agents and topics: who can take chats, and what each topic needs.

Agents live in Redis hashes (the routing scripts read them); with the embedded server
they persist in its append-only file.  Passwords are stored as argon2id hashes only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from chatserver.core.queueing import MAX_PRIORITY, MIN_PRIORITY
from chatserver.core.routing import parse_skill_spec
from chatserver.store.codec import mapping, text
from chatserver.store.keys import Keys
from chatserver.store.scripts import Scripts


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


SUPERVISING = frozenset({Role.SUPERVISOR, Role.ADMIN})


class DirectoryError(ValueError):
    """A bad agent or topic definition, or a reference to one that does not exist."""


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    role: Role
    capacity: int
    skills: Mapping[str, int]
    status: str
    disabled: bool
    version: int
    password_hash: str = field(repr=False, default="")
    idle_since_ms: int = 0
    status_at_ms: int = 0

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "capacity": self.capacity,
            "skills": dict(self.skills),
            "status": self.status,
            "disabled": self.disabled,
        }


@dataclass(frozen=True)
class Topic:
    name: str
    required: Mapping[str, int]
    optional: Mapping[str, int]
    priority: int
    labels: Mapping[str, str] = field(default_factory=dict)
    """Language -> the name visitors read (the widget shows it; ``name`` otherwise)."""

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "required": dict(self.required),
            "optional": dict(self.optional),
            "priority": self.priority,
            "labels": dict(self.labels),
        }


def validate_agent_id(agent_id: str) -> str:
    if not agent_id or len(agent_id) > 64 or not all(c.isalnum() or c in "-_." for c in agent_id):
        raise DirectoryError(f"bad agent id {agent_id!r}: use 1-64 letters, digits, '-', '_', '.'")
    return agent_id


def validate_topic_name(name: str) -> str:
    name = name.strip().lower()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
        raise DirectoryError(f"bad topic name {name!r}: use letters, digits, '-', '_', '.'")
    return name


def parse_skills(specs: list[str] | Mapping[str, int]) -> dict[str, int]:
    try:
        if isinstance(specs, Mapping):
            return dict(parse_skill_spec(f"{k}:{v}" if v else k) for k, v in specs.items())
        return dict(parse_skill_spec(s) for s in specs if s.strip())
    except ValueError as exc:
        raise DirectoryError(str(exc)) from None


def _text(value: bytes | None, default: str = "") -> str:
    return text(value) if value is not None else default


class Directory:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    # ---- agents --------------------------------------------------------------------------
    async def create_agent(
        self,
        agent_id: str,
        *,
        name: str,
        password_hash: str,
        role: Role,
        capacity: int,
        skills: Mapping[str, int],
        now_ms: int,
    ) -> Agent:
        validate_agent_id(agent_id)
        if not 0 <= capacity <= 100:
            raise DirectoryError("capacity must be 0-100")
        key = self.keys.agent(agent_id)
        created = await self.redis.hsetnx(key, "name", name or agent_id)
        if not created:
            raise DirectoryError(f"agent {agent_id!r} already exists")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping=mapping(
                    {
                        "role": role.value,
                        "pw": password_hash,
                        "ver": 1,
                        "capacity": capacity,
                        "status": "offline",
                        "disabled": "0",
                        "idle_since": 0,
                        "status_at": now_ms,
                        "created": now_ms,
                    }
                ),
            )
            pipe.delete(self.keys.agent_skills(agent_id))
            if skills:
                pipe.hset(self.keys.agent_skills(agent_id), mapping=mapping(dict(skills)))
            pipe.sadd(self.keys.agents, agent_id)
            pipe.incr(self.keys.agents_version)
            await pipe.execute()
        agent = await self.get_agent(agent_id)
        assert agent is not None
        return agent

    async def get_agent(self, agent_id: str) -> Agent | None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.agent(agent_id))
            pipe.hgetall(self.keys.agent_skills(agent_id))
            raw, skills = await pipe.execute()
        if not raw or b"role" not in raw:
            return None
        return Agent(
            id=agent_id,
            name=_text(raw.get(b"name"), agent_id),
            role=Role(_text(raw.get(b"role"), "agent")),
            capacity=int(raw.get(b"capacity", 0)),
            skills={k.decode(): int(v) for k, v in skills.items()},
            status=_text(raw.get(b"status"), "offline"),
            disabled=raw.get(b"disabled") == b"1",
            version=int(raw.get(b"ver", 1)),
            password_hash=_text(raw.get(b"pw")),
            idle_since_ms=int(raw.get(b"idle_since", 0)),
            status_at_ms=int(raw.get(b"status_at", 0)),
        )

    async def list_agents(self) -> list[Agent]:
        ids = sorted(text(m) for m in await self.redis.smembers(self.keys.agents))
        agents = [await self.get_agent(i) for i in ids]
        return [a for a in agents if a is not None]

    async def agent_count(self) -> int:
        return int(await self.redis.scard(self.keys.agents))

    async def update_agent(
        self,
        agent_id: str,
        *,
        name: str | None = None,
        role: Role | None = None,
        capacity: int | None = None,
        skills: Mapping[str, int] | None = None,
        password_hash: str | None = None,
        disabled: bool | None = None,
    ) -> Agent:
        """Change an agent.  A new password or disabling bumps the credential version,
        which ends every session and socket of the agent."""
        if await self.get_agent(agent_id) is None:
            raise DirectoryError(f"no agent {agent_id!r}")
        key = self.keys.agent(agent_id)
        fields: dict[str, Any] = {}
        if name is not None:
            fields["name"] = name
        if role is not None:
            fields["role"] = role.value
        if capacity is not None:
            if not 0 <= capacity <= 100:
                raise DirectoryError("capacity must be 0-100")
            fields["capacity"] = capacity
        if password_hash is not None:
            fields["pw"] = password_hash
        if disabled is not None:
            fields["disabled"] = "1" if disabled else "0"
        async with self.redis.pipeline(transaction=True) as pipe:
            if fields:
                pipe.hset(key, mapping=mapping(fields))
            if password_hash is not None or disabled or role is not None:
                # new powers or a new password: every session starts again
                pipe.hincrby(key, "ver", 1)
            if disabled:
                pipe.srem(self.keys.available, agent_id)
            if skills is not None:
                pipe.delete(self.keys.agent_skills(agent_id))
                if skills:
                    pipe.hset(self.keys.agent_skills(agent_id), mapping=mapping(dict(skills)))
            pipe.incr(self.keys.agents_version)
            await pipe.execute()
        agent = await self.get_agent(agent_id)
        assert agent is not None
        return agent

    async def revoke_sessions(self, agent_id: str) -> None:
        await self.redis.hincrby(self.keys.agent(agent_id), "ver", 1)

    # ---- topics --------------------------------------------------------------------------
    async def set_topic(
        self,
        name: str,
        *,
        required: Mapping[str, int],
        optional: Mapping[str, int],
        priority: int,
        labels: Mapping[str, str] | None = None,
    ) -> Topic:
        name = validate_topic_name(name)
        if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
            raise DirectoryError(f"priority must be {MIN_PRIORITY}-{MAX_PRIORITY}")
        topic = Topic(name, dict(required), dict(optional), priority, dict(labels or {}))
        await self.redis.hset(self.keys.topics, name, json.dumps(topic.public()))
        return topic

    async def delete_topic(self, name: str) -> tuple[bool, int]:
        """(deleted, 0), or (False, chats waiting) when its queue is not empty: checked
        and done in one step."""
        reply = await Scripts(self.redis).call(
            "delete_topic", topics=self.keys.topics, queue=self.keys.queue(name), name=name
        )
        if _text(reply[0]) == "in_use":
            return False, int(reply[1])
        return bool(int(reply[1])), 0

    async def topics(self) -> dict[str, Topic]:
        raw = await self.redis.hgetall(self.keys.topics)
        out: dict[str, Topic] = {}
        for k, v in raw.items():
            data = json.loads(v)
            out[text(k)] = Topic(
                text(k),
                data["required"],
                data["optional"],
                int(data["priority"]),
                data.get("labels") or {},
            )
        return out

    async def ensure_default_topic(self, name: str) -> None:
        if not await self.redis.hlen(self.keys.topics):
            await self.set_topic(name, required={}, optional={}, priority=5)
