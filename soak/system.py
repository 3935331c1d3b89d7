"""The system under test, all on 127.0.0.1: PostgreSQL, Valkey (append-only file), N hubs
(``chatserver serve`` with BACKGROUND_JOBS=false), one worker (``chatserver worker``:
timers, sweeper, records writer) and the client-side proxies.

PostgreSQL is a private cluster (Debian's binaries, run as the ``postgres`` user when the
soak runs as root) so that the injector can really stop it; without the binaries, a
fresh database on the shared server at TEST_PG_URL behind a TCP proxy, "stopped" by
cutting the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from bench.procs import Hub, Proc, ValkeyProc, free_port, hub_env
from soak.config import HUB_SETTINGS, SoakConfig
from soak.proxy import HubProxy
from tests.records.tcp_proxy import TcpProxy


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """A PostgreSQL cluster of the soak's own, on a free port; stop() really stops it."""

    kind = "private"

    def __init__(self) -> None:
        bindir = _pg_bin()
        if bindir is None:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql")
        self.bin = bindir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="lc-soak-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.user: str | None = None
        if os.geteuid() == 0:  # initdb and pg_ctl refuse to run as root
            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self.up = False

    def _run(self, *argv: str, timeout: float = 120) -> None:
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stdout}{done.stderr}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "soak")

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c max_connections=200 -c shared_buffers=32MB")
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.log),
                  "-w", "-t", "60", "start")
        self.up = True

    def stop(self, mode: str = "fast") -> None:
        self.up = False
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/soak"

    def pids(self) -> list[int]:
        """The postmaster and its children (backends, background workers)."""
        try:
            first = (self.data / "postmaster.pid").read_text().split()[0]
            master = psutil.Process(int(first))
            return [master.pid, *(c.pid for c in master.children(recursive=True))]
        except (OSError, ValueError, IndexError, psutil.Error):
            return []

    def destroy(self) -> None:
        if self.up:
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class ProxiedPostgres:
    """A fresh database on the shared server, reached through a proxy the injector cuts."""

    kind = "proxy"

    def __init__(self) -> None:
        from tests.harness import PG_ADMIN_URL

        host_port = PG_ADMIN_URL.split("@", 1)[-1].split("/", 1)[0]
        host, _, port = host_port.partition(":")
        self.proxy = TcpProxy(host, int(port or 5432))
        self.db_url = ""
        self.up = True

    async def ainit(self) -> None:
        from tests.harness import create_pg_database

        self.db_url = await create_pg_database()
        await self.proxy.start()

    @property
    def url(self) -> str:
        rest = self.db_url.split("@", 1)[1]
        user = self.db_url.split("//", 1)[1].split("@", 1)[0]
        name = rest.rsplit("/", 1)[1]
        return f"postgresql://{user}@127.0.0.1:{self.proxy.port}/{name}"

    def pids(self) -> list[int]:
        return []  # the shared server is not ours to measure

    async def adestroy(self) -> None:
        from tests.harness import drop_pg_database

        await self.proxy.stop()
        if self.db_url:
            with contextlib.suppress(Exception):
                await drop_pg_database(self.db_url)


class SoakHub(Hub):
    """A hub that can be killed and started again (its log file is reopened)."""

    def start(self) -> None:
        if hasattr(self, "_log"):
            self._log.close()
        super().start()

    def kill(self) -> None:
        super().kill()
        if hasattr(self, "_log"):
            self._log.close()


class Worker(Proc):
    def start(self) -> None:
        if hasattr(self, "_log"):
            self._log.close()
        mark = self.log_path.stat().st_size if self.log_path.exists() else 0
        super().start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"worker exited: {self.output()}")
            with self.log_path.open("rb") as fh:
                fh.seek(mark)
                if b"worker running" in fh.read():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"worker did not start: {self.output()}")

    def kill(self) -> None:
        super().kill()
        if hasattr(self, "_log"):
            self._log.close()


class System:
    def __init__(self, cfg: SoakConfig) -> None:
        self.cfg = cfg
        self.workdir = Path(tempfile.mkdtemp(prefix="lc-soak-"))
        self.prefix = "s" + secrets.token_hex(4)
        self.secret = secrets.token_urlsafe(32)
        self.valkey = ValkeyProc(self.workdir)
        self.db: PrivatePostgres | ProxiedPostgres
        self.hubs: list[SoakHub] = []
        self.worker: Worker | None = None
        self.up: set[int] = set()
        """Indexes of the hubs the proxies send new connections to."""
        self.proxies: list[HubProxy] = []

    def _env(self, port: int, **extra: str) -> dict[str, str]:
        env = hub_env(self.valkey.url, self.prefix, self.secret, port, self.workdir,
                      **{k.lower(): v for k, v in HUB_SETTINGS.items()}, **extra)
        env["DATABASE_URL"] = self.db.url
        env.pop("TEST_TIMEOUT_FACTOR", None)
        return env

    def hub_ports(self) -> list[int]:
        return [h.port for i, h in enumerate(self.hubs) if i in self.up]

    async def start(self) -> None:
        choice = self.cfg.database
        if choice == "auto":
            choice = "private" if _pg_bin() is not None else "proxy"
        if choice == "private":
            self.db = PrivatePostgres()
            await asyncio.to_thread(self.db.init)
        else:
            self.db = ProxiedPostgres()
            await self.db.ainit()
        await asyncio.to_thread(self.valkey.start)
        for i in range(self.cfg.hubs):
            env = self._env(free_port(), background_jobs="false")
            self.hubs.append(SoakHub(f"hub{i}", env, self.workdir))
        # the first hub migrates the records schema; the others start together
        await asyncio.to_thread(self.hubs[0].start)
        await asyncio.gather(*(asyncio.to_thread(h.start) for h in self.hubs[1:]))
        self.up = set(range(len(self.hubs)))
        env = self._env(free_port(), background_jobs="true")
        self.worker = Worker("worker", [sys.executable, "-m", "chatserver", "worker"], env,
                             self.workdir)
        await asyncio.to_thread(self.worker.start)
        for name in ("proxy-a", "proxy-b"):
            proxy = HubProxy(name, self.hub_ports)
            await proxy.start()
            self.proxies.append(proxy)

    @property
    def urls(self) -> list[str]:
        """The hubs' own addresses (admin calls; clients go through the proxies)."""
        return [h.url for h in self.hubs]

    @property
    def client_urls(self) -> list[str]:
        return [p.url for p in self.proxies]

    def processes(self) -> dict[str, list[int]]:
        """Every process of the system by name (PostgreSQL: postmaster and children)."""
        out: dict[str, list[int]] = {}
        for h in self.hubs:
            if h.alive():
                out[h.name] = [h.pid]
        if self.worker is not None and self.worker.alive():
            out["worker"] = [self.worker.pid]
        with contextlib.suppress(Exception):
            out["valkey"] = [self.valkey.pid]
        pg = self.db.pids()
        if pg:
            out["postgres"] = pg
        return out

    def rss_mib(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, pids in self.processes().items():
            total = 0
            for pid in pids:
                with contextlib.suppress(psutil.Error):
                    total += psutil.Process(pid).memory_info().rss
            out[name] = round(total / 2**20, 1)
        return out

    def log_problems(self) -> dict[str, int]:
        """Errors and tracebacks the hubs and the worker logged, counted by first line."""
        counts: dict[str, int] = {}
        for p in [*self.hubs, *([self.worker] if self.worker else [])]:
            try:
                lines = p.log_path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                for level in (" ERROR ", "ERROR:", "Traceback"):
                    if level in line:
                        msg = line.split(level, 1)[1].strip()[:100] if level != "Traceback" else ""
                        msg = " ".join(w if not any(ch.isdigit() for ch in w) else "#"
                                       for w in msg.split())
                        key = f"{p.name}: {level.strip(' :')} {msg}".strip()
                        counts[key] = counts.get(key, 0) + 1
                        break
        return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:30])

    async def stop(self) -> None:
        for proxy in self.proxies:
            with contextlib.suppress(Exception):
                await proxy.stop()
        stoppers: list[Any] = [*self.hubs, *([self.worker] if self.worker else [])]
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in stoppers),
                             return_exceptions=True)
        await asyncio.to_thread(self.valkey.stop)
        if isinstance(self.db, PrivatePostgres):
            await asyncio.to_thread(self.db.destroy)
        elif isinstance(self.db, ProxiedPostgres):
            await self.db.adestroy()
        if self.cfg.keep:
            dest = self.cfg.out / "logs"
            dest.mkdir(parents=True, exist_ok=True)
            for log in self.workdir.glob("*.log"):
                shutil.copy(log, dest / log.name)
        shutil.rmtree(self.workdir, ignore_errors=True)
