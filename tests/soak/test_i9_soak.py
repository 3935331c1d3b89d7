"""The fault soak (issue 9, "A fault soak"), short version: 60 s of faults under load
(``python -m soak`` with SOAK_S=60 and a smaller population), run as a separate process
exactly as ``make soak`` runs it.  It must report no violation; its report is printed
when it does."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from chatserver.client import ChatClient
from soak.system import _pg_bin
from tests.harness import Cluster, Valkey, close_quietly, postgres_available, scaled

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(1200)
def test_i9_soak_short_run_finds_no_violation() -> None:
    if _pg_bin() is None and not postgres_available():
        pytest.skip("the soak needs PostgreSQL: Debian's binaries or a server at TEST_PG_URL")
    out = Path(tempfile.mkdtemp(prefix="lc-soak-report-"))
    env = {
        **os.environ,
        "SOAK_S": os.environ.get("SOAK_S", "60"),
        "SOAK_VISITORS": os.environ.get("SOAK_VISITORS", "60"),
        "SOAK_AGENTS": os.environ.get("SOAK_AGENTS", "10"),
        "SOAK_WARMUP_S": "10",
        "SOAK_SEED": os.environ.get("SOAK_SEED", "20261202"),
        "SOAK_OUT": str(out),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "soak"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=1100,
    )
    reports = list(out.glob("soak-*.json"))
    assert reports, f"no report written:\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
    report = json.loads(reports[0].read_text())
    summary = done.stdout[-8000:]
    assert report["violation_count"] == 0, summary
    assert done.returncode == 0, summary + done.stderr[-3000:]
    # the run did what it claims: every kind of fault, chats, messages, records
    assert all(n >= 1 for n in report["faults"]["by_kind"].values()), summary
    assert report["chats"]["started"] >= 30, summary
    assert report["messages"]["acknowledged"] >= 100, summary
    assert report["chats"]["records"] == report["chats"]["finished_chats"], summary


@pytest.mark.timeout(120)
async def test_i9_soak_message_published_while_pubsub_reconnects_is_delivered() -> None:
    """Found by the soak: after a Valkey restart, redis-py reconnects a hub's pub/sub
    connection by itself, so the fan-out never ran its catch-up, and a message published
    before the hub subscribed again reached none of its followers (the visitor lacked the
    last message of their chat).  Here the visitor's hub is paused across the restart
    while the agent writes; the message must still arrive."""
    valkey = Valkey()
    valkey.start()
    cluster = Cluster(valkey.url, n=2)
    clients: list[ChatClient] = []
    try:
        await cluster.start()
        agent = await cluster.agent(await cluster.add_agent("alice"), server=0)
        visitor = await cluster.visitor(server=1)
        clients += [agent, visitor]
        chat = await visitor.start()
        offer = await agent.wait_for(lambda f: f["type"] == "offer", scaled(10))
        await agent.request({"type": "accept", "chat": offer["chat"]["id"]})
        await agent.say(chat["id"], "before")
        await visitor.wait_messages(chat["id"], 1, scaled(10))
        hub = cluster.servers[1].proc
        assert hub is not None
        os.kill(hub.pid, signal.SIGSTOP)
        try:
            await asyncio.to_thread(valkey.restart)
            # the agent's hub posts once Redis is back (its client retries the restart)
            await agent.say(chat["id"], "after the restart", timeout=scaled(20))
        finally:
            os.kill(hub.pid, signal.SIGCONT)
        try:
            got = await visitor.wait_messages(chat["id"], 2, scaled(15))
        except TimeoutError:
            got = visitor.messages.get(chat["id"], [])
        assert [m["text"] for m in got] == ["before", "after the restart"], (
            cluster.servers[1].output()[-3000:]
        )
    finally:
        await close_quietly(clients)
        cluster.stop()
        valkey.stop()


def test_i9_soak_memory_audit_holds_each_process_to_its_bound() -> None:
    """The memory audit: a hub is held to the largest hub after warm-up (a restarted hub
    starts small), every other process to its own size; within factor x size + slack."""
    from soak.audit import memory

    warm = {"hub0": 80.0, "hub1": 90.0, "valkey": 10.0}
    table, problems = memory(warm, {"hub0": 190.0, "hub1": 200.0, "valkey": 40.0}, 1.5, 64)
    assert table["hub0"]["bound_mib"] == 199.0
    assert problems == ["hub1 uses 200.0 MiB at the end, bound 199.0 MiB (1.5 x 90.0 + 64)"]
    _, problems = memory(warm, {"valkey": 80.0}, 1.5, 64)
    assert problems == ["valkey uses 80.0 MiB at the end, bound 79.0 MiB (1.5 x 10.0 + 64)"]
