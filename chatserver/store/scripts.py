"""Loads the Lua scripts in ``chatserver/lua`` and runs them by SHA (reloading on NOSCRIPT).

Each script opens with a KEYS/ARGV header; every key it touches arrives in KEYS.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

NAMES = (
    "accept",
    "agent_connect",
    "agent_disconnect",
    "agent_heartbeat",
    "agent_status",
    "agent_sweep",
    "assign",
    "bump_epoch",
    "close_chat",
    "create_chat",
    "notice_end",
    "notice_post",
    "offline_message",
    "post",
    "rate",
    "read_receipt",
    "relax",
    "requeue",
    "set_tags",
    "snapshot_agents",
    "timers_tick",
    "transfer_agent",
    "visitor_connect",
    "visitor_disconnect",
    "visitor_gone_clear",
    "visitor_heartbeat",
    "visitor_sweep",
)


def source(name: str) -> str:
    return (resources.files("chatserver") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """``await scripts.run("assign", keys, args)``."""

    def __init__(self, redis: Redis) -> None:
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(source(name)) for name in NAMES
        }

    async def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self._scripts[name](keys=keys, args=args)
