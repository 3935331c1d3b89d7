"""The product on a real Valkey Cluster (3 masters, 3 replicas: ``valkey_cluster``): a
selection of the two-process flows, the fault tests and the invariants test, their bodies
reused unchanged, run with two hub processes whose ``REDIS_URL`` is the cluster's
``redis+cluster://`` URL.  Nothing is mocked.

The selection keeps the added time modest (about 75 s on the loaded 2-core machine): every
flow whose Redis side differs on a cluster (a chat's keys and the routing state on
different masters, timers, the presence grace, the race to close, a hub process dying
and its clients moving over) and the invariants test.  Duplicate sends and resuming from
the log are left to the store suite, whose dedup and log contracts run on the cluster
too (``tests/store``, the ``[cluster]`` ids).  The fault test that restarts Redis has its
cluster equivalent in ``test_cluster_failover.py`` (a master killed mid-chat)."""

from __future__ import annotations

import pytest

from tests import test_faults as faults
from tests import test_hub_two_processes as two_processes
from tests import test_invariants as invariants
from tests.harness import Cluster


@pytest.mark.timeout(60)
async def test_visitor_and_agent_on_different_processes(hubs_on_cluster: Cluster) -> None:
    await two_processes.test_visitor_and_agent_on_different_processes(hubs_on_cluster)


@pytest.mark.timeout(60)
async def test_fault_agent_connection_killed_chats_requeued_after_grace(
    hubs_on_cluster: Cluster,
) -> None:
    await faults.test_fault_agent_connection_killed_chats_requeued_after_grace(hubs_on_cluster)


@pytest.mark.timeout(90)
async def test_fault_server_process_killed_clients_continue_on_the_other(
    hubs_on_cluster: Cluster,
) -> None:
    await faults.test_fault_server_process_killed_clients_continue_on_the_other(hubs_on_cluster)


@pytest.mark.timeout(60)
async def test_fault_two_processes_race_to_close_exactly_one_wins(
    hubs_on_cluster: Cluster,
) -> None:
    await faults.test_fault_two_processes_race_to_close_exactly_one_wins(hubs_on_cluster)


@pytest.mark.timeout(300)
async def test_concurrent_routing_and_delivery_invariants(cluster_redis_url: str) -> None:
    await invariants.test_concurrent_routing_and_delivery_invariants(cluster_redis_url)
