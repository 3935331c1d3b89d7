"""Issue 14, operations: the Prometheus endpoint, readiness through a real load balancer,
structured logs, the start-up output and the command line's help.

Real `chatserver serve` processes, a real Redis, real sockets; the load balancer is a small
TCP proxy in this file that sends each new connection only to a backend whose ``/readyz``
answers 200, as a real one following a readiness check does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chatserver.client import ChatClient, ClientError, Refused, http, login
from tests.harness import Cluster, Valkey, active_chat, free_port, running, scaled

ROOT = Path(__file__).resolve().parent.parent


# ---- helpers --------------------------------------------------------------------------------
def _get(url: str, headers: dict[str, str] | None = None,
         timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


async def get(url: str, headers: dict[str, str] | None = None,
              timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(_get, url, headers, timeout)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(base: str, headers: dict[str, str] | None = None) -> Samples:
    status, head, body = await get(base + "/metrics", headers)
    assert status == 200, body
    assert head["content-type"].startswith("text/plain; version=0.0.4")
    out: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def eventually(check: Any, seconds: float = 10) -> None:
    """Wait until ``check()`` (a coroutine function) returns true."""
    deadline = asyncio.get_running_loop().time() + scaled(seconds)
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.05)


# ---- 1. Prometheus -------------------------------------------------------------------------
@pytest.mark.timeout(90)
async def test_metrics_count_what_the_process_did(redis_url: str) -> None:
    async with running(redis_url, n=1) as cluster:
        base = cluster.urls[0]
        await cluster.set_topic("nobody", required={"klingon": 5})
        token = await cluster.add_agent("ann", capacity=2)
        agent = await cluster.agent(token)
        visitor = await cluster.visitor()
        waiting = await cluster.visitor()
        try:
            chat_id = await active_chat(agent, visitor)
            await visitor.say(chat_id, "hello")
            await agent.say(chat_id, "hi, how can I help?")
            with pytest.raises(ClientError):  # a refused frame: an error code
                await visitor.request({"type": "resume", "chat": "c-nope", "after": 0})
            await visitor.send_raw(b"\xc1 not msgpack")  # an invalid frame
            await visitor.wait_for(lambda f: f["type"] == "error" and f["code"] == "bad_frame")
            await waiting.start(topic="nobody")  # nobody can take it: it stays queued

            samples = await scrape(base)
            assert value(samples, "chat_connections", role="agent") == 1
            assert value(samples, "chat_connections", role="visitor") == 2
            assert value(samples, "chat_frames_received_total", type="start") == 2
            assert value(samples, "chat_frames_received_total", type="accept") == 1
            assert value(samples, "chat_frames_received_total", type="invalid") == 1
            assert value(samples, "chat_frames_sent_total", type="welcome") == 3
            assert value(samples, "chat_frames_sent_total", type="offer") == 1
            assert value(samples, "chat_frames_sent_total", type="msg") >= 2
            assert value(samples, "chat_messages_posted_total", role="visitor") == 1
            assert value(samples, "chat_messages_posted_total", role="agent") == 1
            assert value(samples, "chat_errors_total", code="bad_frame") == 1
            assert value(samples, "chat_errors_total", code="not_found") + value(
                samples, "chat_errors_total", code="forbidden") == 1
            assert value(samples, "chat_routing_assignments_total") == 1
            assert value(samples, "chat_offer_outcomes_total", outcome="accepted") == 1
            assert value(samples, "chat_drain_seconds_count") >= 1
            assert value(samples, "chat_start_to_offer_seconds_count") == 1
            assert value(samples, "chat_redis_seconds_count", step="post") == 2
            assert value(samples, "chat_redis_seconds_count", step="drain_commit") >= 1
            assert value(samples, "chat_queue_depth", topic="nobody") == 1
            assert value(samples, "chat_queue_depth", topic="general") == 0
            assert ("chat_queue_oldest_wait_seconds", (("topic", "nobody"),)) in samples
            assert ("chat_records_outbox_length", ()) in samples
            assert value(samples, "chat_redis_up") == 1
            assert value(samples, "chat_draining") == 0
            assert value(samples, "process_resident_memory_bytes") > 0
            # the multiplexed Redis connections: commands went out, batched into writes
            for client in ("actions", "drain", "background"):
                sent = value(samples, "chat_redis_commands", client=client)
                writes = value(samples, "chat_redis_writes", client=client)
                # the heartbeat and timers may not have run yet: only the others must have
                assert sent >= writes and (writes > 0 or client == "background")
                assert ("chat_redis_inflight_commands", (("client", client),)) in samples
                assert value(samples, "chat_redis_refused", client=client) == 0

            # the sample dashboard names only figures that exist
            exposed = {name for name, _ in samples}
            dashboard = (ROOT / "docs" / "grafana-dashboard.json").read_text()
            named = set(re.findall(r"\b((?:chat|process)_[a-z_]+)", dashboard))
            assert named and named <= exposed, named - exposed

            # the chat ends: its record waits in the outbox, or is written already
            await agent.request({"type": "close", "chat": chat_id})
            after = await scrape(base)
            assert value(after, "chat_records_outbox_length") in (0, 1)
        finally:
            for c in (agent, visitor, waiting):
                await c.close()
        # the sockets closed: the gauge follows
        async def none_left() -> bool:
            now = await scrape(base)
            return value(now, "chat_connections", role="visitor") == 0 and value(
                now, "chat_connections", role="agent") == 0
        await eventually(none_left)


@pytest.mark.timeout(60)
async def test_metrics_access_needs_the_token_or_a_direct_loopback_request(
    redis_url: str,
) -> None:
    async with running(redis_url, n=2, metrics_token="s3cret-scrape-token") as cluster:
        loopback, token_only = cluster.urls[0], cluster.urls[1]
        assert (await get(loopback + "/metrics"))[0] == 200  # default: loopback may read
        # through a proxy the address is whatever the client claimed: the token is needed
        proxied = {"X-Forwarded-For": "127.0.0.1"}
        assert (await get(loopback + "/metrics", proxied))[0] == 403
        bearer = {"Authorization": "Bearer s3cret-scrape-token"}
        assert (await get(loopback + "/metrics", {**proxied, **bearer}))[0] == 200
        assert (await get(loopback + "/metrics", {"Authorization": "Bearer wrong"}))[0] == 200
    async with running(redis_url, n=1, metrics_token="s3cret-scrape-token",
                       metrics_addresses="") as cluster:
        base = cluster.urls[0]
        status, _, body = await get(base + "/metrics")
        assert status == 403 and json.loads(body)["error"] == "forbidden"
        assert (await get(base + "/metrics", {"Authorization": "Bearer wrong"}))[0] == 403
        assert (await get(base + "/metrics", bearer))[0] == 200
    del token_only


@pytest.mark.timeout(90)
async def test_the_worker_exposes_its_own_figures(redis_url: str) -> None:
    """Web processes without background jobs; the worker's timers make the offer lapse,
    and the worker's own endpoint (WORKER_METRICS_PORT) counts it."""
    port = free_port()
    async with running(redis_url, n=1, background_jobs="false", offer_timeout_s="1") as cluster:
        token = await cluster.add_agent("ann")
        agent = await cluster.agent(token)
        visitor = await cluster.visitor()
        env = {**os.environ, **cluster.env, "REDIS_URL": redis_url,
               "DATA_DIR": str(cluster.data_dir), "WORKER_METRICS_PORT": str(port)}
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chatserver", "worker", env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            await visitor.start()
            await agent.wait_for(lambda f: f["type"] == "revoked", scaled(20))

            async def counted() -> bool:
                try:
                    samples = await scrape(f"http://127.0.0.1:{port}")
                except OSError:
                    return False  # not listening yet
                return value(samples, "chat_offer_outcomes_total", outcome="lapsed") >= 1
            await eventually(counted, 20)
            samples = await scrape(f"http://127.0.0.1:{port}")
            assert value(samples, "process_resident_memory_bytes") > 0
            assert ("chat_crm_deliveries_total", (("result", "failed"),)) in samples
            web = await scrape(cluster.urls[0])  # the web process did not time it out
            assert value(web, "chat_offer_outcomes_total", outcome="lapsed") == 0
            assert value(web, "chat_routing_assignments_total") == 1
        finally:
            worker.terminate()
            await worker.wait()
            await agent.close()
            await visitor.close()


@pytest.mark.timeout(90)
async def test_metrics_readyz_and_healthz_answer_while_redis_is_down() -> None:
    valkey = Valkey(appendonly=False)
    valkey.start()
    cluster = Cluster(valkey.url, n=1, metrics_timeout_s="0.5", readiness_timeout_s="0.5")
    try:
        await cluster.start()
        base = cluster.urls[0]
        assert (await get(base + "/readyz"))[0] == 200
        assert value(await scrape(base), "chat_redis_up") == 1
        await asyncio.to_thread(valkey.stop)
        # each answers within its deadline setting: a client that gives up after 3 s
        # (well above the 0.5 s deadlines) still gets the answer
        status, _, body = await get(base + "/readyz", timeout=scaled(3))
        assert status == 503 and json.loads(body)["status"] == "unavailable"
        status, _, body = await get(base + "/healthz", timeout=scaled(3))
        assert status == 503 and json.loads(body)["redis"] is False
        status, _, body = await get(base + "/metrics", timeout=scaled(3))
        assert status == 200
        text = body.decode()
        assert "chat_redis_up 0.0" in text and 'chat_queue_depth{' not in text
    finally:
        cluster.stop()
        valkey.stop()


# ---- 2. readiness through a load balancer --------------------------------------------------
class ReadyProxy:
    """A TCP load balancer: each new connection goes to the next backend whose ``/readyz``
    answered 200 at the last check (every 50 ms); it never retries elsewhere, so a
    connection sent to a backend that no longer accepts is refused, as with a real one."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.ready = [False] * len(backends)
        self.routed: list[int] = []
        """The backend of each accepted connection, in order."""
        self.refused = 0
        self.first_not_ready: dict[int, int] = {}
        """Backend -> how many connections had been routed when it was first seen not
        ready after being ready."""
        self.port = 0
        self._next = 0
        self._server: asyncio.Server | None = None
        self._checker: asyncio.Task[None] | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self.was_ready = [False] * len(backends)
        self.not_ready_status: dict[int, int] = {}
        """Backend -> the /readyz status when it was first seen not ready (0: no answer)."""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._checker = asyncio.create_task(self._check_loop())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        assert self._server is not None and self._checker is not None
        self._checker.cancel()
        self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(self._checker, *self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    async def _check_loop(self) -> None:
        while True:
            for i, port in enumerate(self.backends):
                status = await self._readyz(port)
                ok = status == 200
                if self.was_ready[i] and not ok and i not in self.first_not_ready:
                    self.first_not_ready[i] = len(self.routed)
                    self.not_ready_status[i] = status
                self.was_ready[i] |= ok
                self.ready[i] = ok
            await asyncio.sleep(0.05)

    async def _readyz(self, port: int) -> int:
        """The status of ``GET /readyz`` (0: no answer)."""
        try:
            async with asyncio.timeout(1):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                try:
                    writer.write(b"GET /readyz HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
                    status = await reader.readline()
                finally:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
            return int(status.split()[1]) if status.startswith(b"HTTP/1.1 ") else 0
        except (OSError, TimeoutError):
            return 0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            candidates = [i for i, ok in enumerate(self.ready) if ok]
            if not candidates:
                self.refused += 1
                return
            i = candidates[self._next % len(candidates)]
            self._next += 1
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    "127.0.0.1", self.backends[i])
            except OSError:
                self.refused += 1
                return
            self.routed.append(i)
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
        finally:
            writer.close()
            self._pipes.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()


@pytest.mark.timeout(120)
async def test_sigterm_fails_readyz_first_so_the_balancer_sends_new_clients_elsewhere(
    redis_url: str,
) -> None:
    cluster = Cluster(redis_url, n=2, shutdown_drain_s=str(scaled(3)))
    await cluster.start()
    proxy = ReadyProxy([s.port for s in cluster.servers])
    await proxy.start()
    clients: list[ChatClient] = []
    try:
        async def both_ready() -> bool:
            return all(proxy.ready)
        await eventually(both_ready)
        for _ in range(4):  # spread over both processes
            clients.append(await ChatClient.visitor(proxy.url, reconnect=True))
        assert set(proxy.routed) == {0, 1}
        old = [c for c, backend in zip(clients, proxy.routed, strict=True) if backend == 0]

        leaving = cluster.servers[0].proc
        assert leaving is not None
        leaving.send_signal(signal.SIGTERM)
        # new clients keep coming while the process shuts down, and after it is gone
        moved_early = after_exit = 0
        while after_exit < 5:
            alive = leaving.poll() is None
            told = 0 in proxy.first_not_ready
            clients.append(await ChatClient.visitor(proxy.url))  # refused: raises
            if alive and told:
                moved_early += 1  # sent elsewhere while the process still ran
            after_exit += not alive
            await asyncio.sleep(0.05)
        assert leaving.wait(scaled(15)) == -signal.SIGTERM

        assert proxy.refused == 0
        assert 0 in proxy.first_not_ready, "the balancer never saw /readyz fail"
        # /readyz answered 503 (the process still answered HTTP), and new clients were
        # sent to the other process while this one still ran: it drained before closing
        assert proxy.not_ready_status[0] == 503
        assert moved_early >= 3
        # from the first failed check on, every new connection went to the other process
        cut = proxy.first_not_ready[0]
        assert set(proxy.routed[cut:]) == {1}
        # the clients it had were told to go (1001) and came back through the balancer
        for c in old:
            async def back(c: ChatClient = c) -> bool:
                return c.connects >= 2 and c.connected.is_set()
            await eventually(back, 20)
    finally:
        for c in clients:
            with contextlib.suppress(Exception):
                await c.close()
        await proxy.stop()
        cluster.stop()


# ---- 3. logs and the start-up output -------------------------------------------------------
@pytest.mark.timeout(90)
async def test_json_logs_one_line_per_event_with_request_ids_and_no_tracebacks(
    redis_url: str,
) -> None:
    cluster = Cluster(redis_url, n=1, log_format="json")
    await cluster.start()
    server = cluster.servers[0]
    try:
        base = server.url
        # expected conditions: bad frames, bad JSON, a client gone mid-body or mid-socket
        visitor = await cluster.visitor()
        await visitor.send_raw(b"\xc1 not msgpack")
        await visitor.wait_for(lambda f: f["type"] == "error")
        await visitor.drop()
        status, _ = await http("POST", base + "/api/login", {"id": 5})
        assert status == 400
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /api/login HTTP/1.1\r\nHost: x\r\nX-Request-Id: req-gone-1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\"")
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        reader2, writer2 = await asyncio.open_connection("127.0.0.1", server.port)
        writer2.write(b"GET /ws/visitor HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        writer2.close()  # gone in the middle of its handshake

        async def logged() -> bool:
            return "req-gone-1" in server.output()
        await eventually(logged)
        status, head, _ = await get(base + "/healthz", {"X-Request-Id": "req-echo-2"})
        assert status == 200 and head["x-request-id"] == "req-echo-2"
    finally:
        cluster.stop()
    lines = [line for line in server.output().splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line is one JSON event
    assert all({"ts", "level", "logger", "msg"} <= e.keys() for e in events)
    gone = [e for e in events if e.get("request") == "req-gone-1"]
    assert gone and "disconnected" in gone[0]["msg"] and gone[0]["level"] == "info"
    assert not [e for e in events if "exc" in e], [e for e in events if "exc" in e]
    assert "Traceback" not in server.output()
    started = [e for e in events if e.get("console")]
    assert started and started[0]["demo"].endswith("/demo/")
    del reader, reader2


@pytest.mark.timeout(90)
async def test_a_redis_outage_is_logged_in_single_lines_and_sockets_get_503() -> None:
    valkey = Valkey()
    valkey.start()
    cluster = Cluster(valkey.url, n=1)
    try:
        await cluster.start()
        token = await cluster.add_agent("ann")
        agent = await cluster.agent(token)
        visitor = await cluster.visitor()
        await asyncio.to_thread(valkey.stop)
        await agent.drop()
        await visitor.drop()
        for _ in range(2):
            # refused with 503 + Retry-After (come back later), not a 500
            with pytest.raises(Refused) as refused:
                await ChatClient.visitor(cluster.urls[0])
            assert refused.value.status == 503
            with pytest.raises(Refused) as refused:
                await ChatClient.agent(cluster.urls[0], token)
            assert refused.value.status == 503
            status, body = await http("GET", cluster.urls[0] + "/api/agents",
                                      token=cluster.admin_token)
            assert status == 503, body
        await asyncio.to_thread(valkey.start)
        back = await ChatClient.agent(cluster.urls[0], token)  # the same agent, once back
        await back.close()
    finally:
        cluster.stop()
        valkey.stop()
    out = cluster.servers[0].output()
    assert "storage unavailable" in out
    assert "Traceback" not in out, out[-3000:]
    assert "ERROR" not in out, [line for line in out.splitlines() if "ERROR" in line]


@pytest.mark.timeout(90)
async def test_start_up_output_is_short_and_ends_with_urls_and_the_admin_password(
    redis_url: str,
) -> None:
    cluster = Cluster(redis_url, n=1, shutdown_drain_s="0")
    server = cluster.servers[0]
    server.env.pop("ADMIN_PASSWORD")  # the first start makes one and prints it
    try:
        await asyncio.to_thread(server.start)

        async def announced() -> bool:
            return "admin password:" in server.output()
        await eventually(announced)
    finally:
        cluster.stop()
    lines = server.output().splitlines()
    assert len(lines) == 4, lines  # nothing but the announcement (Alembic is at debug)
    assert lines[0] == f"chatserver serving on http://localhost:{server.port}"
    assert lines[1].split() == ["demo", "shop:", f"http://localhost:{server.port}/demo/"]
    assert lines[2].split()[:3] == ["agent", "console:",
                                    f"http://localhost:{server.port}/console/"]
    password = lines[3].split("admin password:")[1].strip()
    server.start()  # the same database and Redis: the printed password logs in
    try:
        assert await login(server.url, "admin", password)
    finally:
        server.stop()


def test_pyproject_license_is_an_spdx_expression_with_its_file() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    for name in project["license-files"]:
        assert (ROOT / name).is_file()
    assert "Apache License" in (ROOT / "LICENSE").read_text()


@pytest.mark.parametrize("bad", [{"LOG_FORMAT": "xml"}, {"LOG_LEVEL": "loud"}])
def test_bad_log_settings_are_refused(bad: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "chatserver", "agents", "list"],
                          env={**os.environ, **bad}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0 and next(iter(bad)) in done.stderr


# ---- 4. the command line's help ------------------------------------------------------------
def _help(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "chatserver", *args, "--help"],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def _commands() -> Iterator[str]:
    yield from ("serve", "worker", "agents", "topics", "skills")


def test_help_is_plain_text_and_every_command_has_its_own() -> None:
    top = _help()
    pages = {name: _help(name) for name in _commands()}
    for text in [top, *pages.values()]:
        for markup in ("``", "::", ":func:", ":class:", "\\n"):
            assert markup not in text, (markup, text)
        assert "docs/configuration.md" in text
    for name in _commands():
        assert name in top
        assert pages[name].startswith(f"usage: chatserver {name}")
    descriptions = {name: page.split("\n\n")[1] for name, page in pages.items()}
    assert len(set(descriptions.values())) == len(descriptions)  # each its own
