"""The TCP proxy clients reach the hubs through: the fault injector cuts it (every open
connection reset, new ones refused) and restores it, and it spreads new connections over
the hubs it is told are up, as a load balancer with health checks would.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from tests.records.tcp_proxy import TcpProxy


class HubProxy(TcpProxy):
    """A :class:`TcpProxy` whose target is chosen per connection, round robin over the
    ports ``upstreams()`` returns (the hubs currently up)."""

    def __init__(self, name: str, upstreams: Callable[[], list[int]]) -> None:
        super().__init__("127.0.0.1", 0)
        self.name = name
        self._upstreams = upstreams
        self._turn = itertools.count()

    @property
    def target_port(self) -> int:
        ports = self._upstreams()
        if not ports:
            return 1  # nothing up: the connection is refused, as by a balancer with no backend
        return ports[next(self._turn) % len(ports)]

    @target_port.setter
    def target_port(self, value: int) -> None:
        pass  # chosen per connection

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
