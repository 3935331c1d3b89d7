"""Live figures for supervisors, pushed over the agent WebSocket as ``live`` frames.

Every ``LIVE_METRICS_INTERVAL_S`` a node that has supervisor connections builds one
snapshot and sends it to each of them: queues (waiting, longest wait), agents (status,
load, capacity, time in status), chat counts by state, and today's service level, average
speed of answer and abandon rate (UTC day, from the records; cached for 10 s).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chatserver.records.metrics import Thresholds, period_metrics

if TYPE_CHECKING:
    from chatserver.hub.node import Node

TODAY_CACHE_S = 10.0
MAX_LISTED = 500
"""Live chats listed in one frame (the counts cover all)."""


class LiveFigures:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._today: dict[str, Any] = {}
        self._today_at = 0.0

    async def snapshot(self) -> dict[str, Any]:
        node = self.node
        now = node.now()
        topics = await node.catalog.topics()
        queues = await node.routing.queue_summary(topics, now)
        agents = []
        # connected and online: who can be given a chat (transfer, reassign) right now
        available = await node.reads.available_agents()
        for agent in await node.directory.list_agents():
            load = len(await node.routing.agent_chat_ids(agent.id))
            agents.append(
                {
                    "id": agent.id,
                    "name": agent.name,
                    "role": agent.role.value,
                    "status": agent.status,
                    "load": load,
                    "capacity": agent.capacity,
                    "disabled": agent.disabled,
                    "available": agent.id in available,
                    "in_status_s": max(0, (now - agent.status_at_ms) // 1000),
                }
            )
        states: dict[str, int] = {"queued": 0, "offered": 0, "active": 0}
        chats: list[dict[str, Any]] = []
        for chat_id, fields, meta in await node.reads.live_chats():
            state, topic, holder, created, accepted, details = fields
            last_ts, last_role, seq = meta
            if state in states:
                states[state] += 1
            try:
                name = str(json.loads(details or "{}").get("name", ""))
            except ValueError:
                name = ""
            chats.append(
                {
                    "id": chat_id,
                    "state": state,
                    "topic": topic,
                    "agent": holder or None,
                    "visitor_name": name,
                    "created": int(created or 0),
                    "accepted": int(accepted) if accepted else None,
                    "last_message_at": int(last_ts) if last_ts else None,
                    "waiting_for_reply": last_role == "visitor",
                    "messages": int(seq or 0),
                }
            )
        return {
            "type": "live",
            "ts": now,
            "queues": queues,
            "agents": agents,
            "chats": states,
            "active": chats[:MAX_LISTED],
            "today": await self.today(now),
        }

    async def today(self, now: int) -> dict[str, Any]:
        if time.monotonic() - self._today_at < TODAY_CACHE_S:
            return self._today
        node = self.node
        if node.engine is None:
            return {}
        day = datetime.fromtimestamp(now / 1000, tz=UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        start = int(day.timestamp() * 1000)
        s = node.settings
        thresholds = Thresholds(
            service_level_target_s=s.service_level_target_s,
            service_level_goal=s.service_level_goal,
            short_abandon_s=s.short_abandon_s,
        )
        m = await period_metrics(node.engine, start, max(now, start + 1), None, thresholds)
        self._today = {
            "offered": m.offered,
            "answered": m.answered,
            "service_level": m.service_level,
            "service_level_target_s": m.service_level_target_s,
            "avg_speed_of_answer_s": m.avg_speed_of_answer_s,
            "abandon_rate": m.abandon_rate,
        }
        self._today_at = time.monotonic()
        return self._today
