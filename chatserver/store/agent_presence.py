"""Agents' presence: their console connections on every process, their status, the
available set and the grace period after the last connection ends.  The rules come from
``core/agent_presence.py`` and reach the ``agent_*`` scripts in ARGV."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chatserver.core import agent_presence
from chatserver.store.availability import AGENTS_CHANGED
from chatserver.store.codec import text
from chatserver.store.scripts import ScriptStore

_PRESENCE = agent_presence.lua_rules()
"""The presence rules the ``agent_*`` scripts receive in ARGV (``core/agent_presence.py``)."""


class AgentPresenceStore(ScriptStore):
    """Agents' connections, status and availability."""

    async def agent_connect(self, agent_id: str, conn_id: str, now_ms: int) -> tuple[str, bool]:
        expiry = now_ms + self._ms(self.settings.presence_ttl_s)
        k = self.keys
        status, became = await self.scripts.call(
            "agent_connect",
            agent=k.agent(agent_id),
            conns=k.agent_conns(agent_id),
            presence=k.presence,
            graces=k.graces,
            available=k.available,
            status_log=k.status_log,
            agent_id=agent_id,
            conn_id=conn_id,
            expiry=expiry,
            now=now_ms,
            unset=_PRESENCE["unset"],
            receives=_PRESENCE["receives"],
            connect_from=_PRESENCE["connect_from"],
            connect_to=_PRESENCE["connect_to"],
        )
        if int(became):
            await self.agents_changed()
        return text(status), bool(int(became))

    async def agents_changed(self) -> None:
        """Tell every process that the available set may have changed (visitors are
        shown which topics have an agent online; see ``hub/availability.py``)."""
        await self.redis.publish(self.keys.queue_channel, AGENTS_CHANGED)

    async def agent_disconnect(self, agent_id: str, conn_id: str, now_ms: int) -> int:
        left = int(
            await self.scripts.call(
                "agent_disconnect",
                conns=self.keys.agent_conns(agent_id),
                graces=self.keys.graces,
                available=self.keys.available,
                presence=self.keys.presence,
                agent_id=agent_id,
                conn_id=conn_id,
                now=now_ms,
                grace_end=now_ms + self._ms(self.settings.offline_grace_s),
            )
        )
        if left == 0:
            await self.agents_changed()
        return left

    async def heartbeat(self, conns: Mapping[str, Sequence[str]], now_ms: int) -> bool:
        """Refresh this process's live connections (agent -> connection ids).  Returns
        True when an agent the sweeper had dropped is available again."""
        expiry = now_ms + self._ms(self.settings.presence_ttl_s)
        back = False
        for agent_id, ids in conns.items():
            back |= bool(
                await self.scripts.call(
                    "agent_heartbeat",
                    agent=self.keys.agent(agent_id),
                    conns=self.keys.agent_conns(agent_id),
                    presence=self.keys.presence,
                    graces=self.keys.graces,
                    available=self.keys.available,
                    agent_id=agent_id,
                    expiry=expiry,
                    receives=_PRESENCE["receives"],
                    conn_ids=ids,
                )
            )
        if back:
            await self.agents_changed()
        return back

    async def set_status(
        self, agent_id: str, status: str, now_ms: int, *, announce: bool = True
    ) -> tuple[str, bool]:
        """Set (or, with ``status`` '', recompute) an agent's status; returns it and
        whether they became available.  ``announce``: tell every process the available
        set may have changed (``agents_changed``); a caller that sends it beside its own
        notifications passes False."""
        result = await self.scripts.call(
            "agent_status",
            agent=self.keys.agent(agent_id),
            conns=self.keys.agent_conns(agent_id),
            available=self.keys.available,
            status_log=self.keys.status_log,
            agent_id=agent_id,
            new_status=status,
            now=now_ms,
            unset=_PRESENCE["unset"],
            receives=_PRESENCE["receives"],
        )
        if announce:
            await self.agents_changed()
        return text(result[0]), bool(int(result[1]))

    async def sweep_agent(self, agent_id: str, now_ms: int, grace_due: bool) -> str:
        result = text(
            await self.scripts.call(
                "agent_sweep",
                agent=self.keys.agent(agent_id),
                conns=self.keys.agent_conns(agent_id),
                presence=self.keys.presence,
                graces=self.keys.graces,
                available=self.keys.available,
                status_log=self.keys.status_log,
                agent_id=agent_id,
                now=now_ms,
                grace_end=now_ms + self._ms(self.settings.offline_grace_s),
                grace_due="1" if grace_due else "0",
                grace_to=_PRESENCE["grace_to"],
            )
        )
        if result != "present":
            await self.agents_changed()
        return result
