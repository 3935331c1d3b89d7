"""Operating the product: the embedded default, the command line, health, the worker."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from chatserver.client import ChatClient, http
from tests.harness import FAST_SETTINGS, Cluster, Server, Valkey, scaled


def _cli(env: dict[str, str], *args: str, inherit: bool = True) -> object:
    """Runs the CLI with ``env`` over this process's environment, or with ``env`` alone."""
    out = subprocess.run(
        [sys.executable, "-m", "chatserver", *args], env={**os.environ, **env} if inherit else env,
        capture_output=True, text=True, timeout=60, check=True,
    )
    return json.loads(out.stdout)


@pytest.mark.timeout(60)
def test_embedded_default_starts_and_stops_valkey_with_no_configuration() -> None:
    data = Path(tempfile.mkdtemp(prefix="lc-embedded-"))
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TEST_REDIS_URL")}
    env.update(FAST_SETTINGS)
    server = Server("", env, data)
    server.env.pop("REDIS_URL", None)
    server.start()
    try:
        with urllib.request.urlopen(server.url + "/healthz", timeout=5) as resp:
            assert json.loads(resp.read())["redis"] is True
        info = json.loads((data / "valkey.json").read_text())
        # an admin command joins the same embedded server
        agents = _cli({**env, "DATA_DIR": str(data)}, "agents", "list", inherit=False)
        assert [a["id"] for a in agents] == ["admin"]  # type: ignore[union-attr]
    finally:
        server.stop()
    assert (data / "valkey" / "appendonlydir").is_dir()  # append-only file is on
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", info["port"]), 1):
        pass  # the embedded server stopped with the process that started it


@pytest.mark.timeout(60)
def test_cli_manages_agents_topics_and_skills(redis_url: str) -> None:
    env = {"REDIS_URL": redis_url, "KEY_PREFIX": "cli" + os.urandom(3).hex(),
           **FAST_SETTINGS}
    added = _cli(env, "agents", "add", "carol", "--password", "carol-password",
                 "--capacity", "4", "--skill", "billing:7", "--skill", "tech")
    assert added == {"id": "carol", "name": "carol", "role": "agent", "capacity": 4,
                     "skills": {"billing": 7, "tech": 0}, "status": "offline",
                     "disabled": False}
    changed = _cli(env, "agents", "set", "carol", "--capacity", "6", "--role", "supervisor")
    assert changed["capacity"] == 6 and changed["role"] == "supervisor"  # type: ignore[index]
    assert _cli(env, "agents", "disable", "carol")["disabled"] is True  # type: ignore[index]
    assert _cli(env, "agents", "enable", "carol")["disabled"] is False  # type: ignore[index]
    topic = _cli(env, "topics", "set", "billing", "--required", "billing:5",
                 "--optional", "spanish", "--priority", "7")
    assert topic == {"name": "billing", "required": {"billing": 5},
                     "optional": {"spanish": 0}, "priority": 7, "labels": {}}
    names = [t["name"] for t in _cli(env, "topics", "list")]  # type: ignore[attr-defined]
    assert sorted(names) == ["billing", "general"]
    assert _cli(env, "skills") == {"billing": ["carol:7"], "tech": ["carol"]}
    bad = subprocess.run(
        [sys.executable, "-m", "chatserver", "agents", "add", "x", "--password", "short"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )
    assert bad.returncode != 0 and "8 characters" in bad.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "chatserver", "agents", "list"],
        env={**os.environ, **env, "OFFER_TIMEOUT_S": "soon"}, capture_output=True, text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "OFFER_TIMEOUT_S" in bad.stderr


@pytest.mark.timeout(60)
async def test_healthz_is_503_while_redis_is_down() -> None:
    valkey = Valkey()
    valkey.start()
    cluster = Cluster(valkey.url, n=1)
    try:
        await cluster.start()
        assert (await http("GET", cluster.urls[0] + "/healthz"))[0] == 200
        await asyncio.to_thread(valkey.stop)
        status, body = await http("GET", cluster.urls[0] + "/healthz")
        assert status == 503 and body["redis"] is False
        await asyncio.to_thread(valkey.start)
        for _ in range(100):
            if (await http("GET", cluster.urls[0] + "/healthz"))[0] == 200:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("health did not come back")
    finally:
        cluster.stop()
        valkey.stop()


@pytest.mark.timeout(60)
async def test_worker_runs_the_timers_when_web_processes_do_not(redis_url: str) -> None:
    cluster = Cluster(redis_url, n=1, background_jobs="false", offer_timeout_s="1")
    await cluster.start()
    worker = None
    clients: list[ChatClient] = []
    try:
        alice = await cluster.agent(await cluster.add_agent("alice"))
        bob_token = await cluster.add_agent("bob")
        visitor = await cluster.visitor()
        clients += [alice, visitor]
        chat = await visitor.start()
        await alice.wait_for(lambda f: f["type"] == "offer", scaled(10))
        await asyncio.sleep(1.5)
        # no timers run: the offer has not lapsed
        assert not any(f["type"] == "revoked" for f in alice.frames)
        env = {**cluster.env, "REDIS_URL": redis_url, "DATA_DIR": str(cluster.data_dir)}
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chatserver", "worker", env={**os.environ, **env},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        revoked = await alice.wait_for(lambda f: f["type"] == "revoked", scaled(15))
        assert revoked["chat"] == chat["id"] and revoked["reason"] == "lapse"
        bob = await cluster.agent(bob_token)
        clients.append(bob)
        offer = await bob.wait_for(lambda f: f["type"] == "offer", scaled(10))
        assert offer["chat"]["id"] == chat["id"]
    finally:
        for c in clients:
            await c.close()
        if worker is not None:
            worker.terminate()
            await worker.wait()
        cluster.stop()


