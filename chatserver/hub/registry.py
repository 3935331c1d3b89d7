"""This process's open connections: per agent, per visitor and per client address.

A subject (agent or visitor) with at least one local connection has a listener on its
control channel (``notifier``); the first connection subscribes it, the last one leaving
unsubscribes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from chatserver.hub.connection import Budget, Connection
from chatserver.settings import Settings
from chatserver.telemetry import metrics

if TYPE_CHECKING:
    from chatserver.hub.notifier import Notifier

log = logging.getLogger(__name__)


class Registry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.agents: dict[str, set[Connection]] = {}
        self.visitors: dict[str, set[Connection]] = {}
        self.by_address: dict[str, int] = {}
        """Open WebSocket connections per client address on this process."""
        self.budgets: dict[str, Budget] = {}
        """Bytes queued for sending per client address on this process (see ``Budget``)."""
        self.admission: asyncio.Semaphore | None = (
            asyncio.Semaphore(settings.max_pending_handshakes)
            if settings.max_pending_handshakes
            else None
        )
        """Slots for visitor connections being set up (handshake to welcome)."""
        self.notifier: Notifier | None = None
        """Set by the node: subscribes each subject's control channel."""

    # ---- connections --------------------------------------------------------------------
    def local(self, role: str, subject: str) -> set[Connection]:
        table = self.agents if role == "agent" else self.visitors
        return table.get(subject, set())

    def all(self) -> Iterator[Connection]:
        for conns in [*self.agents.values(), *self.visitors.values()]:
            yield from list(conns)

    def supervisors(self) -> list[Connection]:
        return [c for conns in self.agents.values() for c in conns if c.supervisor]

    async def add(self, conn: Connection) -> None:
        table = self.agents if conn.role == "agent" else self.visitors
        conns = table.setdefault(conn.subject, set())
        conns.add(conn)
        metrics.CONNECTIONS[conn.role].inc()
        if len(conns) == 1 and self.notifier is not None:
            await self.notifier.listen(conn.role, conn.subject)

    async def remove(self, conn: Connection) -> int:
        """Returns how many local connections the subject still has.

        The connection leaves the registry first (so a heartbeat never refreshes it
        again), then its subscriptions; a failed unsubscribe (Redis restarting) is
        logged, not raised: the fan-out drops channels without listeners when it
        reconnects, and the caller must still record the disconnect."""
        table = self.agents if conn.role == "agent" else self.visitors
        conns = table.get(conn.subject, set())
        if conn in conns:
            conns.discard(conn)
            metrics.CONNECTIONS[conn.role].dec()
        left = len(conns)
        if not conns:
            table.pop(conn.subject, None)
        try:
            await conn.unfollow_all()
        except RedisError as exc:  # Redis restarting: the fan-out drops them on reconnect
            log.warning("could not unfollow the chats of %s (%s)", conn.id, exc)
        except Exception:
            log.exception("could not unfollow the chats of %s", conn.id)
        if not conns and self.notifier is not None:
            await self.notifier.unlisten(conn.role, conn.subject)
        return left

    def close_all(self, code: int, reason: str) -> None:
        for conn in self.all():
            conn.close(code, reason)

    # ---- per client address -------------------------------------------------------------
    def address_full(self, address: str) -> bool:
        return self.by_address.get(address, 0) >= self.settings.max_connections_per_address

    def hold_address(self, address: str, delta: int) -> None:
        count = self.by_address.get(address, 0) + delta
        if count > 0:
            self.by_address[address] = count
        else:
            self.by_address.pop(address, None)

    def join_budget(self, address: str) -> Budget:
        """The send budget shared by the connections of ``address``
        (SEND_QUEUE_BYTES_PER_ADDRESS)."""
        budget = self.budgets.get(address)
        if budget is None:
            budget = self.budgets[address] = Budget()
        budget.holders += 1
        return budget

    def leave_budget(self, address: str, budget: Budget) -> None:
        budget.holders -= 1
        if budget.holders <= 0 and self.budgets.get(address) is budget:
            del self.budgets[address]
